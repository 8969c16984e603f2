"""The pipeline's Python assets materialized in the test process with ``dagster.materialize()``.

The same assets, checks and resources ``enrich run`` uses, from the same lists as the code location
(``dagster_defs/python_definitions.py``): ingestion, the waterfall over real HTTP to a
sandbox, merge, ledger, performance, marts, the enriched lead file, the cost model's rates and the asset
checks, without the CLI's start and without dbt:
a run of a few dozen leads takes seconds. The CLI tests keep what only the CLI shows (exit codes, output,
crashes of the process, two processes at once, dbt).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, materialize

from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.python_definitions import ASSET_CHECKS, PYTHON_ASSETS
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse_resource
from enrichment_assets.dagster_defs.vendor_resources import VENDOR_RESOURCE_KEYS, VendorResource
from enrichment_assets.leads.ingest import list_id_for


@dataclass
class Pipeline:
    """Runs lead files through the Python assets against one sandbox, with the paths of an ``isolated_env``."""

    env: dict[str, str]
    base_url: str
    instance: DagsterInstance
    api_key: str = "test-key-0000"

    @property
    def db(self) -> Path:
        return Path(self.env["ENRICHMENT_DB"])

    def resources(self, config: Path | None = None, **env: str) -> dict[str, Any]:
        settings = {**self.env, **env}
        return {
            "enrichment": EnrichmentSettings(
                mode=settings.get("ENRICHMENT_MODE", "sandbox"),
                config_path=str(config or settings["ENRICHMENT_CONFIG"]),
                inbox=settings["ENRICHMENT_INBOX"], suppression_path=settings["ENRICHMENT_SUPPRESSION"],
                db_path=settings["ENRICHMENT_DB"]),
            "duckdb": warehouse_resource(settings["ENRICHMENT_DB"]),
            **{key: VendorResource(api_key=self.api_key, base_url=self.base_url) for key in VENDOR_RESOURCE_KEYS},
        }

    def run(self, path: Path, config: Path | None = None, *, list_id: str | None = None,
            selection: list[str] | None = None, raise_on_error: bool = True, **env: str) -> ExecuteInProcessResult:
        """Materialize the list as ``enrich run PATH`` would (without dbt); ``env`` overrides paths."""
        list_id = list_id or list_id_for(path)
        if not self.instance.has_dynamic_partition(lead_lists.name, list_id):
            self.instance.add_dynamic_partitions(lead_lists.name, [list_id])
        result = materialize(
            [*PYTHON_ASSETS, *ASSET_CHECKS],
            selection=[AssetKey(k) for k in selection] if selection else None,
            partition_key=list_id,
            instance=self.instance,
            resources=self.resources(config, **env),
            run_config={"ops": {"lead_ingestion": {"config": {"path": str(path)}}}},
            tags={"enrichment/trigger": "test"},
            raise_on_error=raise_on_error,
        )
        return result

    def log_text(self, result: ExecuteInProcessResult) -> str:
        """Every message of the run's Dagster event log: what ``enrich run`` prints, and what the UI shows."""
        return "\n".join(entry.user_message for entry in self.instance.all_logs(result.run_id))

    def query(self, sql: str, params: list[Any] | None = None, db: Path | None = None) -> list[tuple]:
        with duckdb.connect(str(db or self.db), read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()
