"""The Dagster code location: assets, checks, sensors, schedules and resources."""

from dagster import Definitions
from dagster_duckdb import DuckDBResource

from enrichment_assets.dagster_defs.jobs import enrich_list_job
from enrichment_assets.dagster_defs.lead_assets import lead_ingestion
from enrichment_assets.dagster_defs.resources import EnrichmentSettings
from enrichment_assets.dagster_defs.sensors import lead_inbox
from enrichment_assets.settings import load_settings

_settings = load_settings()

defs = Definitions(
    assets=[lead_ingestion],
    jobs=[enrich_list_job],
    sensors=[lead_inbox],
    resources={
        "enrichment": EnrichmentSettings.from_environment(),
        "duckdb": DuckDBResource(database=str(_settings.db_path)),
    },
)
