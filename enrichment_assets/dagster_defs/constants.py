"""Names the Dagster definitions share: owners, the DuckDB writers' pool, asset groups and kinds.

Each is part of what the UI shows (and what a deployment's dagster.yaml refers to, for the pool), so each is
spelled once, here.
"""

#: Who answers for the assets: every asset and dbt model carries it.
OWNERS = ["team:revops-data"]

#: Steps that write the DuckDB file share this pool: DuckDB allows one writing process (dagster.yaml limits it).
DUCKDB_POOL = "duckdb_writers"

# Asset groups, in the order data flows through them.
LEADS_GROUP = "leads"
VENDORS_GROUP = "vendors"
CONTACTS_GROUP = "contacts"
MARTS_GROUP = "marts"
LEDGER_GROUP = "ledger"
EXPORTS_GROUP = "exports"

# Kinds: the storage or format an asset lives in, or what computes it.
DUCKDB_KIND = "duckdb"
PYTHON_KIND = "python"
CSV_KIND = "csv"
EXCEL_KIND = "excel"
PARQUET_KIND = "parquet"

#: The run tag that says what started a run (inbox, ttl_refresh, retry_pending, the CLI, a test).
TRIGGER_TAG = "enrichment/trigger"
#: The trigger of the nightly refresh of expired answers: its loads do not count as someone loading the list.
TTL_REFRESH_TRIGGER = "ttl_refresh"
INBOX_TRIGGER = "inbox"
RETRY_PENDING_TRIGGER = "retry_pending"
#: The run tag naming the lead file a sensor run reads.
FILE_TAG = "enrichment/file"
