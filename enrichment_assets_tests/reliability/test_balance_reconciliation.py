"""``ledger_matches_vendor_balance``: each run's balance drop at the vendor against what the ledger booked.

Through the real CLI against a recording sandbox that keeps its own balance per vendor and serves the documented
balance endpoints. The misconfigured vendor is Enrich Layer (its price in the config is half what the sandbox
charges): Lantern, the issue's example, documents no balance endpoint (its balance appears only in an
insufficient-credit error), so for Lantern the check can only say "unverifiable", which is also tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, DagsterInstance

from enrichment_assets_tests.support.cli import no_traceback, prepare_env, run_enrich
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.sandbox import fast_sandbox_config
from enrichment_assets_tests.support.tables import ledger_by_provider, query

pytestmark = pytest.mark.e2e

CHECK = AssetCheckKey(AssetKey("credit_ledger"), "ledger_matches_vendor_balance")
VERIFIABLE = ("leadmagic", "enrichlayer", "crustdata")


def _evaluation(env: dict[str, str]):
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (record,) = instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=1)
        return record.run_id, record.event.dagster_event.event_specific_data


def _run(cli_env, tmp_path: Path, make_sandbox, sandbox_vendors: dict, **providers: dict):
    sandbox = make_sandbox(fast_sandbox_config(p50=0.005, **sandbox_vendors))
    # stop_when never: every vendor is reached by enough leads to be priced.
    config = write_config(tmp_path / "enrichment.yaml", waterfall={"stop_when": "never"}, **providers)
    leads_file = tmp_path / "reconcile.csv"
    write_leads(leads_file, 40, seed=9)
    env = prepare_env(cli_env, sandbox, config)
    result = run_enrich(["run", str(leads_file)], env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert no_traceback(output)
    sandbox.wait_idle()
    return sandbox, env, result.stdout


def test_a_correctly_priced_run_matches_every_vendor_with_a_balance_source(cli_env, tmp_path: Path,
                                                                          make_sandbox) -> None:
    sandbox, env, stdout = _run(cli_env, tmp_path, make_sandbox, {})
    db = env["ENRICHMENT_DB"]
    run_id, evaluation = _evaluation(env)
    assert evaluation.passed, evaluation.description
    assert "Warning:" not in stdout
    statuses = {k[: -len("_status")]: v.value for k, v in evaluation.metadata.items() if k.endswith("_status")}
    assert statuses == {"leadmagic": "ok", "enrichlayer": "ok", "crustdata": "ok", "lantern": "unverifiable",
                        "pronto": "unverifiable"}, evaluation.metadata
    # The readings are in vendor_balances, and each drop is exactly what the sandbox charged and the ledger booked.
    charged = sandbox.credits_by_provider()
    booked = ledger_by_provider(db)
    drops = dict(query(db, "SELECT provider, max(credits) FILTER (WHERE phase = 'before') - "
                           "min(credits) FILTER (WHERE phase = 'after') FROM vendor_balances WHERE run_id = ? "
                           "GROUP BY provider", [run_id]))
    for provider in VERIFIABLE:
        assert charged[provider] > 0, provider
        assert drops[provider] == charged[provider] == booked[provider]["credits"], provider
    assert query(db, "SELECT DISTINCT source FROM vendor_balances WHERE provider = 'lantern'") == [("none",)]
    # Free reads: the sandbox counted them apart from the billable requests.
    stats = sandbox.stats()["vendors"]
    assert all(stats[p]["balance_reads"] == 2 for p in VERIFIABLE)
    assert stats["lantern"]["balance_reads"] == stats["pronto"]["balance_reads"] == 0


def test_a_misconfigured_price_warns_naming_the_vendor_and_the_ratio(cli_env, tmp_path: Path,
                                                                    make_sandbox) -> None:
    # The sandbox charges 2 per number (Enrich Layer) and 2 per phone (Lantern); the config says 1 for both.
    sandbox, env, stdout = _run(cli_env, tmp_path, make_sandbox,
                                {"enrichlayer": {"price_per_number": 2}, "lantern": {"price_per_found": 2}})
    _, evaluation = _evaluation(env)
    assert not evaluation.passed and evaluation.severity is AssetCheckSeverity.WARN
    assert "enrichlayer: ratio 2.0" in evaluation.description, evaluation.description
    assert "providers.enrichlayer.pricing (per_number: 1)" in evaluation.description
    assert evaluation.metadata["enrichlayer_ratio"].value == 2.0
    assert evaluation.metadata["warned"].value == "enrichlayer"
    assert "Warning: enrichlayer: ratio 2.0" in stdout  # the run's summary says it too
    # Lantern is just as wrong, but its vendor offers no balance to compare with: said, not guessed.
    assert evaluation.metadata["lantern_status"].value == "unverifiable"
    assert "lantern: unverifiable" in evaluation.description
    assert sandbox.credits_by_provider()["enrichlayer"] == 2 * ledger_by_provider(env["ENRICHMENT_DB"])[
        "enrichlayer"]["credits"]


def test_lantern_misconfigured_with_a_balance_source_warns_naming_it_and_the_ratio(cli_env, tmp_path: Path,
                                                                                    make_sandbox) -> None:
    # Lantern's documents give no balance endpoint; an account that has one sets balance_path (the sandbox serves a
    # stand-in). The sandbox charges 2 per phone, the config says 1.
    sandbox, env, stdout = _run(cli_env, tmp_path, make_sandbox, {"lantern": {"price_per_found": 2}},
                                lantern={"balance_path": "/v1/enrich/credits"})
    _, evaluation = _evaluation(env)
    assert not evaluation.passed and evaluation.severity is AssetCheckSeverity.WARN
    assert "lantern: ratio 2.0" in evaluation.description, evaluation.description
    assert "providers.lantern.pricing (per_found: 1" in evaluation.description
    assert evaluation.metadata["lantern_ratio"].value == 2.0
    assert evaluation.metadata["warned"].value == "lantern"
    assert "Warning: lantern: ratio 2.0" in stdout
    for provider in VERIFIABLE:  # correctly priced: they still match
        assert evaluation.metadata[f"{provider}_status"].value == "ok"
    assert (
        sandbox.credits_by_provider()["lantern"] == 2 * ledger_by_provider(env["ENRICHMENT_DB"])["lantern"]["credits"]
    )
