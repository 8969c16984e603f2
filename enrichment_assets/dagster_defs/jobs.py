"""Jobs: the whole enrichment graph for one lead list."""

from dagster import AssetSelection, define_asset_job

enrich_list_job = define_asset_job(
    "enrich_list",
    # All: the dbt models (group marts, unpartitioned like contacts) are built in the same run, after the
    # tables they read.
    selection=AssetSelection.all(),
    description=("Ingest one lead list, run the vendor waterfall for it, refresh contacts and the ledger, "
                 "and build the dbt models."),
)
