"""The whole graph through the real `enrich` CLI against a sandbox served over a real port.

What only the CLI shows: its printed summary, and a run with dbt in the same process as a user starts it.
The pipeline's own behaviour (ledger == sandbox, reruns, stop rules, budgets, suppression) is tested in
process in test_pipeline_runs.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.cli import prepare_env, run_enrich
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.sandbox import fast_sandbox_config
from enrichment_assets_tests.support.tables import query

pytestmark = pytest.mark.e2e

#: USD per credit for each vendor: binary fractions, so every sum below is exact.
USD_PER_CREDIT = {"leadmagic": 0.5, "pronto": 0.25, "enrichlayer": 0.125, "lantern": 2.0, "crustdata": 0.0625}
LEADS = 40


def summary_lines(stdout: str) -> dict[str, list[str]]:
    """The rows of the CLI's "Vendors this run" table: provider -> [calls, cache hits, found, credits, USD, unknown]
    (+ "up to", the credits unknown requests may have cost, when there are any: empty cells are dropped)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0] in PROVIDERS and len(cells) >= 7:
            rows[cells[0]] = cells[1:]
    return rows


def test_cli_run_books_usd_and_performance_as_the_sandbox_charged(cli_env: dict[str, str], make_sandbox,
                                                                  tmp_path: Path) -> None:
    sandbox = make_sandbox(fast_sandbox_config(limits=False))
    config = write_config(tmp_path / "usd.yaml", fast_clients=True, waterfall={"stop_when": "never"},
                          **{p: {"usd_per_credit": usd} for p, usd in USD_PER_CREDIT.items()})
    leads = tmp_path / "usd_list.csv"
    write_leads(leads, LEADS, seed=17)
    env = prepare_env(cli_env, sandbox, config)
    db = env["ENRICHMENT_DB"]

    first = run_enrich(["run", str(leads)], env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-4000:]
    sandbox.wait_idle()
    stats = sandbox.stats()["vendors"]
    charged = {p: float(stats[p]["credits_charged"]) for p in PROVIDERS}
    requests = {p: stats[p]["requests"] for p in PROVIDERS}
    assert all(charged[p] > 0 for p in PROVIDERS), charged

    # The ledger: each row's USD is its credits times the provider's price; per provider, what the sandbox charged.
    for provider, credits, usd in query(db, "SELECT provider, credits, usd FROM credit_ledger"):
        assert usd == credits * USD_PER_CREDIT[provider], (provider, credits, usd)
    ledger = {p: (n, c, u) for p, n, c, u in query(
        db, "SELECT provider, count(*), sum(credits), sum(usd) FROM credit_ledger GROUP BY provider")}
    assert ledger == {p: (requests[p], charged[p], charged[p] * USD_PER_CREDIT[p]) for p in PROVIDERS}

    # provider_performance, against figures counted here from the sandbox and the tables.
    found = {p: query(db, f"SELECT count(*) FILTER (WHERE outcome = 'found'), "
                          f"count(*) FILTER (WHERE outcome IN ('found', 'not_found')) FROM {p}_results")[0]
             for p in PROVIDERS}
    mobiles = {p: query(db, "SELECT count(DISTINCT record_id) FROM contact_phones "
                            "WHERE is_personal_mobile AND list_contains(sources, ?)", [p])[0][0] for p in PROVIDERS}
    assert all(mobiles[p] > 0 for p in PROVIDERS), mobiles
    performance = {r[0]: r[1:] for r in query(
        db, "SELECT provider, calls, found, mobiles, credits, usd, hit_rate, cost_per_mobile, leads_sent, "
            "cache_hits, usd_per_mobile FROM provider_performance")}
    for p in PROVIDERS:
        usd = charged[p] * USD_PER_CREDIT[p]
        assert performance[p] == pytest.approx((
            requests[p], found[p][0], mobiles[p], charged[p], usd, found[p][0] / found[p][1],
            charged[p] / mobiles[p], found[p][1], 0, usd / mobiles[p]), rel=1e-12), p
    # Single-lead vendors: every lead sent was one request, every "found" one the sandbox counted as found.
    for p in ("leadmagic", "pronto", "lantern"):
        assert (found[p][0], found[p][1]) == (stats[p]["found"], requests[p]), p

    # The CLI's summary says the same, per vendor.
    shown = summary_lines(first.stdout)
    assert shown == {p: [str(requests[p]), "0", str(found[p][0]), f"{charged[p]:g}",
                         f"{charged[p] * USD_PER_CREDIT[p]:.2f}", "0"] for p in PROVIDERS}, first.stdout[-3000:]
    mobile_leads = query(db, "SELECT count(*) FROM contacts WHERE status = 'mobile_found'")[0][0]
    assert f"{LEADS} leads, 0 rejected, {mobile_leads} with a mobile" in " ".join(first.stdout.split())

    # Unchanged rerun: nothing asked, nothing booked, and the summary says so.
    again = run_enrich(["run", str(leads)], env)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-4000:]
    assert sandbox.requests_by_provider() == requests
    assert query(db, "SELECT count(*), sum(usd) FROM credit_ledger") == [(sum(requests.values()),
                                                                         sum(ledger[p][2] for p in PROVIDERS))]
    assert {p: cells[0] + "/" + cells[3] + "/" + cells[4] for p, cells in summary_lines(again.stdout).items()} == \
        dict.fromkeys(PROVIDERS, "0/0/0.00")
