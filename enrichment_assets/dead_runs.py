"""Runs whose process died, and the `duckdb_writers` pool slots they hold.

A run killed with SIGKILL (or OOM, or a power cut) inside a step of the ``duckdb_writers`` pool keeps that
step's slot: Dagster frees a run's slots when the run ends, and nothing ends a run whose process is gone. Every
later step that writes the DuckDB file would wait for the slot forever.

Where Dagster runs the runs (a daemon, run workers), Dagster owns this: run monitoring marks a dead worker's
run failed, and ``run_monitoring.free_slots_after_run_end_seconds`` (set in ``deploy/dagster.yaml`` and the
repository's ``dagster.yaml``) has the daemon free the slots of finished runs. `enrich run` runs the job in its
own process with no daemon, so it does both itself: before a run and, while its own run goes, every few
seconds (``DeadRunWatch``): a run started by `enrich run` on this host whose process is gone is marked failed,
and the slots of runs that have ended are freed, so a run already waiting for the slot proceeds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

logger = logging.getLogger("enrichment_assets.runner")

PID_TAG, HOST_TAG = "enrichment/pid", "enrichment/host"

_ENDED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]

#: How often a running `enrich run` looks for dead runs and held slots.
WATCH_SECONDS = 3.0


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_cli_runs(instance: DagsterInstance) -> list[str]:
    """Mark as failed the `enrich run` runs of this host whose process died (SIGKILL, OOM, power cut), and free
    the pool slots they held.

    Nothing else ever ends such a run: it would stay STARTED forever, the ledger would keep treating its
    unanswered requests as still in flight instead of showing them as ``unknown``, and its slots would be held.
    """
    failed = []
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING],
                                            tags={"enrichment/trigger": "cli"})):
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if host != socket.gethostname() or not (pid or "").isdigit() or int(pid) == os.getpid():
            continue
        if not _process_alive(int(pid)):
            instance.report_run_failed(run, f"the `enrich run` process (pid {pid}) died before the run finished")
            failed.append(run.run_id)
    free_slots_of_ended_runs(instance)
    return failed


def free_slots_of_ended_runs(instance: DagsterInstance) -> list[str]:
    """Free the pool slots (and queued slot claims) still held by runs that have ended; their ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    run_ids = storage.get_concurrency_run_ids()
    if not run_ids:
        return []
    ended = [r.run_id for r in instance.get_runs(RunsFilter(run_ids=list(run_ids), statuses=_ENDED))]
    for run_id in ended:
        storage.free_concurrency_slots_for_run(run_id)
        logger.info("freed the pool slots held by run %s, which has ended", run_id)
    return ended


class DeadRunWatch:
    """While a block runs, call ``fail_dead_cli_runs`` every ``seconds`` from a thread of its own."""

    def __init__(self, instance: DagsterInstance, seconds: float = WATCH_SECONDS) -> None:
        self._instance = instance
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dead-run-watch", daemon=True)

    def __enter__(self) -> DeadRunWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                fail_dead_cli_runs(self._instance)
            except Exception:
                logger.warning("could not look for dead runs", exc_info=True)
