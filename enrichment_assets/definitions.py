"""The Dagster code location: assets, checks, sensors, schedules and resources."""

from dagster import Definitions
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

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
from enrichment_assets.dagster_defs.dbt_assets import dbt_executable, dbt_marts, dbt_project
from enrichment_assets.dagster_defs.export_assets import enriched_lead_file
from enrichment_assets.dagster_defs.jobs import enrich_list_job
from enrichment_assets.dagster_defs.lead_assets import lead_ingestion
from enrichment_assets.dagster_defs.resources import EnrichmentSettings
from enrichment_assets.dagster_defs.retention import personal_data_retention, personal_data_retention_schedule
from enrichment_assets.dagster_defs.schedules import refresh_stale_lists, retry_pending_leads
from enrichment_assets.dagster_defs.sensors import lead_inbox
from enrichment_assets.dagster_defs.vendor_resources import vendor_resources_from_environment
from enrichment_assets.dagster_defs.waterfall_assets import waterfall
from enrichment_assets.settings import load_settings


def build_resources() -> dict:
    """Resources from the environment (ENRICHMENT_*, <V>_API_KEY, <V>_BASE_URL)."""
    settings = load_settings()
    return {
        "enrichment": EnrichmentSettings.from_environment(),
        "duckdb": DuckDBResource(database=str(settings.db_path)),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        **vendor_resources_from_environment(),
    }


defs = Definitions(
    assets=[lead_ingestion, waterfall, merge_contacts, credit_ledger, provider_performance, published_marts,
            dbt_marts, enriched_lead_file, provider_segment_rates],
    asset_checks=[best_phone_is_valid_e164, one_row_per_record, ledger_reconciles, no_suppressed_lead_called,
                  spend_below_budget_warning, ledger_matches_vendor_balance],
    jobs=[enrich_list_job, personal_data_retention],
    sensors=[lead_inbox, retry_pending_leads],
    schedules=[refresh_stale_lists, personal_data_retention_schedule],
    resources=build_resources(),
)
