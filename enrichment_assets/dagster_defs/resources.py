"""Dagster resources: thin wrappers that hand the domain core its settings and connections."""


from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from enrichment_assets.config import EnrichmentConfig, load_config
from enrichment_assets.settings import Settings, load_settings
from enrichment_assets.storage.warehouse import prepare


class EnrichmentSettings(ConfigurableResource):
    """Paths and mode of the pipeline (defaults from the ENRICHMENT_* environment variables)."""

    mode: str = "sandbox"
    config_path: str = "enrichment.yaml"
    inbox: str = "data/inbox"
    suppression_path: str = "data/suppression.csv"
    db_path: str = "data/enrichment.duckdb"

    @classmethod
    def from_environment(cls) -> "EnrichmentSettings":
        s = load_settings()
        return cls(mode=s.mode, config_path=str(s.config_path), inbox=str(s.inbox),
                   suppression_path=str(s.suppression_path), db_path=str(s.db_path))

    def settings(self) -> Settings:
        return Settings(mode=self.mode, db_path=Path(self.db_path), config_path=Path(self.config_path),
                        inbox=Path(self.inbox), suppression_path=Path(self.suppression_path))

    def config(self) -> EnrichmentConfig:
        return load_config(Path(self.config_path))


@contextmanager
def warehouse(duckdb_resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the contract schema in place; hold it only for short write sections."""
    with duckdb_resource.get_connection() as conn:
        prepare(conn)
        yield conn
