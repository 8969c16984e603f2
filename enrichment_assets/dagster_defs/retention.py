"""The daily retention pass: a thin adapter over ``storage/retention.py``."""

from datetime import UTC, datetime

from dagster import DefaultScheduleStatus, OpExecutionContext, Out, Output, ScheduleDefinition, job, op
from dagster_duckdb import DuckDBResource

from enrichment_assets.dagster_defs.constants import DUCKDB_POOL
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse
from enrichment_assets.storage.personal_data_log import RequestCounts, log_request
from enrichment_assets.storage.retention import apply_retention
from enrichment_assets.waterfall.suppression import load_suppression


@op(pool=DUCKDB_POOL, out=Out(dict, description="What was deleted, as counts"))
def apply_personal_data_retention(context: OpExecutionContext, enrichment: EnrichmentSettings,
                                  duckdb: DuckDBResource) -> Output:
    """Delete vendor answers older than retention_days (response store and <provider>_results; their leads are
    walked again at the list's next run), drop the leads and contacts of lists not loaded again within it, and strip
    the identifiers from old ledger rows (amounts stay). Counts only in the metadata, never who."""
    settings = enrichment.settings()
    config = enrichment.config()
    now = context.run.tags.get("dagster/scheduled_execution_time")
    now = datetime.fromisoformat(now) if now else datetime.now(UTC)
    with enrichment.response_store() as store, warehouse(duckdb) as conn:
        report = apply_retention(conn, store, retention_days=config.retention_days, now=now,
                                 marts_dir=settings.marts_dir, out_dir=settings.out_dir,
                                 provider_order=config.active_order,
                                 suppression=load_suppression(settings.suppression_path))
        log_request(conn, "retention", "schedule:personal_data_retention", None, RequestCounts(
            rows_deleted=report.rows_deleted_total, answers_deleted=report.answers_deleted,
            ledger_entries_scrubbed=report.ledger_rows_scrubbed))
    context.log.info(f"Retention ({config.retention_days:g} days, cutoff {report.cutoff:%Y-%m-%d %H:%M} UTC): "
                     f"{report.lists_dropped} lists dropped, {report.answers_deleted} stored answers and "
                     f"{report.expired_result_rows} result rows deleted, {report.leads_to_walk_again} leads to walk "
                     f"again, {report.ledger_rows_scrubbed} ledger rows kept without identifiers")
    return Output(report.metadata(), metadata=report.metadata())


@job(description="Delete personal data older than retention_days (README, \"Personal data\").")
def personal_data_retention():
    apply_personal_data_retention()


personal_data_retention_schedule = ScheduleDefinition(
    name="personal_data_retention",
    job=personal_data_retention,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description=("Every night at 03:00, before the refresh of stale lists: deletes vendor answers older than "
                 "retention_days and the leads of lists not loaded again within it; the ledger keeps the amounts."),
)
