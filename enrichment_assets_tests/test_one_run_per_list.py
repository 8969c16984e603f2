"""At most one run per lead list: `enrich run` waits for another `enrich run` of the list and for a run of it
launched by Dagster (sensor, schedule, UI); the run queue's tag limit covers the other direction (test_sensor)."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, instance_for_test

from enrichment_assets.runner import one_run_per_list
from enrichment_assets_tests.support.cli import start_enrich
from enrichment_assets_tests.support.files import write_leads


def _enter_in_thread(instance: DagsterInstance, list_id: str, messages: list[str]) -> tuple[threading.Thread,
                                                                                            threading.Event]:
    entered = threading.Event()

    def go() -> None:
        with one_run_per_list(instance, list_id, messages.append, poll_seconds=0.01):
            entered.set()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, entered


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_second_enrich_run_of_a_list_waits_for_the_first() -> None:
    with DagsterInstance.ephemeral() as instance:
        messages: list[str] = []
        with one_run_per_list(instance, "spring"):
            thread, entered = _enter_in_thread(instance, "spring", messages)
            _wait_for(lambda: messages)
            assert not entered.is_set()
            assert "another `enrich run`" in messages[0] and "waiting" in messages[0]
            # Another list is not held up.
            with one_run_per_list(instance, "autumn", messages.append):
                pass
            assert len(messages) == 1
        thread.join(10)
        assert entered.is_set()


def test_enrich_run_waits_for_a_run_of_the_list_started_by_dagster() -> None:
    # An instance on disk, as users have: the ephemeral one keeps its runs in one in-memory SQLite database shared
    # by the threads, where a write while the waiting thread reads fails at once ("database table is locked").
    with instance_for_test() as instance:
        instance.add_run(DagsterRun(job_name="enrich_list", run_id="sensorrun1", status=DagsterRunStatus.STARTED,
                                    tags={"dagster/partition": "spring", "enrichment/trigger": "inbox"}))
        messages: list[str] = []
        thread, entered = _enter_in_thread(instance, "spring", messages)
        _wait_for(lambda: messages)
        assert "sensorrun1" in messages[0] and "inbox" in messages[0]
        time.sleep(0.1)
        assert not entered.is_set() and len(messages) == 1  # announced once, still waiting
        instance.report_run_failed(instance.get_run_by_id("sensorrun1"))
        thread.join(10)
        assert entered.is_set()


@pytest.mark.e2e
def test_two_enrich_runs_of_one_list_one_waits(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The real command: while the list is held, a second `enrich run` says it waits and does not start."""
    leads = tmp_path / "held.csv"
    write_leads(leads, 5)
    lock = Path(cli_env["DAGSTER_HOME"]) / "list_locks" / "held.lock"
    lock.parent.mkdir(parents=True)
    log = tmp_path / "second.log"
    with lock.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write("4242")
        handle.flush()
        proc = start_enrich(["run", str(leads)], cli_env, log)
        try:
            _wait_for(lambda: "waiting for it to finish" in log.read_text(errors="replace"), timeout=180)
            assert "pid 4242" in log.read_text(errors="replace")
            time.sleep(1)
            assert proc.poll() is None and not Path(cli_env["ENRICHMENT_DB"]).exists()  # nothing ran meanwhile
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    assert proc.wait(timeout=300) == 0, log.read_text(errors="replace")[-3000:]
    assert "5 leads" in log.read_text(errors="replace")
