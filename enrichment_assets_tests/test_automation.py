"""Scheduled and concurrent work: TTL refresh, pending retries, budget warnings, two lists at once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import DagsterInstance, build_schedule_context, build_sensor_context

from enrichment_assets.dagster_defs.schedules import (
    refresh_stale_lists,
    retry_pending_leads,
)
from enrichment_assets.sandbox.sample_data import write_sample_leads
from enrichment_assets.settings import PROVIDERS
from enrichment_assets.storage.staleness import (
    pending_leads_by_list,
    stale_lookups_by_list,
)
from enrichment_assets.storage.warehouse import ensure_schema
from enrichment_assets_tests.support import REPO_ROOT
from enrichment_assets_tests.support.cli import prepare_env, run_enrich_at_once
from enrichment_assets_tests.support.files import write_config
from enrichment_assets_tests.support.pipeline import Pipeline
from enrichment_assets_tests.support.sandbox import (
    WORLD,
    RecordingSandbox,
    fast_sandbox_config,
)
from enrichment_assets_tests.support.tables import query

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_stale_lookups_count_only_expired_answers_of_current_leads(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        ensure_schema(conn)
        conn.execute("INSERT INTO raw_leads (list_id, record_id, fingerprint, loaded_at) VALUES "
                     "('a', '1', 'x', now()), ('a', '2', 'y', now()), ('b', '1', 'z', now())")
        old, fresh = NOW - timedelta(days=120), NOW - timedelta(days=5)
        rows = [("a", "1", "fp1", "found", old), ("a", "2", "fp2", "not_found", fresh),
                ("a", "9", "fp9", "found", old),          # no longer in the list
                ("b", "1", "fp3", "error", old),          # errors are never stored answers
                ("b", "1", "fp4", "not_found", old)]
        conn.executemany("INSERT INTO lantern_results (list_id, record_id, request_fingerprint, outcome, called_at, "
                         "from_cache) VALUES (?, ?, ?, ?, ?, false)", rows)
        conn.execute("INSERT INTO enrichlayer_results (list_id, record_id, request_fingerprint, outcome, called_at, "
                     "from_cache) VALUES ('a', '1', 'fp5', 'found', ?, true)", [old])
        assert stale_lookups_by_list(conn, 90, NOW) == {"a": 2, "b": 1}
        assert stale_lookups_by_list(conn, 200, NOW) == {}
        conn.execute("INSERT INTO contacts (list_id, record_id, status, enriched_at) VALUES "
                     "('a', '1', 'pending', now()), ('a', '2', 'mobile_found', now()), ('b', '1', 'pending', now())")
        assert pending_leads_by_list(conn) == {"a": 1, "b": 1}


def sample_file(tmp_path: Path, name: str, n: int, seed: int = 11) -> Path:
    path = tmp_path / f"{name}.csv"
    write_sample_leads(path, WORLD, n=n, seed=seed)
    return path


def requests_by_provider(sandbox: RecordingSandbox) -> dict[str, int]:
    return sandbox.requests_by_provider()


def test_ttl_refresh_reenriches_only_expired_lookups(pipeline_on_disk: Pipeline, fast_sandbox: RecordingSandbox,
                                                     tmp_path: Path) -> None:
    pipeline = pipeline_on_disk  # a schedule's context needs an instance it can refer to
    config = write_config(tmp_path / "c.yaml", fast_clients=True)
    leads = sample_file(tmp_path, "refresh_me", 40)
    pipeline.run(leads, config)
    db = pipeline.db
    instance = pipeline.instance

    # The schedule reads the config's cache_ttl_days and the database through the settings resource.
    resources = {"enrichment": pipeline.resources(config)["enrichment"]}
    context = build_schedule_context(instance=instance, scheduled_execution_time=datetime.now(UTC),
                                     resources=resources)
    assert refresh_stale_lists(context).__class__.__name__ == "SkipReason"  # everything is fresh

    # Five leads' stored answers expire (as if answered 100 days ago).
    expired = [r for (r,) in query(db, "SELECT DISTINCT record_id FROM lantern_results "
                                       "WHERE outcome IN ('found', 'not_found') ORDER BY 1 LIMIT 5")]
    fps = [f for (f,) in query(db, "SELECT request_fingerprint FROM lantern_results WHERE record_id IN "
                                   "(SELECT unnest(?::VARCHAR[]))", [expired])]
    assert len(fps) == 5
    long_ago = datetime.now(UTC) - timedelta(days=100)
    store = sqlite3.connect(db.with_suffix(".responses.sqlite"))
    with store:
        store.executemany("UPDATE responses SET received_at = ? WHERE request_fingerprint = ?",
                          [(long_ago.isoformat(), fp) for fp in fps])
    store.close()
    with duckdb.connect(str(db)) as conn:
        conn.execute("UPDATE lantern_results SET called_at = ? WHERE request_fingerprint IN "
                     "(SELECT unnest(?::VARCHAR[]))", [long_ago, fps])

    requests = refresh_stale_lists(build_schedule_context(instance=instance, resources=resources,
                                                          scheduled_execution_time=datetime.now(UTC)))
    assert [(r.partition_key, r.tags["enrichment/stale_lookups"]) for r in requests] == [("refresh_me", "5")]

    before = requests_by_provider(fast_sandbox)
    pipeline.run(leads, config)  # what the requested run does
    after = requests_by_provider(fast_sandbox)
    assert after["lantern"] - before["lantern"] == 5
    assert all(after[p] == before[p] for p in after if p != "lantern")
    refreshed = query(db, "SELECT count(*) FROM lantern_results WHERE NOT from_cache AND record_id IN "
                          "(SELECT unnest(?::VARCHAR[])) AND called_at > ?", [expired, long_ago])
    assert refreshed == [(5,)]


def test_budget_warning_and_pending_retry(pipeline: Pipeline, tmp_path: Path) -> None:
    # LeadMagic alone, 20 credits (4 mobiles at 5): the leads it cannot afford have nowhere else to go: pending.
    config = write_config(tmp_path / "c.yaml", fast_clients=True, waterfall={"order": ["leadmagic"]},
                          leadmagic={"max_credits_per_run": 20})
    leads = sample_file(tmp_path, "tight_budget", 30)
    result = pipeline.run(leads, config)

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    budget = evaluations["spend_below_budget_warning"]
    assert not budget.passed and budget.severity.value == "WARN"
    assert "leadmagic" in budget.metadata["detail"].value
    assert all(e.passed for name, e in evaluations.items() if name != "spend_below_budget_warning")

    skipped = {r for (r,) in query(pipeline.db, "SELECT record_id FROM leadmagic_results "
                                                "WHERE outcome = 'skipped_budget'")}
    pending = {r for (r,) in query(pipeline.db, "SELECT record_id FROM contacts WHERE status = 'pending'")}
    assert len(skipped) >= 10 and pending == skipped
    retry = retry_pending_leads(build_sensor_context(
        instance=pipeline.instance, resources={"enrichment": pipeline.resources(config)["enrichment"]}))
    assert [(r.partition_key, r.tags["enrichment/pending_leads"]) for r in retry] == [
        ("tight_budget", str(len(pending)))]


@pytest.mark.e2e
def test_two_lists_enriched_at_once_both_succeed(cli_env: dict[str, str], make_sandbox, tmp_path: Path) -> None:
    """DuckDB allows one writing process: the writers share a pool and wait their turn instead of failing."""
    sandbox = make_sandbox(fast_sandbox_config(limits=False))
    config = write_config(tmp_path / "c.yaml", fast_clients=True)
    env = prepare_env(cli_env, sandbox, config)
    first = sample_file(tmp_path, "list_one", 60)
    second = sample_file(tmp_path, "list_two", 60, seed=99)
    # contacts hold one row per record_id across lists: the second CRM export has its own ids.
    second.write_text(second.read_text(encoding="utf-8-sig").replace("CRM-", "ACC-"), encoding="utf-8")
    # The repo's dagster.yaml limits the pool to one step at a time; this instance gets the same rule.
    pools = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text(encoding="utf-8"))["concurrency"]
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(yaml.safe_dump({"concurrency": pools}), encoding="utf-8")
    for result in run_enrich_at_once([(["run", str(path)], env) for path in (first, second)], tmp_path):
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert instance.event_log_storage.get_concurrency_info("duckdb_writers").slot_count == 1
        assert len(instance.get_runs()) == 2
    db = env["ENRICHMENT_DB"]
    lists = dict(query(db, "SELECT list_id, count(*) FROM contacts GROUP BY list_id"))
    assert set(lists) == {"list_one", "list_two"} and all(n >= 50 for n in lists.values())
    stats = sandbox.stats()["vendors"]
    booked = {p: (n, c) for p, n, c in query(db, "SELECT provider, count(*), sum(credits) FROM credit_ledger "
                                                 "GROUP BY provider")}
    assert booked == {p: (stats[p]["requests"], float(stats[p]["credits_charged"])) for p in PROVIDERS
                      if stats[p]["requests"]}
