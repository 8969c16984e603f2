"""A run killed inside a step that writes the DuckDB file must not keep its `duckdb_writers` slot.

A real Dagster instance (SQLite storage, the pool limited to one slot as in dagster.yaml); the dead run's process
is a real process that has exited. Bug (b) of issue 14: later runs waited for the slot forever.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from pathlib import Path

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from enrichment_assets.dead_runs import HOST_TAG, PID_TAG, DeadRunWatch, fail_dead_cli_runs

POOL = "duckdb_writers"


def _instance(tmp_path: Path) -> DagsterInstance:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n"
                                           "    default_limit: 1\n", encoding="utf-8")
    instance = DagsterInstance.from_config(str(tmp_path))
    instance.event_log_storage.initialize_concurrency_limit_to_default(POOL)  # as the executor does on first use
    return instance


def _cli_run(instance: DagsterInstance, pid: int) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name="enrich_list", run_id=run_id, status=DagsterRunStatus.STARTED,
                                tags={"enrichment/trigger": "cli", PID_TAG: str(pid), HOST_TAG: socket.gethostname()}))
    return run_id


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _holders(instance: DagsterInstance) -> set[str]:
    return {s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots}


def test_a_dead_enrich_run_is_failed_and_its_slot_freed(tmp_path: Path) -> None:
    with _instance(tmp_path) as instance:
        storage = instance.event_log_storage
        dead = _cli_run(instance, _dead_pid())
        assert storage.claim_concurrency_slot(POOL, dead, "contacts").is_claimed
        waiting = str(uuid.uuid4())
        assert not storage.claim_concurrency_slot(POOL, waiting, "lead_ingestion").is_claimed  # it waits

        assert fail_dead_cli_runs(instance) == [dead]
        assert instance.get_run_by_id(dead).status is DagsterRunStatus.FAILURE
        assert dead not in _holders(instance)
        assert storage.claim_concurrency_slot(POOL, waiting, "lead_ingestion").is_claimed


def test_a_live_run_keeps_its_slot_and_an_ended_run_loses_it(tmp_path: Path) -> None:
    with _instance(tmp_path) as instance:
        storage = instance.event_log_storage
        alive = _cli_run(instance, subprocess.os.getppid())  # pytest's parent: alive, not this process
        assert storage.claim_concurrency_slot(POOL, alive, "contacts").is_claimed
        assert fail_dead_cli_runs(instance) == [] and _holders(instance) == {alive}
        # Ended by someone else (the code server, the UI) without freeing its slot: freed on the next look.
        instance.report_run_failed(instance.get_run_by_id(alive), "its worker died")
        fail_dead_cli_runs(instance)
        assert _holders(instance) == set()


def test_the_watch_frees_the_slot_a_running_enrich_run_waits_for(tmp_path: Path) -> None:
    with _instance(tmp_path) as instance:
        storage = instance.event_log_storage
        victim = subprocess.Popen(["sleep", "60"])
        try:
            dead = _cli_run(instance, victim.pid)
            assert storage.claim_concurrency_slot(POOL, dead, "contacts").is_claimed
            waiting = str(uuid.uuid4())
            with DeadRunWatch(instance, seconds=0.1):
                assert not storage.claim_concurrency_slot(POOL, waiting, "lead_ingestion").is_claimed
                victim.kill()
                victim.wait()
                deadline = time.monotonic() + 30
                while not storage.claim_concurrency_slot(POOL, waiting, "lead_ingestion").is_claimed:
                    assert time.monotonic() < deadline, "the dead run's slot was never freed"
                    time.sleep(0.1)
        finally:
            victim.kill()
            victim.wait()
        assert instance.get_run_by_id(dead).status is DagsterRunStatus.FAILURE
