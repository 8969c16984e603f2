"""Live mode without keys: a run that can ask nobody stops before any step; a provider skipped for want of a key
leaves the leads it could have answered ``pending`` (never ``not_found``), and a rerun with the key finishes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from enrichment_assets.config import load_config
from enrichment_assets.settings import PROVIDERS
from enrichment_assets.vendors import CLIENTS
from enrichment_assets_tests.support.cli import no_traceback, prepare_env, run_enrich
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.sandbox import fast_sandbox_config
from enrichment_assets_tests.support.tables import leads_from_db, query

KEY_VARS = [f"{p.upper()}_API_KEY" for p in PROVIDERS]


def _no_keys(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in KEY_VARS}


def test_live_mode_with_no_key_at_all_exits_2_before_any_step(cli_env: dict[str, str], tmp_path: Path) -> None:
    leads_file = tmp_path / "keyless.csv"
    write_leads(leads_file, 5)
    env = {**_no_keys(cli_env), "ENRICHMENT_MODE": "live"}
    result = run_enrich(["run", str(leads_file)], env)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert all(var in lines[0] for var in KEY_VARS), lines[0]
    # Nothing ran: no warehouse written, no run in the instance.
    assert not Path(env["ENRICHMENT_DB"]).exists()
    assert not (Path(env["DAGSTER_HOME"]) / "storage").exists()


def test_every_provider_disabled_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    leads_file = tmp_path / "off.csv"
    write_leads(leads_file, 5)
    config = write_config(tmp_path / "enrichment.yaml", **{p: {"enabled": False} for p in PROVIDERS})
    result = run_enrich(["run", str(leads_file)], {**cli_env, "ENRICHMENT_CONFIG": str(config)})
    assert result.returncode == 2
    assert "disabled" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _eligible(config_path: Path, db: str, provider: str) -> set[str]:
    """The leads ``provider`` could take, by the product's own client."""
    client = CLIENTS[provider](load_config(config_path).provider(provider), "k", "http://127.0.0.1:9")
    return {lead.record_id for lead in leads_from_db(db) if client.ineligible_reason(lead) is None}


@pytest.mark.e2e
def test_skipped_providers_leave_their_leads_pending_and_a_keyed_rerun_finishes_them(
        cli_env: dict[str, str], tmp_path: Path, make_sandbox) -> None:
    sandbox = make_sandbox(fast_sandbox_config(p50=0.005))
    config = write_config(tmp_path / "enrichment.yaml")
    leads_file = tmp_path / "half_keyed.csv"
    write_leads(leads_file, 40, seed=5)
    # Only LeadMagic has a key: the other four are skipped.
    env = prepare_env(_no_keys(cli_env), sandbox, config, ENRICHMENT_MODE="live", LEADMAGIC_API_KEY="lm-key-1")
    db = env["ENRICHMENT_DB"]

    first = run_enrich(["run", str(leads_file)], env)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-4000:]
    assert no_traceback(output)
    for provider in ("pronto", "enrichlayer", "lantern", "crustdata"):
        assert f"{provider.upper()}_API_KEY" in first.stdout
    assert "LEADMAGIC_API_KEY" not in first.stdout
    assert sandbox.requests_by_provider()["pronto"] == 0

    statuses = dict(query(db, "SELECT record_id, status FROM contacts"))
    mobile = {r for r, s in statuses.items() if s == "mobile_found"}
    could_answer = set().union(*(_eligible(config, db, p) for p in ("pronto", "enrichlayer", "lantern", "crustdata")))
    assert could_answer - mobile, "the test needs leads that a skipped provider could have answered"
    for record_id in could_answer - mobile:
        assert statuses[record_id] == "pending", (record_id, statuses[record_id])
    skipped_rows = query(db, "SELECT count(*) FROM pronto_results WHERE outcome = 'skipped_no_key'")[0][0]
    assert skipped_rows == len(_eligible(config, db, "pronto") - mobile)
    assert query(db, "SELECT count(*) FROM contacts WHERE status = 'not_found' AND record_id IN "
                     "(SELECT unnest(?::VARCHAR[]))", [sorted(could_answer)])[0][0] == 0
    assert "pending" in first.stdout and "run the list again" in first.stdout

    # With every key: the skipped providers are asked, LeadMagic answers from the store (nothing paid twice).
    leadmagic_requests = sandbox.requests_by_provider()["leadmagic"]
    keys = {f"{p.upper()}_API_KEY": f"{p}-key-1" for p in PROVIDERS}
    second = run_enrich(["run", str(leads_file)], {**env, **keys})
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    assert "Not asked (no API key)" not in second.stdout
    assert sandbox.requests_by_provider()["leadmagic"] == leadmagic_requests
    assert sandbox.requests_by_provider()["pronto"] > 0
    for provider in PROVIDERS:
        table = f"{provider}_results"
        assert query(db, f"SELECT count(*) FROM {table} WHERE outcome = 'skipped_no_key'")[0][0] == 0
    assert query(db, "SELECT count(*) FROM contacts WHERE status = 'pending'")[0][0] == 0
