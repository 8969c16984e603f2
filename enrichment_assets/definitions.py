"""The Dagster code location: assets, checks, sensors, schedules and resources."""

from dagster import Definitions
from dagster_dbt import DbtCliResource

from enrichment_assets.dagster_defs.dbt_assets import dbt_executable, dbt_marts, dbt_project
from enrichment_assets.dagster_defs.python_definitions import ASSET_CHECKS, JOBS, PYTHON_ASSETS, SCHEDULES, SENSORS
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse_resource
from enrichment_assets.dagster_defs.vendor_resources import vendor_resources_from_environment
from enrichment_assets.settings import load_settings


def build_resources() -> dict:
    """Resources from the environment (ENRICHMENT_*, <V>_API_KEY, <V>_BASE_URL)."""
    settings = load_settings()
    return {
        "enrichment": EnrichmentSettings.from_environment(),
        "duckdb": warehouse_resource(settings.db_path),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        **vendor_resources_from_environment(),
    }


defs = Definitions(
    # The dbt models run in the same job, after the tables they read (dagster_defs/jobs.py).
    assets=[*PYTHON_ASSETS, dbt_marts],
    asset_checks=ASSET_CHECKS,
    jobs=JOBS,
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources=build_resources(),
)
