"""Scheduled and concurrent work: TTL refresh, pending retries, budget warnings, two lists at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, build_schedule_context, build_sensor_context

from enrichment_assets.dagster_defs.schedules import refresh_stale_lists, retry_pending_leads
from enrichment_assets.storage.staleness import pending_leads_by_list, stale_lookups_by_list
from enrichment_assets.storage.warehouse import ensure_schema
from enrichment_assets_tests.conftest import REPO_ROOT
from enrichment_assets_tests.test_waterfall_e2e import (  # noqa: F401 - fixtures
    env,
    leads_file,
    ledger_by_provider,
    query,
    sandbox,
    sandbox_counts,
    write_config,
)

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


def enrich_cli(path: Path, env: dict[str, str], config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "enrichment_assets.cli", "run", str(path)],
                            env={**env, "ENRICHMENT_CONFIG": str(config)}, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, out[-2000:] + err[-4000:]
    return out


@pytest.mark.e2e
def test_ttl_refresh_reenriches_only_expired_lookups(env, sandbox, tmp_path: Path, monkeypatch) -> None:
    config = write_config(tmp_path / "c.yaml", stop_when="mobile")
    leads = leads_file(tmp_path, sandbox, 40, name="refresh_me")
    finish(enrich_cli(leads, env, config))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ENRICHMENT_CONFIG", str(config))

    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        context = build_schedule_context(instance=instance, scheduled_execution_time=datetime.now(UTC))
        assert refresh_stale_lists(context).__class__.__name__ == "SkipReason"  # everything is fresh

        # Five leads' stored answers expire (as if answered 100 days ago).
        expired = [r for (r,) in query(env, "SELECT DISTINCT record_id FROM lantern_results "
                                            "WHERE outcome IN ('found', 'not_found') ORDER BY 1 LIMIT 5")]
        fps = [f for (f,) in query(env, "SELECT request_fingerprint FROM lantern_results WHERE record_id IN "
                                        "(SELECT unnest(?::VARCHAR[]))", [expired])]
        assert len(fps) == 5
        long_ago = datetime.now(UTC) - timedelta(days=100)
        store = sqlite3.connect(Path(env["ENRICHMENT_DB"]).with_suffix(".responses.sqlite"))
        with store:
            store.executemany("UPDATE responses SET received_at = ? WHERE request_fingerprint = ?",
                              [(long_ago.isoformat(), fp) for fp in fps])
        store.close()
        with duckdb.connect(env["ENRICHMENT_DB"]) as conn:
            conn.execute("UPDATE lantern_results SET called_at = ? WHERE request_fingerprint IN "
                         "(SELECT unnest(?::VARCHAR[]))", [long_ago, fps])

        requests = refresh_stale_lists(build_schedule_context(instance=instance,
                                                              scheduled_execution_time=datetime.now(UTC)))
        assert [(r.partition_key, r.tags["enrichment/stale_lookups"]) for r in requests] == [("refresh_me", "5")]

    before = sandbox_counts(sandbox)
    finish(enrich_cli(leads, env, config))  # what the requested run does
    after = sandbox_counts(sandbox)
    assert after["lantern"][0] - before["lantern"][0] == 5
    assert all(after[p] == before[p] for p in after if p != "lantern")
    refreshed = query(env, "SELECT count(*) FROM lantern_results WHERE NOT from_cache AND record_id IN "
                           "(SELECT unnest(?::VARCHAR[])) AND called_at > ?", [expired, long_ago])
    assert refreshed == [(5,)]


@pytest.mark.e2e
def test_budget_warning_and_pending_retry(env, sandbox, tmp_path: Path, monkeypatch) -> None:
    config = write_config(tmp_path / "c.yaml", stop_when="never", leadmagic={"max_credits_per_run": 20})
    leads = leads_file(tmp_path, sandbox, 30, name="tight_budget")
    finish(enrich_cli(leads, env, config))
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        evaluations = {
            e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
            for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        }
        budget = evaluations["spend_below_budget_warning"]
        assert not budget.passed and budget.severity.value == "WARN"
        assert "leadmagic" in budget.metadata["detail"].value
        assert all(e.passed for name, e in evaluations.items() if name != "spend_below_budget_warning")

        pending = query(env, "SELECT count(*) FROM contacts WHERE status = 'pending'")[0][0]
        result = retry_pending_leads(build_sensor_context(instance=instance))
        if pending:
            assert [r.partition_key for r in result] == ["tight_budget"]
        else:  # every budget-skipped lead found a mobile elsewhere
            assert result.__class__.__name__ == "SkipReason"


@pytest.mark.e2e
def test_two_lists_enriched_at_once_both_succeed(env, sandbox, tmp_path: Path) -> None:
    """DuckDB allows one writing process: the writers share a pool and wait their turn instead of failing."""
    config = write_config(tmp_path / "c.yaml", stop_when="mobile")
    first = leads_file(tmp_path, sandbox, 60, name="list_one")
    second = tmp_path / "list_two.csv"
    from enrichment_assets.sandbox.sample_data import write_sample_leads

    write_sample_leads(second, sandbox.state.world, n=60, seed=99)
    # contacts hold one row per record_id across lists: the second CRM export has its own ids.
    second.write_text(second.read_text(encoding="utf-8-sig").replace("CRM-", "ACC-"), encoding="utf-8")
    # The repo's dagster.yaml limits the pool to one step at a time; this instance gets the same rule.
    pools = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text(encoding="utf-8"))["concurrency"]
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(yaml.safe_dump({"concurrency": pools}), encoding="utf-8")
    processes = [enrich_cli(first, env, config), enrich_cli(second, env, config)]
    for process in processes:
        finish(process)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert instance.event_log_storage.get_concurrency_info("duckdb_writers").slot_count == 1
        assert len(instance.get_runs()) == 2
    lists = dict(query(env, "SELECT list_id, count(*) FROM contacts GROUP BY list_id"))
    assert set(lists) == {"list_one", "list_two"} and all(n >= 50 for n in lists.values())
    charged = sandbox_counts(sandbox)
    assert ledger_by_provider(env) == {p: (n, float(c)) for p, (n, c) in charged.items() if n}
