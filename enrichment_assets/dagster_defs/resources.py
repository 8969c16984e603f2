"""Dagster resources: thin wrappers that hand the domain core its settings and connections."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource, EnvVar
from dagster_duckdb import DuckDBResource

from enrichment_assets.config import EnrichmentConfig, load_config
from enrichment_assets.settings import Settings, load_settings, parse_inbox_settle_seconds
from enrichment_assets.storage.state_store import StateStore
from enrichment_assets.storage.store_crypto import KEY_ENV, StoreCipher, cipher_for
from enrichment_assets.storage.warehouse import ensure_schema, memory_limit

SETTLE_ENV = "ENRICHMENT_INBOX_SETTLE_SECONDS"


class EnrichmentSettings(ConfigurableResource):
    """Paths and mode of the pipeline (defaults from the ENRICHMENT_* environment variables)."""

    mode: str = "sandbox"
    config_path: str = "enrichment.yaml"
    inbox: str = "data/inbox"
    suppression_path: str = "data/suppression.csv"
    db_path: str = "data/enrichment.duckdb"
    #: How long a file in the inbox must keep its size and modification time before the ``lead_inbox`` sensor
    #: enriches it, in seconds, as ENRICHMENT_INBOX_SETTLE_SECONDS is written (empty: 30). Kept as text and read
    #: when the sensor runs, so a bad value stops the sensor, not the loading of every definition.
    inbox_settle_seconds: str = ""
    #: The response store's key (ENRICHMENT_ENCRYPTION_KEY through an EnvVar: only the variable's name is kept in
    #: the run's config, never the key). None: the store is not encrypted.
    encryption_key: str | None = None

    @classmethod
    def from_environment(cls) -> "EnrichmentSettings":
        s = load_settings()
        key = EnvVar(KEY_ENV) if os.environ.get(KEY_ENV, "").strip() else None
        return cls(mode=s.mode, config_path=str(s.config_path), inbox=str(s.inbox),
                   suppression_path=str(s.suppression_path), db_path=str(s.db_path), encryption_key=key,
                   inbox_settle_seconds=os.environ.get(SETTLE_ENV, ""))

    def settings(self) -> Settings:
        # The state store's URL is read where the step runs, never made resource config: it may hold a password,
        # and resource config is shown in the UI.
        return Settings(mode=self.mode, db_path=Path(self.db_path), config_path=Path(self.config_path),
                        inbox=Path(self.inbox), suppression_path=Path(self.suppression_path),
                        state_url=load_settings().state_url)

    def settle_seconds(self) -> float:
        """The inbox settle time (raises ValueError for a value that is not a number of seconds)."""
        return parse_inbox_settle_seconds(self.inbox_settle_seconds)

    def config(self) -> EnrichmentConfig:
        return load_config(Path(self.config_path))

    def store_cipher(self) -> StoreCipher:
        return cipher_for((self.encryption_key or "").strip() or None)

    def response_store(self) -> StateStore:
        """The state store (answers, journal, leases, claims: SQLite, or PostgreSQL with ENRICHMENT_STATE_URL),
        opened with the key (a wrong or missing one raises StoreKeyError)."""
        return self.settings().open_state_store(self.store_cipher())


def warehouse_resource(db_path: Path | str) -> DuckDBResource:
    """The ``duckdb`` resource for the pipeline's DuckDB file, with DuckDB's memory cap
    (ENRICHMENT_DUCKDB_MEMORY_LIMIT, ``storage.warehouse.memory_limit``) in its connection config."""
    return DuckDBResource(database=str(db_path), connection_config={"memory_limit": memory_limit()})


@contextmanager
def warehouse(duckdb_resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the contract schema in place; hold it only for short write sections.

    The memory cap comes with the connection (``warehouse_resource``'s connection config).
    """
    with duckdb_resource.get_connection() as conn:
        ensure_schema(conn)
        yield conn
