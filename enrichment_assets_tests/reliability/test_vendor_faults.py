"""Vendor faults: 500s, malformed 200 bodies, hung requests and tight rate limits, then a clean rerun.

README, "What happens when things go wrong": 429 honours Retry-After (header or body); a 5xx, a
timeout after sending or a malformed 200 is a request whose outcome is unknown: booked ``unknown``
at its worst case and asked again at once only where a repeat cannot bill twice (Enrich Layer's
5xx are documented free, Lantern de-duplicates by record_id), else by the rerun. The ledger stays
exact whatever the vendors do (this sandbox charges none of these faults). The pipeline runs in this process
(``support/pipeline.py``).
"""

from __future__ import annotations

from pathlib import Path

from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.accounting import account_by_fingerprint
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.sandbox import fast_sandbox_config
from enrichment_assets_tests.support.tables import ledger_by_provider, query

LEADS = 40
FAULTS = {"error_rate": 0.05, "malformed_rate": 0.02, "hang_rate": 0.02, "hang_seconds": 2.0}
NO_FAULTS = {"error_rate": 0.0, "malformed_rate": 0.0, "hang_rate": 0.0}


def _assert_ledger_matches_sandbox(db: str, sandbox) -> dict:
    stats = sandbox.stats()["vendors"]
    booked = ledger_by_provider(db)
    for provider in PROVIDERS:
        assert booked[provider]["credits"] == stats[provider]["credits_charged"], (provider, booked, stats)
        # One ledger row per HTTP request that reached the vendor (429s, 500s and timeouts included).
        assert booked[provider]["rows"] == stats[provider]["requests"], (provider, booked[provider], stats[provider])
        # Unknown: everything injected, except Enrich Layer's 5xx (documented as never billed: an error).
        injected = stats[provider]["injected"]
        unknown = injected["error"] + injected["malformed"] + injected["hang"]
        if provider == "enrichlayer":
            unknown -= injected["error"]
        assert booked[provider]["unknown"] == unknown, (provider, booked[provider], injected)
    return stats


def test_faulty_vendors_exact_ledger_then_clean_rerun(make_sandbox, make_pipeline, tmp_path: Path) -> None:
    config_overrides = {p: {"faults": FAULTS} for p in PROVIDERS}
    # Tight limits: LeadMagic allows far less than the client is configured for (429 + Retry-After header);
    # Lantern too, and it says how long to wait only in the body (retry_after).
    config_overrides["leadmagic"]["rate_limit"] = {"requests_per_second": 10, "burst": 3}
    config_overrides["lantern"].update(rate_limit={"requests_per_second": 10, "burst": 2}, retry_after_header=False)
    sandbox = make_sandbox(fast_sandbox_config(p50=0.02, p95=0.08, **config_overrides))
    # Their buckets see a request every 0.09 s (LeadMagic) or 0.08 s (Lantern) whatever this machine's speed:
    # 0.9 or 0.8 tokens back per request, so the first 429 comes after about 20 (LeadMagic, 40+ requests) or 5
    # (Lantern) requests, then one request in ten or five gets one. Counts, not timing.
    sandbox.tick_rate_limit("leadmagic", 0.09)
    sandbox.tick_rate_limit("lantern", 0.08)
    client = {p: {"timeout_seconds": 0.75} for p in PROVIDERS}
    # LeadMagic's documented 30 s between 5xx retries, shortened: this test is about the ledger, not the waits.
    client["leadmagic"].update(rate_limit_per_second=20, burst=5, max_concurrency=8, retry_schedule=[0.05])
    client["lantern"].update(rate_limit_per_second=20, burst=3, max_concurrency=4)
    config = write_config(tmp_path / "enrichment.yaml", **client)
    leads_file = tmp_path / "faulty.csv"
    write_leads(leads_file, LEADS, seed=5)
    pipeline = make_pipeline(sandbox)
    db = pipeline.db

    first = pipeline.run(leads_file, config)
    assert first.success
    assert "Traceback" not in pipeline.log_text(first)
    sandbox.wait_idle(timeout=10)

    stats = _assert_ledger_matches_sandbox(db, sandbox)
    injected = {kind: sum(v["injected"][kind] for v in stats.values()) for kind in ("error", "malformed", "hang")}
    assert injected["error"] >= 3 and injected["malformed"] >= 1 and injected["hang"] >= 1, injected
    assert stats["leadmagic"]["rate_limited"] >= 1 and stats["lantern"]["rate_limited"] >= 1, stats

    # Each fault shows in the ledger as what it was, at no certain cost.
    per_kind = dict(query(db, """
        SELECT CASE WHEN http_status = 500 THEN 'error'
                    WHEN http_status = 200 AND outcome = 'unknown' THEN 'malformed'
                    WHEN http_status IS NULL AND error LIKE 'timeout%' THEN 'hang'
                    WHEN http_status = 429 THEN 'rate_limited' ELSE 'other' END AS kind, count(*)
        FROM credit_ledger WHERE credits = 0 GROUP BY kind"""))
    assert per_kind.get("error", 0) == injected["error"]
    assert per_kind.get("malformed", 0) == injected["malformed"]
    assert per_kind.get("hang", 0) == injected["hang"]
    assert per_kind.get("rate_limited", 0) == sum(v["rate_limited"] for v in stats.values())
    # LeadMagic bills a repeat again: each fault left its lead unknown (pending), not asked twice in the run.
    lm = dict(query(db, "SELECT outcome, count(*) FROM leadmagic_results GROUP BY outcome"))
    lm_faults = sum(stats["leadmagic"]["injected"][k] for k in ("error", "malformed", "hang"))
    assert lm.get("unknown", 0) == lm_faults and lm.get("error", 0) == 0, (lm, stats["leadmagic"]["injected"])

    statuses = dict(query(db, "SELECT status, count(*) FROM contacts GROUP BY status"))
    assert sum(statuses.values()) == LEADS
    unfinished = query(db, " UNION ALL ".join(
        f"SELECT record_id, '{p}', outcome FROM {p}_results WHERE outcome IN ('unknown', 'error')" for p in PROVIDERS))
    pending = {r for (r,) in query(db, "SELECT record_id FROM contacts WHERE status = 'pending'")}
    assert pending == {r for r, _, _ in unfinished} - {r for (r,) in query(
        db, "SELECT record_id FROM contacts WHERE status = 'mobile_found'")}
    print(f"pending after the faulty run: {len(pending)} of {LEADS} leads; injected {injected}")

    # Rerun with the vendors healthy: the pending leads are finished, nothing is bought twice.
    sandbox.patch({"vendors": {p: {"faults": NO_FAULTS, "rate_limit": {"enabled": False}} for p in PROVIDERS}})
    second = pipeline.run(leads_file, config)
    assert second.success and "Traceback" not in pipeline.log_text(second)
    sandbox.wait_idle(timeout=10)
    _assert_ledger_matches_sandbox(db, sandbox)
    statuses = dict(query(db, "SELECT status, count(*) FROM contacts GROUP BY status"))
    assert statuses.get("pending", 0) == 0 and sum(statuses.values()) == LEADS, statuses
    for fp, acc in account_by_fingerprint(db, sandbox, config).items():
        assert acc.ledger_paid == acc.sandbox_answers == 1, (fp, acc)
    # Every unknown request of the faulty run was settled by an answer to the same question.
    open_unknown = query(db, "SELECT entry_id FROM credit_ledger WHERE outcome = 'unknown' AND settled_by IS NULL")
    assert open_unknown == []
