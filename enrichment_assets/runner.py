"""Run the whole graph for one lead list in a Dagster instance, the way `enrich run` does."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance, EventLogEntry

from enrichment_assets.dbt_parse_ahead import DbtParseAhead, parse_for
from enrichment_assets.dead_runs import HOST_TAG, PID_TAG, DeadRunWatch, fail_dead_cli_runs
from enrichment_assets.settings import load_settings
from enrichment_assets.storage.warehouse import connect
from enrichment_assets.vendors.registry import PROVIDER_SPECS


@dataclass
class ProviderLine:
    provider: str
    calls: int
    cache_hits: int
    found: int
    credits: float
    usd: float
    #: Requests of this run with no usable answer, and the credits they may have cost on top of ``credits``.
    unknown: int = 0
    uncertain: float = 0.0


@dataclass
class RunSummary:
    leads: int = 0
    rejected: int = 0
    mobiles: int = 0
    phones: int = 0
    pending: int = 0
    providers: list[ProviderLine] = field(default_factory=list)
    #: Provider -> leads of the list it was not asked about for want of an API key (pending until a keyed run).
    skipped_no_key: dict[str, int] = field(default_factory=dict)
    #: Providers whose USD rests on an assumed price per credit (the vendor publishes none).
    usd_assumed: list[str] = field(default_factory=list)
    #: What the money checks of this run warned about (``SUMMARY_CHECKS``), for the summary.
    warnings: list[str] = field(default_factory=list)


#: Asset checks whose warnings the run summary repeats: they concern money the user is paying right now.
SUMMARY_CHECKS = ("ledger_matches_vendor_balance", "spend_below_budget_warning")


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    summary: RunSummary | None
    #: What each failed step said (a refusal over ``max_usd_per_run`` among them).
    failures: list[str] = field(default_factory=list)


def register_list(instance: DagsterInstance, list_id: str) -> None:
    from enrichment_assets.dagster_defs.partitions import lead_lists

    if not instance.has_dynamic_partition(lead_lists.name, list_id):
        instance.add_dynamic_partitions(lead_lists.name, [list_id])


def load_definitions():
    """The code location's definitions (importing them loads dagster-dbt and checks the dbt manifest)."""
    from enrichment_assets.definitions import defs

    return defs


def _active_runs_of(instance: DagsterInstance, list_id: str) -> list:
    from dagster import DagsterRunStatus, RunsFilter

    return list(instance.get_runs(RunsFilter(
        statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING],
        tags={"dagster/partition": list_id})))


@contextlib.contextmanager
def one_run_per_list(instance: DagsterInstance, list_id: str, on_wait: Callable[[str], None] | None = None,
                     poll_seconds: float = 2.0) -> Iterator[None]:
    """Hold the list: wait while another ``enrich run`` of it (a file lock in the instance folder, released by the
    OS if that process dies) or a run of it started by Dagster (the inbox sensor, a schedule, the UI) is going.

    Waiting rather than refusing: the second run still has work (the file may have changed) and, run after the
    first, pays for nothing twice; a script need not retry. Runs launched by Dagster are held back the other way
    round by the run queue's limit of one run per ``dagster/partition`` value (dagster.yaml).
    """
    say = on_wait or (lambda message: None)
    folder = Path(instance.root_directory) / "list_locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{list_id}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            say(f"list '{list_id}' is being enriched by another `enrich run` (pid {holder}); waiting for it to "
                "finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            fail_dead_cli_runs(instance)
            announced: set[str] = set()
            while others := _active_runs_of(instance, list_id):
                fresh = [r.run_id for r in others if r.run_id not in announced]
                if fresh:
                    say(f"list '{list_id}' is being enriched by run(s) {', '.join(fresh)} "
                        f"({', '.join(sorted({r.tags.get('enrichment/trigger', 'dagster') for r in others}))}); "
                        "waiting for it to finish (if it is dead, terminate it in the Dagster UI)")
                    announced.update(fresh)
                time.sleep(poll_seconds)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_list(instance: DagsterInstance, path: Path, list_id: str, log_level: str = "INFO", *,
             columns: dict[str, str] | None = None, sheet: str | None = None,
             listener: Callable[[EventLogEntry], None] | None = None,
             on_wait: Callable[[str], None] | None = None) -> RunOutcome:
    """Register the list as a partition and materialize the whole graph for it, in process, once no other run of
    the list is going (``one_run_per_list``; ``on_wait`` hears why it waits).

    ``columns`` and ``sheet`` (``--map``, ``--sheet``) go to the ingestion step's run config. ``listener`` is
    called with each entry of the run's event log as it is stored (what `enrich run` draws its progress from).
    """
    defs = load_definitions()
    # What is loaded by now (Dagster, dbt-core, the definitions and their dbt manifest) lives as long as the
    # process, which makes this one run: frozen, it is left out of every full garbage collection (each heavy step
    # makes one, ``memory.py``). Measured on a 40-lead list, cold (user+system CPU): a rerun 9.1-9.3 -> 7.7-8.0 s,
    # a first run 16.5-16.8 -> 15.4-16.4 s.
    gc.freeze()
    register_list(instance, list_id)
    with one_run_per_list(instance, list_id, on_wait):
        return _run_list(defs, instance, path, list_id, log_level, columns=columns, sheet=sheet, listener=listener)


def _run_list(defs, instance: DagsterInstance, path: Path, list_id: str, log_level: str, *,
              columns: dict[str, str] | None, sheet: str | None,
              listener: Callable[[EventLogEntry], None] | None) -> RunOutcome:
    job = defs.resolve_job_def("enrich_list")
    run_id = str(uuid.uuid4())
    if listener is not None:
        instance.add_event_listener(run_id, listener)
    # The dbt step's parse, done while the walk waits on the vendors (dbt_parse_ahead.py).
    instance.add_event_listener(run_id, DbtParseAhead(parse_for(defs.resources["dbt"], load_settings().db_path))
                                .listener)
    # While this run goes (waiting for a `duckdb_writers` slot among other things), a run killed meanwhile must not
    # keep its slots: the watch fails dead `enrich run` runs and frees the slots of finished ones.
    with DeadRunWatch(instance):
        result = _execute(job, instance, path, list_id, log_level, run_id, columns, sheet)
    return _outcome(result, list_id)


def _execute(job, instance: DagsterInstance, path: Path, list_id: str, log_level: str, run_id: str,
             columns: dict[str, str] | None, sheet: str | None):
    return job.execute_in_process(
        instance=instance,
        partition_key=list_id,
        run_id=run_id,
        run_config={
            "ops": {"lead_ingestion": {"config": {"path": str(path), "columns": dict(columns or {}),
                                                  "sheet": sheet or ""}}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        tags={"enrichment/trigger": "cli", "enrichment/file": path.name, PID_TAG: str(os.getpid()),
              HOST_TAG: socket.gethostname()},
        raise_on_error=False,
    )


def _outcome(result, list_id: str) -> RunOutcome:
    summary = summarize_run(list_id, result.run_id)
    if summary is not None:
        summary.warnings = [e.description for e in result.get_asset_check_evaluations()
                            if not e.passed and e.check_name in SUMMARY_CHECKS and e.description]
    return RunOutcome(run_id=result.run_id, success=result.success, summary=summary,
                      failures=step_failures(result.all_events))


def dbt_step_key() -> str:
    """The key of the step that runs `dbt build` (``dagster_defs/dbt_assets.py``)."""
    from enrichment_assets.dagster_defs.dbt_assets import dbt_marts

    return dbt_marts.op.name


def step_failures(events) -> list[str]:
    """The message of each failed step: a ``Failure``'s description, else the error's message."""
    messages = []
    for event in events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        user = data.user_failure_data
        text = (user.description if user is not None and user.description else None) or \
            (data.error.message.strip() if data.error is not None else None)
        if text:
            messages.append(f"{event.step_key}: {text}")
    return messages


def summarize_run(list_id: str, run_id: str) -> RunSummary | None:
    from enrichment_assets.config import ConfigError, load_config

    settings = load_settings()
    if not settings.db_path.exists():
        return None
    conn = connect(settings.db_path)
    try:
        summary = RunSummary()
        try:
            config = load_config(settings.config_path)
            summary.usd_assumed = [s.name for s in PROVIDER_SPECS
                                   if s.usd_is_assumed(config.provider(s.name).usd_per_credit)]
        except ConfigError:
            pass
        summary.leads = conn.execute("SELECT count(*) FROM raw_leads WHERE list_id = ?", [list_id]).fetchone()[0]
        summary.rejected = conn.execute(
            "SELECT count(*) FROM rejected_leads WHERE list_id = ?", [list_id]).fetchone()[0]
        summary.mobiles, summary.phones, summary.pending = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'mobile_found'), "
            "count(*) FILTER (WHERE status IN ('mobile_found', 'phone_found')), "
            "count(*) FILTER (WHERE status = 'pending') FROM contacts WHERE list_id = ?",
            [list_id]).fetchone()
        for spec in PROVIDER_SPECS:
            calls, credits, usd, unknown, uncertain = conn.execute(
                "SELECT count(*), coalesce(sum(credits), 0), coalesce(sum(usd), 0), "
                "count(*) FILTER (WHERE outcome = 'unknown'), coalesce(sum(uncertain_credits), 0) FROM credit_ledger "
                "WHERE run_id = ? AND provider = ?", [run_id, spec.name]).fetchone()
            cache_hits, found, no_key = conn.execute(
                f"SELECT count(*) FILTER (WHERE from_cache), count(*) FILTER (WHERE outcome = 'found'), "  # noqa: S608 - names from code, values bound
                f"count(*) FILTER (WHERE outcome = 'skipped_no_key') "
                f"FROM {spec.results_table} WHERE list_id = ?", [list_id]).fetchone()
            if no_key:
                summary.skipped_no_key[spec.name] = no_key
            if calls or cache_hits or found:
                summary.providers.append(ProviderLine(spec.name, calls, cache_hits, found, credits, usd, unknown,
                                                      float(uncertain)))
        return summary
    finally:
        conn.close()
