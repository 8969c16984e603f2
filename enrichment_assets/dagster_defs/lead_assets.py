"""Lead ingestion assets: ``raw_leads`` and ``rejected_leads`` for one lead list."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from dagster_duckdb import DuckDBResource

from enrichment_assets.cost_model.list_forecast import ListForecastInputs, forecast_loaded_list
from enrichment_assets.dagster_defs.constants import (
    CSV_KIND,
    DUCKDB_KIND,
    DUCKDB_POOL,
    EXCEL_KIND,
    LEADS_GROUP,
    OWNERS,
    TRIGGER_TAG,
    TTL_REFRESH_TRIGGER,
)
from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.previews import Column, email, identifier, markdown_table, yes
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse
from enrichment_assets.dagster_defs.table_schemas import table_metadata
from enrichment_assets.leads.ingest import SUPPORTED_SUFFIXES, LeadFileError, ingest_lead_file, list_id_for
from enrichment_assets.memory import release_freed_memory
from enrichment_assets.storage.retention import mark_list_loaded
from enrichment_assets.storage.segment_rates import load_model
from enrichment_assets.waterfall.suppression import load_suppression


class LeadFileConfig(Config):
    """Which file to read for this list; empty means: find it in the inbox or reuse the last file read.

    ``columns`` (lead field -> the file's column, as ``enrich run --map``) adds to and overrides
    ``columns:`` in enrichment.yaml; ``sheet`` names the Excel sheet to read (default: the first).
    """

    path: str = ""
    columns: dict[str, str] = {}  # noqa: RUF012 - a pydantic field: each config gets its own copy
    sheet: str = ""


@dataclass(frozen=True)
class LeadSource:
    """The file to read and how: the run's own column mapping and sheet, if any."""

    path: Path
    columns: dict[str, str]
    sheet: str | None


def last_lead_source(context: AssetExecutionContext, list_id: str) -> dict:
    """The metadata of the list's last ``raw_leads`` materialization (empty if none)."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("raw_leads"), asset_partitions=[list_id]), limit=1
    ).records
    for record in records:
        mat = record.asset_materialization
        if mat:
            return {key: value.value for key, value in mat.metadata.items()}
    return {}


def resolve_lead_file(context: AssetExecutionContext, config: LeadFileConfig, inbox: Path) -> LeadSource:
    list_id = context.partition_key
    if config.path:
        return LeadSource(Path(config.path).expanduser().resolve(), dict(config.columns), config.sheet or None)
    last = last_lead_source(context, list_id)
    path = None
    if inbox.is_dir():
        for candidate in sorted(inbox.iterdir()):
            if (candidate.suffix.lower() in SUPPORTED_SUFFIXES and not candidate.name.startswith("~$")
                    and list_id_for(candidate) == list_id):
                path = candidate
                break
    # Else reuse the path of this list's last materialization (a file registered with `enrich run PATH`).
    if path is None and "source_path" in last:
        path = Path(str(last["source_path"]))
    if path is None:
        raise FileNotFoundError(f"No file for lead list '{list_id}': put it in {inbox} or run `enrich run PATH`.")
    columns, sheet = dict(config.columns), config.sheet or None
    if str(path) == str(last.get("source_path")):
        # A scheduled rerun reads the file the way the run that registered it did (`--map`, `--sheet`).
        columns = columns or json.loads(str(last.get("run_columns") or "{}"))
        sheet = sheet or (str(last["run_sheet"]) if last.get("run_sheet") else None)
    return LeadSource(path, columns, sheet)


@multi_asset(
    specs=[
        AssetSpec(
            "raw_leads",
            description=(
                "Your lead list, cleaned: one row per record_id with names trimmed, LinkedIn URLs in one "
                "canonical form, emails lowercased and checked, the company domain taken from the website, "
                "and the country as an ISO code. Only these leads are ever sent to a vendor. Each materialization "
                "carries the forecast of the run (expected calls, credits, USD with a low-high range, mobiles, "
                "leads answered free from stored answers), made before any vendor is called."
            ),
            group_name=LEADS_GROUP, kinds={DUCKDB_KIND, CSV_KIND, EXCEL_KIND}, owners=OWNERS, partitions_def=lead_lists,
            metadata=table_metadata("raw_leads"),
        ),
        AssetSpec(
            "rejected_leads",
            description=(
                "Rows of your lead list that were set aside instead of enriched, each with a plain reason "
                "(missing record_id, duplicate record_id, nothing to look up, malformed field) and the raw row, "
                "so you can fix them in the CRM. Rejected rows never stop a run and are never paid for."
            ),
            group_name=LEADS_GROUP, kinds={DUCKDB_KIND}, owners=OWNERS, partitions_def=lead_lists,
            deps=["raw_leads"],
            metadata=table_metadata("rejected_leads"),
        ),
    ],
    partitions_def=lead_lists,
    pool=DUCKDB_POOL,
)
def lead_ingestion(context: AssetExecutionContext, config: LeadFileConfig, enrichment: EnrichmentSettings,
                   duckdb: DuckDBResource):
    """Read one lead file (CSV, Parquet or Excel; CRM and prospecting-tool exports are recognised by their
    headers), normalize it, and load raw_leads and rejected_leads. A file byte for byte identical to the one the
    list was last loaded from, read with the same column mapping, is not read again."""
    settings = enrichment.settings()
    source = resolve_lead_file(context, config, settings.inbox)
    path = source.path
    context.log.info(f"Reading lead list '{context.partition_key}' from {path.name}")
    try:
        summary = ingest_lead_file(lambda: warehouse(duckdb), path, context.partition_key, columns=source.columns,
                                   sheet=source.sheet, config_columns=enrichment.config().columns)
    except LeadFileError as exc:
        raise Failure(description=str(exc)) from None
    finally:
        release_freed_memory()
    with warehouse(duckdb) as conn:
        # Retention drops lists nobody loads any more: the nightly refresh of old answers does not count as a load.
        if context.run.tags.get(TRIGGER_TAG) != TTL_REFRESH_TRIGGER:
            mark_list_loaded(conn, context.partition_key, datetime.now(UTC))
        preview_rows = conn.execute(
            "SELECT record_id, first_name, company, country, email, linkedin_url IS NOT NULL "
            "FROM raw_leads WHERE list_id = ? ORDER BY row_number LIMIT 10", [context.partition_key]
        ).fetchall()
        reasons = conn.execute(
            "SELECT split_part(reason, ' (', 1) AS r, count(*) FROM rejected_leads WHERE list_id = ? "
            "GROUP BY r ORDER BY 2 DESC LIMIT 10", [context.partition_key]
        ).fetchall()
    preview = markdown_table([Column("record_id", identifier), "first name", "company", "country",
                              Column("email", email), Column("LinkedIn", yes)], preview_rows)
    reason_md = markdown_table(["reason", "rows"], reasons)
    if summary.reused:
        context.log.info(f"{path.name} is byte for byte the file this list was last loaded from: rows kept")
    read_as = summary.file_format + (f", {summary.encoding}" if summary.encoding else "") + (
        f", sheet '{summary.sheet}'" if summary.sheet else "")
    context.log.info(f"{summary.leads} leads loaded, {summary.rejected} rows rejected ({read_as})")
    config = enrichment.config()
    with warehouse(duckdb) as conn:
        inputs = ListForecastInputs(config, load_model(conn, config), settings.mode,
                                    load_suppression(settings.suppression_path), settings.response_store_path,
                                    cipher=enrichment.store_cipher(), state_url=settings.state_url)
        forecast = forecast_loaded_list(conn, inputs, context.partition_key)
    context.log.info(
        f"Forecast ({forecast.order} order): {forecast.calls:,.0f} vendor calls, {forecast.credits:,.1f} credits, "
        f"${forecast.usd:,.2f} (${forecast.usd_low:,.2f}–${forecast.usd_high:,.2f}), {forecast.mobiles:,.0f} "
        f"mobiles expected; {forecast.free_leads} of {forecast.leads} leads answered free from stored answers")
    mapping_md = markdown_table(["field", "column"], summary.columns.items())
    yield MaterializeResult(
        asset_key="raw_leads",
        metadata={
            "dagster/row_count": summary.leads,
            "rows_read": summary.rows_read,
            "leads": summary.leads,
            "countries": summary.countries,
            "source_path": MetadataValue.path(str(path)),
            "source_sha256": summary.source_sha256 or "",
            "file_format": summary.file_format or "",
            "encoding": summary.encoding or "",
            "sheet": summary.sheet or "",
            "columns": MetadataValue.md(mapping_md),
            # What this run was told (--map, --sheet), so a scheduled rerun reads the file the same way.
            "run_columns": json.dumps(source.columns, sort_keys=True),
            "run_sheet": source.sheet or "",
            "file_unchanged": summary.reused,
            "preview": MetadataValue.md(preview),
            **forecast.metadata(),
            "forecast": MetadataValue.md(forecast.markdown()),
        },
    )
    yield MaterializeResult(
        asset_key="rejected_leads",
        metadata={
            "dagster/row_count": summary.rejected,
            "rejected": summary.rejected,
            "reject_rate": round(summary.rejected / summary.rows_read, 4) if summary.rows_read else 0.0,
            "reasons": MetadataValue.md(reason_md),
        },
    )
