"""Every definition written in Python: the assets, checks, jobs, sensors and schedules (all but the dbt models).

``enrichment_assets/definitions.py`` adds the dbt models and the resources; the tests materialize these same
lists in process (``enrichment_assets_tests/support/pipeline.py``) without importing dagster-dbt.
"""

from enrichment_assets.dagster_defs.checks import (
    best_phone_is_valid_e164,
    ledger_matches_vendor_balance,
    ledger_reconciles,
    no_suppressed_lead_called,
    one_row_per_record,
    spend_below_budget_warning,
)
from enrichment_assets.dagster_defs.contact_assets import (
    credit_ledger,
    merge_contacts,
    provider_performance,
    published_marts,
)
from enrichment_assets.dagster_defs.cost_model_assets import provider_segment_rates
from enrichment_assets.dagster_defs.export_assets import enriched_lead_file
from enrichment_assets.dagster_defs.jobs import enrich_list_job
from enrichment_assets.dagster_defs.lead_assets import lead_ingestion
from enrichment_assets.dagster_defs.retention import personal_data_retention, personal_data_retention_schedule
from enrichment_assets.dagster_defs.schedules import refresh_stale_lists, retry_pending_leads
from enrichment_assets.dagster_defs.sensors import lead_inbox
from enrichment_assets.dagster_defs.waterfall_assets import waterfall

PYTHON_ASSETS = [lead_ingestion, waterfall, merge_contacts, credit_ledger, provider_performance, published_marts,
                 enriched_lead_file, provider_segment_rates]
ASSET_CHECKS = [best_phone_is_valid_e164, one_row_per_record, ledger_reconciles, no_suppressed_lead_called,
                spend_below_budget_warning, ledger_matches_vendor_balance]
JOBS = [enrich_list_job, personal_data_retention]
SENSORS = [lead_inbox, retry_pending_leads]
SCHEDULES = [refresh_stale_lists, personal_data_retention_schedule]
