"""The cost model through the real `enrich` CLI against a sandbox over a real port: `enrich estimate` calls no
vendor, a run over max_usd_per_run is refused before any call, and an adaptive run records its order, feeds
provider_segment_rates and walks no finished lead again when only the learned order changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from enrichment_assets.sandbox.sample_data import write_sample_leads
from enrichment_assets.sandbox.server import SandboxServer
from enrichment_assets.sandbox.world import World
from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.cli import run_enrich

pytestmark = pytest.mark.e2e

FAST = {"enrichlayer": {"rate_limit_per_second": 50, "burst": 50}, "crustdata": {"rate_limit_per_second": 1,
                                                                                  "burst": 10}}
# Explicit prices: the test must not depend on the defaults.
PRICES = {"leadmagic": 0.024, "pronto": 0.02, "enrichlayer": 0.02, "lantern": 0.02, "crustdata": 0.02}


def enrich(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_enrich(args, env, timeout=600)


def requests(sandbox: SandboxServer) -> int:
    return sum(v["requests"] for v in sandbox.state.stats()["vendors"].values())


def write_config(path: Path, **top: object) -> Path:
    providers = {p: {**FAST.get(p, {}), "usd_per_credit": PRICES[p]} for p in PROVIDERS}
    path.write_text(yaml.safe_dump({"providers": providers, **top}), encoding="utf-8")
    return path


@pytest.fixture
def leads_file(tmp_path: Path) -> Path:
    path = tmp_path / "cost_leads.csv"
    write_sample_leads(path, World(7, 3000), n=60, seed=11)
    return path


def test_estimate_calls_no_vendor_and_a_run_over_max_usd_per_run_is_refused_before_any_call(
        sandbox_env: dict[str, str], shared_sandbox: SandboxServer, leads_file: Path, tmp_path: Path) -> None:
    sandbox_env["ENRICHMENT_CONFIG"] = str(write_config(tmp_path / "capped.yaml", max_usd_per_run=0.25))
    estimate = enrich(["estimate", str(leads_file)], sandbox_env)
    assert estimate.returncode == 0, estimate.stderr[-2000:]
    assert "no vendor called" in estimate.stdout and "56 leads" in estimate.stdout
    assert "A run would be refused" in estimate.stdout
    assert requests(shared_sandbox) == 0
    assert not Path(sandbox_env["ENRICHMENT_DB"]).exists()  # nothing written either

    run = enrich(["run", str(leads_file)], sandbox_env)
    assert run.returncode == 1
    assert "max_usd_per_run $0.25" in run.stderr and "refused before any vendor call" in run.stderr
    assert requests(shared_sandbox) == 0
    with duckdb.connect(sandbox_env["ENRICHMENT_DB"], read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM raw_leads").fetchone()[0] == 56
        assert conn.execute("SELECT count(*) FROM credit_ledger").fetchone()[0] == 0


def test_adaptive_run_records_its_order_and_a_learned_change_alone_walks_nobody_again(
        sandbox_env: dict[str, str], shared_sandbox: SandboxServer, leads_file: Path, tmp_path: Path) -> None:
    # A prior that puts Lantern last (a mobile costs $10 by it); 56 leads of data, at a prior weight of 5, show it
    # is cheap: the learned order moves it up.
    cost_model = {"prior_weight": 5, "priors": {"lantern": {"found_rate": 0.02, "mobile_rate": 0.01,
                                                            "credits_per_call": 5}}}
    sandbox_env["ENRICHMENT_CONFIG"] = str(write_config(tmp_path / "adaptive.yaml", waterfall={"order": "adaptive"},
                                                cost_model=cost_model))
    first = enrich(["run", str(leads_file)], sandbox_env)
    assert first.returncode == 0, first.stderr[-3000:]
    sent = requests(shared_sandbox)
    assert sent > 0
    with duckdb.connect(sandbox_env["ENRICHMENT_DB"], read_only=True) as conn:
        orders = conn.execute("SELECT DISTINCT walk_order FROM lantern_results").fetchall()
        rates = conn.execute("SELECT count(*), sum(leads) FROM provider_segment_rates WHERE level = 'segment'"
                             ).fetchone()
        learned = conn.execute("SELECT provider, usd_per_mobile FROM provider_segment_rates WHERE level = 'provider'"
                               ).fetchall()
    assert orders and all(sorted(o[0]) == sorted(PROVIDERS) for o in orders)
    assert rates[0] > 0 and rates[1] > 0
    assert all(u is not None and u > 0 for _, u in learned)

    # The model learned from the first run, so the order it chooses now differs from the cold start's (checked);
    # the leads are finished, so the rerun asks no vendor anything.
    from enrichment_assets.config import load_config
    from enrichment_assets.cost_model.order import AdaptiveOrder
    from enrichment_assets.cost_model.rates import HitRateModel
    from enrichment_assets.storage.segment_rates import load_model

    config = load_config(Path(sandbox_env["ENRICHMENT_CONFIG"]))
    with duckdb.connect(sandbox_env["ENRICHMENT_DB"], read_only=True) as conn:
        model = load_model(conn, config)
    cold = AdaptiveOrder(HitRateModel(config), config, config.active_order)
    warm = AdaptiveOrder(model, config, config.active_order)
    assert any(cold.segment_order(s) != warm.segment_order(s) for _, s in model.observed)
    estimate = enrich(["estimate", str(leads_file)], sandbox_env)
    assert estimate.returncode == 0 and "56 answered free" in estimate.stdout
    again = enrich(["run", str(leads_file)], sandbox_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert requests(shared_sandbox) == sent

    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(sandbox_env["DAGSTER_HOME"]) as instance:
        event = instance.get_latest_materialization_event(AssetKey("raw_leads"))
        metadata = event.asset_materialization.metadata
        assert metadata["forecast_free_leads"].value == 56 and metadata["forecast_usd"].value == 0
        rates_event = instance.get_latest_materialization_event(AssetKey("provider_segment_rates"))
        assert "order_by_segment" in rates_event.asset_materialization.metadata
