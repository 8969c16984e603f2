"""The whole graph through the real `enrich` CLI against a sandbox served over a real port.

The sandbox counts every request and every credit it charged; these tests hold
the ledger, the result tables and the contacts to those counters.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from enrichment_assets.sandbox.sample_data import write_sample_leads
from enrichment_assets.sandbox.server import SandboxServer
from enrichment_assets.sandbox.state import SandboxConfig
from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

ORDER = ["leadmagic", "pronto", "enrichlayer", "lantern", "crustdata"]

# Faster client limits than the vendors' documented ones, so a test list is done in seconds;
# the sandbox enforces its own (documented) limits regardless.
FAST_PROVIDERS = {
    "enrichlayer": {"rate_limit_per_second": 50, "burst": 50},
    "crustdata": {"rate_limit_per_second": 1, "burst": 10},
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture
def env(cli_env: dict[str, str], sandbox: SandboxServer) -> dict[str, str]:
    sandbox.state.reset(restore_config=True)
    for provider in PROVIDERS:
        cli_env[f"{provider.upper()}_BASE_URL"] = sandbox.base_url
    return cli_env


def write_config(path: Path, stop_when: str = "never", **providers: dict) -> Path:
    merged = {p: dict(FAST_PROVIDERS.get(p, {})) for p in PROVIDERS}
    for name, extra in providers.items():
        merged[name].update(extra)
    path.write_text(yaml.safe_dump({
        "waterfall": {"order": ORDER, "stop_when": stop_when},
        "cache_ttl_days": 90,
        "providers": merged,
    }), encoding="utf-8")
    return path


def enrich_run(path: Path, env: dict[str, str], config: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "enrichment_assets.cli", "run", str(path)],
                            env={**env, "ENRICHMENT_CONFIG": str(config)}, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def query(env: dict[str, str], sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(env["ENRICHMENT_DB"], read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def ledger_by_provider(env: dict[str, str]) -> dict[str, tuple[int, float]]:
    rows = query(env, "SELECT provider, count(*), sum(credits) FROM credit_ledger GROUP BY provider")
    return {p: (n, float(c)) for p, n, c in rows}


def sandbox_counts(sandbox: SandboxServer) -> dict[str, tuple[int, int]]:
    stats = sandbox.state.stats()["vendors"]
    return {p: (stats[p]["requests"], stats[p]["credits_charged"]) for p in PROVIDERS}


def leads_file(tmp_path: Path, sandbox: SandboxServer, n: int, name: str = "leads") -> Path:
    path = tmp_path / f"{name}.csv"
    write_sample_leads(path, sandbox.state.world, n=n, seed=11)
    return path


def test_ledger_equals_sandbox_charges_and_reruns_pay_nothing(env, sandbox, tmp_path: Path) -> None:
    config = write_config(tmp_path / "never.yaml", stop_when="never")
    leads = leads_file(tmp_path, sandbox, 80)
    enrich_run(leads, env, config)

    charged = sandbox_counts(sandbox)
    # Our own limiter keeps us under the vendors' limits: no 429 we caused ourselves.
    assert {p: v["rate_limited"] for p, v in sandbox.state.stats()["vendors"].items()} == dict.fromkeys(PROVIDERS, 0)
    ledger = ledger_by_provider(env)
    for provider in PROVIDERS:
        requests, credits = charged[provider]
        assert requests > 0 and credits > 0, provider  # every pricing rule was exercised
        assert ledger[provider] == (requests, float(credits)), provider
    bases = dict(query(env, "SELECT provider, string_agg(DISTINCT credit_basis, ',') FROM credit_ledger "
                            "WHERE http_status BETWEEN 200 AND 299 GROUP BY provider"))
    assert bases["leadmagic"] == "vendor_reported"
    assert all(bases[p] == "price_rule" for p in ("pronto", "enrichlayer", "lantern", "crustdata"))
    # Crustdata was batched: far fewer requests than leads sent to it.
    crust_leads = query(env, "SELECT count(*) FROM crustdata_results WHERE outcome IN ('found', 'not_found')")[0][0]
    assert charged["crustdata"][0] <= -(-crust_leads // 25) + 2

    # Same file again: no vendor request, no ledger row.
    entries = {e for (e,) in query(env, "SELECT entry_id FROM credit_ledger")}
    first_run = {p: query(env, f"SELECT DISTINCT run_id FROM {p}_results") for p in PROVIDERS}
    enrich_run(leads, env, config)
    assert sandbox_counts(sandbox) == charged
    assert {e for (e,) in query(env, "SELECT entry_id FROM credit_ledger")} == entries
    # Nothing changed, so no lead was walked again: every provider row is still the first run's.
    assert {p: query(env, f"SELECT DISTINCT run_id FROM {p}_results") for p in PROVIDERS} == first_run

    # Five leads get another person's identifiers: only those five reach a vendor.
    with leads.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    li, em = header.index("LinkedIn"), header.index("Work Email")
    targets = [r for r in body if r[0].strip() and r[li].strip()][:5]
    changed: set[str] = set()
    for row, person in zip(targets, sandbox.state.world.people[2000:2005], strict=True):
        row[li], row[em] = person.linkedin_url, person.work_email
        changed.add(row[0].strip())
    with leads.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *body])
    enrich_run(leads, env, config)

    after = sandbox_counts(sandbox)
    assert sum(after[p][0] for p in PROVIDERS) > sum(charged[p][0] for p in PROVIDERS)
    new_rows = [row for row in query(env, "SELECT entry_id, record_id, record_ids FROM credit_ledger")
                if row[0] not in entries]
    new_records = {r for _, record_id, record_ids in new_rows for r in (record_ids or [record_id])}
    assert new_records and new_records <= changed
    # Only the five changed leads were walked again: the last run wrote rows for them and no one else.
    last_run = query(env, "SELECT run_id FROM leadmagic_results ORDER BY called_at DESC LIMIT 1")[0][0]
    rewritten = {r for p in PROVIDERS
                 for (r,) in query(env, f"SELECT record_id FROM {p}_results WHERE run_id = ?", [last_run])}
    assert rewritten == changed
    ledger = ledger_by_provider(env)
    for provider in PROVIDERS:
        assert ledger[provider] == (after[provider][0], float(after[provider][1])), provider


def test_no_switchboard_chosen_when_the_mobile_was_returned(env, sandbox, tmp_path: Path) -> None:
    config = write_config(tmp_path / "never.yaml", stop_when="never")
    enrich_run(leads_file(tmp_path, sandbox, 120), env, config)
    world = sandbox.state.world
    contacts = query(env, "SELECT c.record_id, r.linkedin_url, r.email, c.best_phone, c.status FROM contacts c "
                          "JOIN raw_leads r USING (list_id, record_id)")
    returned = {}
    for record_id, e164 in query(env, "SELECT record_id, e164 FROM contact_phones"):
        returned.setdefault(record_id, set()).add(e164)
    checked = strict = 0
    for record_id, linkedin, email, best, status in contacts:
        person = world.person_by_linkedin(linkedin) if linkedin else world.person_by_email(email)
        if person is None or person.mobile not in returned.get(record_id, set()):
            continue
        checked += 1
        assert best != person.switchboard, (record_id, status)
        if not person.mobile.startswith("+1"):
            # Outside NANP libphonenumber knows a mobile range: the person's own mobile must win.
            strict += 1
            assert best == person.mobile, (record_id, status)
            assert status == "mobile_found"
        # In NANP nobody can tell a mobile from a direct line without a vendor's claim: that's all we ask.
    assert checked >= 40 and strict >= 20  # many people, colleagues sharing a switchboard among them
    shared = query(env, "SELECT count(*) FROM contact_phones WHERE shared_with_others")[0][0]
    assert shared > 0


def test_budget_cap_is_never_exceeded(env, sandbox, tmp_path: Path) -> None:
    config = write_config(tmp_path / "budget.yaml", stop_when="never",
                          leadmagic={"max_credits_per_run": 40}, pronto={"max_credits_per_run": 30})
    enrich_run(leads_file(tmp_path, sandbox, 60), env, config)
    charged = sandbox_counts(sandbox)
    assert 0 < charged["leadmagic"][1] <= 40
    assert 0 < charged["pronto"][1] <= 30
    skipped = dict(query(env, "SELECT 'leadmagic', count(*) FROM leadmagic_results WHERE outcome = 'skipped_budget' "
                              "UNION ALL SELECT 'pronto', count(*) FROM pronto_results "
                              "WHERE outcome = 'skipped_budget'"))
    assert skipped["leadmagic"] > 0 and skipped["pronto"] > 0
    assert ledger_by_provider(env)["leadmagic"][1] == charged["leadmagic"][1]
    # Leads skipped for budget still went on to the other providers.
    assert charged["enrichlayer"][0] > 0


def test_suppressed_leads_are_never_sent_and_suppressed_numbers_never_chosen(env, sandbox, tmp_path: Path) -> None:
    config = write_config(tmp_path / "never.yaml", stop_when="never")
    leads = leads_file(tmp_path, sandbox, 40)
    enrich_run(leads, env, config)  # learn who is who and which numbers win
    picked = query(env, "SELECT c.record_id, r.email, r.linkedin_url, c.best_phone FROM contacts c "
                        "JOIN raw_leads r USING (list_id, record_id) WHERE c.best_phone IS NOT NULL "
                        "AND r.email IS NOT NULL AND r.linkedin_url IS NOT NULL ORDER BY c.record_id")
    by_id, by_email, by_linkedin, by_phone = picked[0], picked[1], picked[2], picked[3]

    # A fresh database and store: the suppressed leads must not be sent anywhere.
    fresh = dict(env, ENRICHMENT_DB=str(tmp_path / "fresh.duckdb"))
    suppression = Path(fresh["ENRICHMENT_SUPPRESSION"])
    with suppression.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "email", "linkedin_url", "phone"])
        writer.writerow([by_id[0], "", "", ""])
        writer.writerow(["", by_email[1].upper(), "", ""])
        writer.writerow(["", "", by_linkedin[2].replace("https://www.", "http://"), ""])
        writer.writerow(["", "", "", by_phone[3]])
    enrich_run(leads, fresh, config)

    suppressed = {by_id[0], by_email[0], by_linkedin[0]}
    statuses = dict(query(fresh, "SELECT record_id, status FROM contacts WHERE record_id IN "
                                 "(SELECT unnest(?::VARCHAR[]))", [sorted(suppressed)]))
    assert statuses == {r: "suppressed" for r in suppressed}
    called = query(fresh, "SELECT count(*) FROM credit_ledger WHERE record_id IN (SELECT unnest(?::VARCHAR[])) "
                          "OR list_has_any(record_ids, ?::VARCHAR[])", [sorted(suppressed), sorted(suppressed)])
    assert called == [(0,)]
    for provider in PROVIDERS:
        rows = query(fresh, f"SELECT count(*) FROM {provider}_results WHERE outcome <> 'ineligible' AND "  # noqa: S608
                            "record_id IN (SELECT unnest(?::VARCHAR[]))", [sorted(suppressed)])
        assert rows == [(0,)], provider
    best = query(fresh, "SELECT best_phone FROM contacts WHERE record_id = ?", [by_phone[0]])[0][0]
    assert best != by_phone[3]
    assert query(fresh, "SELECT count(*) FROM contacts WHERE best_phone = ?", [by_phone[3]]) == [(0,)]


def _first_hit(env: dict[str, str], where: str) -> dict[str, int]:
    """Per lead, the waterfall position of the first provider whose answer meets `where` (None: no hit)."""
    union = " UNION ALL ".join(
        f"SELECT record_id, {i} AS pos, ({where}) AS hit, from_cache, outcome FROM {p}_results"  # noqa: S608
        for i, p in enumerate(ORDER))
    rows = query(env, f"SELECT record_id, pos, hit, outcome FROM ({union}) ORDER BY record_id, pos")  # noqa: S608
    first: dict[str, int | None] = {}
    last_called: dict[str, int] = {}
    for record_id, pos, hit, outcome in rows:
        first.setdefault(record_id, None)
        if hit and first[record_id] is None:
            first[record_id] = pos
        if outcome not in ("ineligible",):
            last_called[record_id] = pos
    return {r: (first[r], last_called.get(r)) for r in first}


@pytest.mark.parametrize("stop_when", ["any_phone", "mobile", "never"])
def test_stop_rules(env, sandbox, tmp_path: Path, stop_when: str) -> None:
    config = write_config(tmp_path / f"{stop_when}.yaml", stop_when=stop_when)
    enrich_run(leads_file(tmp_path, sandbox, 60), env, config)
    if stop_when == "any_phone":
        hits = _first_hit(env, "outcome = 'found'")
    else:  # LeadMagic's endpoint only returns mobiles: a LeadMagic hit meets the mobile rule
        hits = _first_hit(env, "outcome = 'found' AND " + ("pos = 0" if stop_when == "mobile" else "true"))
    stopped = [(r, first, last) for r, (first, last) in hits.items() if first is not None]
    assert len(stopped) >= 10
    for record_id, first, last in stopped:
        if stop_when == "never":
            continue
        assert last == first, (record_id, first, last)  # nobody after the provider that satisfied the rule
    if stop_when == "never":
        assert any(last is not None and last > first for _, first, last in stopped)
        # Every provider saw every lead (ineligible ones without a call).
        for provider in PROVIDERS:
            assert query(env, f"SELECT count(*) FROM {provider}_results")[0][0] == \
                query(env, "SELECT count(*) FROM raw_leads")[0][0], provider  # noqa: S608
