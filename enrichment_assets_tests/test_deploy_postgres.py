"""deploy/: the team instance on a real PostgreSQL server, used by the real `enrich` command.

Two "machines" are two DAGSTER_HOME folders holding the same deploy/dagster.yaml and sharing nothing but
the Postgres database: what one runs, the other sees, and the `duckdb_writers` pool's limit lives in
Postgres for both.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from enrichment_assets_tests.support import REPO_ROOT, require
from enrichment_assets_tests.support.cli import run_enrich
from enrichment_assets_tests.support.postgres import PostgresServer, running_postgres, server_bin_dir

DEPLOY = REPO_ROOT / "deploy"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bin_dir = server_bin_dir()
    require(bin_dir is not None, "PostgreSQL's server (initdb, pg_ctl; Debian package postgresql)")
    with running_postgres(bin_dir) as server:
        yield server


def machine_home(root: Path, name: str) -> Path:
    home = root / name / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    return home


def small_list(path: Path, rows: int) -> Path:
    with (REPO_ROOT / "data" / "inbox" / "sample_leads.csv").open(newline="", encoding="utf-8") as src:
        lines = src.read().splitlines()
    path.write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    return path


def test_deploy_instance_opens_on_postgres(postgres: PostgresServer, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped dagster.yaml is valid for the installed Dagster and puts every storage in Postgres."""
    for key, value in postgres.dagster_env(postgres.create_database("deploy_opens")).items():
        monkeypatch.setenv(key, value)
    home = machine_home(tmp_path, "a")
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert instance.run_monitoring_enabled
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    # A second process opening the same, now migrated, database (the webserver next to the daemon).
    with DagsterInstance.from_config(str(machine_home(tmp_path, "b"))) as instance:
        assert instance.get_runs() == []


@pytest.mark.e2e
def test_enrich_run_on_a_postgres_instance_is_seen_from_another_machine(
        postgres: PostgresServer, cli_env: dict[str, str], tmp_path: Path) -> None:
    pg_env = postgres.dagster_env(postgres.create_database("deploy_e2e"))
    env = {**cli_env, **pg_env, "DAGSTER_HOME": str(machine_home(tmp_path, "worker"))}
    leads = small_list(tmp_path / "team_list.csv", rows=20)
    result = run_enrich(["run", str(leads)], env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    # Another machine: its own DAGSTER_HOME folder, nothing shared with the worker but the database.
    other = machine_home(tmp_path, "webserver")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in pg_env.items():
            patch.setenv(key, value)
        with DagsterInstance.from_config(str(other)) as instance:
            runs = instance.get_runs(RunsFilter(job_name="enrich_list"))
            assert len(runs) == 1 and runs[0].status == DagsterRunStatus.SUCCESS
            assert runs[0].tags.get("dagster/partition") == "team_list"
            materialization = instance.get_latest_materialization_event(AssetKey("contacts"))
            assert materialization is not None and materialization.run_id == runs[0].run_id
            # The writers' pool is a row in Postgres: every process and machine claims from the same one.
            info = instance.event_log_storage.get_concurrency_info("duckdb_writers")
            assert info.slot_count == 1 and info.active_slot_count == 0
