"""The enriched lead file: each list's own rows and columns with the phones, to take back to the CRM."""

from pathlib import Path

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from enrichment_assets.dagster_defs.constants import CSV_KIND, EXCEL_KIND, EXPORTS_GROUP, OWNERS
from enrichment_assets.dagster_defs.lead_assets import last_lead_source
from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.previews import Column, identifier, markdown_table, phone
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse
from enrichment_assets.leads.enriched_file import (
    EnrichedFileError,
    EnrichedFileSummary,
    stale_enriched_lists,
    write_enriched_file,
)
from enrichment_assets.memory import release_freed_memory


@asset(
    deps=["contacts", "rejected_leads"],
    partitions_def=lead_lists,
    group_name=EXPORTS_GROUP,
    kinds={CSV_KIND, EXCEL_KIND},
    owners=OWNERS,
)
def enriched_lead_file(context: AssetExecutionContext, enrichment: EnrichmentSettings, duckdb: DuckDBResource
                       ) -> MaterializeResult:
    """Your lead file back, enriched: data/out/<list>.enriched.csv (and .xlsx when the list came as an Excel
    workbook) holds every row of the file in its order with its own columns, plus best_phone, best_phone_type,
    phone_status, all_phones and phone_sources, so it re-imports into the CRM it came from keyed by its own id.
    Rows that were set aside keep their place, with the reason in rejected_reason. When this run's merge re-scored
    leads of other lists (it revealed a number of theirs as a colleague's switchboard), their files are rewritten
    too."""
    list_id = context.partition_key
    out_dir = enrichment.settings().out_dir
    try:
        summary = _write(context, duckdb, list_id, out_dir)
    except EnrichedFileError as exc:
        raise Failure(description=str(exc)) from None
    finally:
        release_freed_memory()
    refreshed = _refresh_other_lists(context, duckdb, list_id, out_dir)
    preview = markdown_table(["row", Column("record_id", identifier), Column("best phone", phone), "type", "status",
                              "rejected reason"], summary.preview)
    written = [summary.csv_path.name] + ([summary.xlsx_path.name] if summary.xlsx_path else [])
    context.log.info(f"Wrote {', '.join(written)} to {out_dir}: {summary.rows} rows, {summary.with_phone} with a "
                     f"phone, {summary.rejected} rejected")
    return MaterializeResult(metadata={
        "dagster/row_count": summary.rows,
        "path": MetadataValue.path(str(summary.csv_path)),
        "xlsx_path": MetadataValue.path(str(summary.xlsx_path)) if summary.xlsx_path else "",
        "rows": summary.rows,
        "leads": summary.leads,
        "rejected": summary.rejected,
        "with_phone": summary.with_phone,
        **{f"status_{status}": n for status, n in summary.by_status.items()},
        "preview": MetadataValue.md(preview),
        "refreshed_other_lists": ", ".join(refreshed),
    })


def _write(context: AssetExecutionContext, duckdb: DuckDBResource, list_id: str, out_dir: Path) -> EnrichedFileSummary:
    loaded = last_lead_source(context, list_id)
    if "source_path" not in loaded:
        raise EnrichedFileError(f"lead list '{list_id}' has not been loaded yet: materialize raw_leads first")
    return write_enriched_file(
        lambda: warehouse(duckdb), list_id, Path(str(loaded["source_path"])), out_dir,
        sheet=str(loaded.get("sheet") or "") or None,
        expected_sha256=str(loaded.get("source_sha256") or "") or None)


def _refresh_other_lists(context: AssetExecutionContext, duckdb: DuckDBResource, list_id: str, out_dir: Path
                         ) -> list[str]:
    """Rewrite the enriched files of other lists whose contacts this run's merge re-scored (switchboards it
    revealed); a list whose file cannot be rewritten keeps it, with a warning, until its own next run.

    The list's own file is checked too: another run's merge may have re-scored it while it was being written.
    """
    with warehouse(duckdb) as conn:
        stale = stale_enriched_lists(conn, out_dir)
    refreshed = []
    for other in stale:
        try:
            _write(context, duckdb, other, out_dir)
        except EnrichedFileError as exc:
            context.log.warning(f"The enriched file of list '{other}' is older than its contacts and was not "
                                f"rewritten: {exc}")
            continue
        finally:
            release_freed_memory()
        if other != list_id:
            refreshed.append(other)
    if refreshed:
        context.log.info(f"Rewrote the enriched files of {', '.join(refreshed)}: this run re-scored some of their "
                         "leads")
    return refreshed
