"""Out of credits: one vendor's balance runs dry mid-run; the others go on; a top-up and a rerun finish the list.

README, "What happens when things go wrong": 402 and the vendors' out-of-credits answers stop that provider
for the run, the others continue, and the leads it still owed are ``pending``; a rerun finishes them. The
pipeline runs in this process (``support/pipeline.py``).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.accounting import account_by_fingerprint
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.sandbox import fast_sandbox_config
from enrichment_assets_tests.support.tables import ledger_by_provider, query

LEADS = 40
BALANCE = 30  # LeadMagic charges 5 per mobile found: 6 mobiles, then 402


def _assert_ledger_exact(db: str, sandbox) -> None:
    stats = sandbox.stats()["vendors"]
    booked = ledger_by_provider(db)
    for provider in PROVIDERS:
        assert (booked[provider]["rows"], booked[provider]["credits"], booked[provider]["unknown"]) == (
            stats[provider]["requests"], stats[provider]["credits_charged"], 0), (provider, booked, stats)


def test_leadmagic_runs_dry_others_continue_topup_and_rerun_finish(make_sandbox, make_pipeline,
                                                                   tmp_path: Path) -> None:
    sandbox = make_sandbox(fast_sandbox_config(p50=0.01, leadmagic={"balance": BALANCE}))
    config = write_config(tmp_path / "enrichment.yaml", leadmagic={"max_concurrency": 4})
    leads_file = tmp_path / "dry.csv"
    write_leads(leads_file, LEADS, seed=41)
    pipeline = make_pipeline(sandbox)
    db = pipeline.db

    first = pipeline.run(leads_file, config)
    output = pipeline.log_text(first)
    assert first.success and "Traceback" not in output
    sandbox.wait_idle()
    _assert_ledger_exact(db, sandbox)

    lm = sandbox.stats()["vendors"]["leadmagic"]
    assert lm["credits_charged"] == BALANCE and lm["balance"] == 0
    # Stopped at the first 402: at most the requests already in flight (max_concurrency 4) got one too.
    assert 1 <= lm["by_status"].get("402", 0) <= 4, lm
    assert "leadmagic" in output and "out of credits" in output
    outcomes = dict(query(db, "SELECT outcome, count(*) FROM leadmagic_results GROUP BY 1"))
    assert outcomes.get("found", 0) == BALANCE // 5
    short = outcomes.get("provider_unavailable", 0)
    assert short >= LEADS // 2, outcomes  # most leads never reached LeadMagic: no request for them at all
    assert lm["requests"] == outcomes["found"] + outcomes.get("not_found", 0) + lm["by_status"]["402"]

    # The other vendors carried on for the leads LeadMagic could not serve.
    skipped = {r for (r,) in query(db, "SELECT record_id FROM leadmagic_results "
                                       "WHERE outcome = 'provider_unavailable'")}
    asked_next = {r for (r,) in query(db, "SELECT record_id FROM pronto_results WHERE outcome IN "
                                          "('found', 'not_found')")}
    assert skipped <= asked_next | {r for (r,) in query(db, "SELECT record_id FROM pronto_results")}
    assert len(skipped & asked_next) >= len(skipped) - 2

    # Pending: exactly the leads LeadMagic still owes that found no mobile elsewhere.
    pending = {r for (r,) in query(db, "SELECT record_id FROM contacts WHERE status = 'pending'")}
    mobile = {r for (r,) in query(db, "SELECT record_id FROM contacts WHERE status = 'mobile_found'")}
    assert pending == skipped - mobile and len(pending) >= 1
    assert query(db, "SELECT count(*) FROM contacts")[0][0] == LEADS

    # Top up over the sandbox's control API, rerun: finished, nothing bought twice.
    response = httpx.post(f"{sandbox.base_url}/_sandbox/config", json={"vendors": {"leadmagic": {"balance": 10_000}}})
    assert response.status_code == 200 and sandbox.stats()["vendors"]["leadmagic"]["balance"] == 10_000
    second = pipeline.run(leads_file, config)
    assert second.success
    sandbox.wait_idle()
    _assert_ledger_exact(db, sandbox)
    statuses = dict(query(db, "SELECT status, count(*) FROM contacts GROUP BY 1"))
    assert statuses.get("pending", 0) == 0 and sum(statuses.values()) == LEADS, statuses
    assert query(db, "SELECT count(*) FROM leadmagic_results WHERE outcome = 'provider_unavailable'")[0][0] == 0
    new_lm = [r for r in sandbox.snapshot() if r.provider == "leadmagic" and r.charged]
    assert len(new_lm) >= len(pending)  # the rerun asked LeadMagic for what it still owed
    for fp, acc in account_by_fingerprint(db, sandbox, config).items():
        assert acc.ledger_paid == acc.sandbox_answers == 1, (fp, acc)
