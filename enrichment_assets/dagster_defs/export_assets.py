"""The enriched lead file: each list's own rows and columns with the phones, to take back to the CRM."""

from pathlib import Path

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource

from enrichment_assets.dagster_defs.lead_assets import OWNERS, last_lead_source
from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse
from enrichment_assets.leads.enriched_file import EnrichedFileError, write_enriched_file
from enrichment_assets.memory import release_freed_memory
from enrichment_assets.masking import mask_phone, mask_sensitive


@asset(
    deps=["contacts", "rejected_leads"],
    partitions_def=lead_lists,
    group_name="exports",
    kinds={"csv", "excel"},
    owners=OWNERS,
)
def enriched_lead_file(context: AssetExecutionContext, enrichment: EnrichmentSettings, duckdb: DuckDBResource
                       ) -> MaterializeResult:
    """Your lead file back, enriched: data/out/<list>.enriched.csv (and .xlsx when the list came as an Excel
    workbook) holds every row of the file in its order with its own columns, plus best_phone, best_phone_type,
    phone_status, all_phones and phone_sources, so it re-imports into the CRM it came from keyed by its own id.
    Rows that were set aside keep their place, with the reason in rejected_reason."""
    list_id = context.partition_key
    loaded = last_lead_source(context, list_id)
    if "source_path" not in loaded:
        raise Failure(description=f"lead list '{list_id}' has not been loaded yet: materialize raw_leads first")
    out_dir = enrichment.settings().out_dir
    try:
        summary = write_enriched_file(
            lambda: warehouse(duckdb), list_id, Path(str(loaded["source_path"])), out_dir,
            sheet=str(loaded.get("sheet") or "") or None,
            expected_sha256=str(loaded.get("source_sha256") or "") or None)
    except EnrichedFileError as exc:
        raise Failure(description=str(exc)) from None
    finally:
        release_freed_memory()
    preview = "\n".join(
        ["| row | record_id | best phone | type | status | rejected reason |", "|---|---|---|---|---|---|"]
        + [f"| {row} | {mask_sensitive(rid or '')} | {mask_phone(phone)} | {kind or ''} | {status or ''} | {reason or ''} |"
           for row, rid, phone, kind, status, reason in summary.preview])
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
    })
