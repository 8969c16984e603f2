"""Scheduled work: refresh expired vendor answers, retry pending leads.

Both only *request* runs of the ``enrich_list`` job for whole lists; the waterfall then calls a vendor only
for lookups whose stored answer expired (older than ``cache_ttl_days``) or never came, so fresh leads cost
nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    schedule,
    sensor,
)

from enrichment_assets.dagster_defs.constants import RETRY_PENDING_TRIGGER, TRIGGER_TAG, TTL_REFRESH_TRIGGER
from enrichment_assets.dagster_defs.jobs import enrich_list_job
from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.resources import EnrichmentSettings
from enrichment_assets.storage.staleness import pending_leads_by_list, stale_lookups_by_list

#: Run tags: how many expired lookups (refresh) or pending leads (retry) a requested run is for.
STALE_LOOKUPS_TAG = "enrichment/stale_lookups"
PENDING_LEADS_TAG = "enrichment/pending_leads"


def _read_only_warehouse(path: Path) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection, or None while a run holds the write lock (try again next tick).

    Not the ``duckdb`` resource: it opens the file for writing and retries while the lock is held, and a tick
    should neither wait on a run nor take its lock.
    """
    if not path.exists():
        return None
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException:
        return None


def stale_list_requests(enrichment: EnrichmentSettings, known_lists: set[str], now: datetime
                        ) -> list[RunRequest] | str:
    """Run requests for every registered list with expired answers, or the reason there are none."""
    conn = _read_only_warehouse(enrichment.settings().db_path)
    if conn is None:
        return "The warehouse is busy or missing; trying again at the next tick."
    try:
        ttl = enrichment.config().cache_ttl_days
        stale = stale_lookups_by_list(conn, ttl, now)
    finally:
        conn.close()
    requests = [
        RunRequest(
            run_key=f"refresh:{list_id}:{now:%Y-%m-%d}",
            partition_key=list_id,
            tags={TRIGGER_TAG: TTL_REFRESH_TRIGGER, STALE_LOOKUPS_TAG: str(count)},
        )
        for list_id, count in stale.items() if list_id in known_lists
    ]
    return requests or f"No answers older than {ttl:g} days."


@schedule(
    job=enrich_list_job,
    cron_schedule="0 4 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Every night, re-enriches each lead list that holds vendor answers older than cache_ttl_days: one run "
        "per such list, in which only the expired lookups reach a vendor (fresh ones come from the store)."
    ),
)
def refresh_stale_lists(context: ScheduleEvaluationContext, enrichment: EnrichmentSettings
                        ) -> list[RunRequest] | SkipReason:
    known = set(context.instance.get_dynamic_partitions(lead_lists.name))
    now = context.scheduled_execution_time or datetime.now(UTC)
    result = stale_list_requests(enrichment, known, now)
    if isinstance(result, str):
        return SkipReason(result)
    for request in result:
        context.log.info(f"List '{request.partition_key}': {request.tags[STALE_LOOKUPS_TAG]} expired "
                         "lookups to refresh")
    return result


@sensor(
    job=enrich_list_job,
    minimum_interval_seconds=3600,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Retries lists with pending leads (a provider ran out of credits, hit its budget or kept failing), once "
        "per list after each run that left them pending. Off by default: turn it on after topping up credits."
    ),
)
def retry_pending_leads(context: SensorEvaluationContext, enrichment: EnrichmentSettings
                        ) -> list[RunRequest] | SkipReason:
    conn = _read_only_warehouse(enrichment.settings().db_path)
    if conn is None:
        return SkipReason("The warehouse is busy or missing; trying again at the next tick.")
    try:
        pending = pending_leads_by_list(conn)
        last_runs = dict(conn.execute("SELECT list_id, max(enriched_at) FROM contacts GROUP BY list_id").fetchall())
    finally:
        conn.close()
    known = set(context.instance.get_dynamic_partitions(lead_lists.name))
    requests = [
        RunRequest(
            # One retry per list per merge that left it pending: a list that stays pending is not hammered.
            run_key=f"retry:{list_id}:{last_runs.get(list_id)}",
            partition_key=list_id,
            tags={TRIGGER_TAG: RETRY_PENDING_TRIGGER, PENDING_LEADS_TAG: str(count)},
        )
        for list_id, count in pending.items() if list_id in known
    ]
    return requests or SkipReason("No pending leads.")
