"""Jobs: the whole enrichment graph for one lead list."""

from dagster import AssetSelection, define_asset_job

enrich_list_job = define_asset_job(
    "enrich_list",
    selection=AssetSelection.all(),
    description="Ingest one lead list, run the vendor waterfall for it, and refresh contacts and the ledger.",
)
