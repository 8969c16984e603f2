"""Provider results: collected while the waterfall runs, spilled to one Parquet file per provider.

``storage/walks.py`` loads them into DuckDB in one short transaction at the end.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from enrichment_assets.waterfall.results import ProviderRow

#: Rows buffered per provider before they are written out: 10k keeps the five buffers to tens of MB
#: (50k held ~100 MB more at 300k leads, benchmarks/local_scale.py).
FLUSH_ROWS = 10_000

RESULTS_SCHEMA = pa.schema([
    ("list_id", pa.string()),
    ("record_id", pa.string()),
    ("request_fingerprint", pa.string()),
    ("outcome", pa.string()),
    ("phones", pa.list_(pa.string())),
    ("credits", pa.float64()),
    ("called_at", pa.timestamp("us", tz="UTC")),
    ("from_cache", pa.bool_()),
    ("http_status", pa.int32()),
    ("claimed_types", pa.list_(pa.string())),
    ("error", pa.string()),
    ("run_id", pa.string()),
    ("walk_order", pa.list_(pa.string())),
])


class ParquetResultSink:
    """Buffers provider rows and spills them to one Parquet file per provider (bounded memory)."""

    def __init__(self, workdir: Path, run_id: str) -> None:
        self.workdir = workdir
        self.run_id = run_id
        self._buffers: dict[str, list[ProviderRow]] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.counts: dict[str, int] = {}

    def add(self, row: ProviderRow) -> None:
        buffer = self._buffers.setdefault(row.provider, [])
        buffer.append(row)
        self.counts[row.provider] = self.counts.get(row.provider, 0) + 1
        if len(buffer) >= FLUSH_ROWS:
            self._flush(row.provider)

    def _flush(self, provider: str) -> None:
        rows = self._buffers.get(provider) or []
        if not rows:
            return
        table = pa.table({
            "list_id": [r.list_id for r in rows],
            "record_id": [r.record_id for r in rows],
            "request_fingerprint": [r.request_fingerprint for r in rows],
            "outcome": [r.outcome for r in rows],
            "phones": [r.phones for r in rows],
            "credits": [float(r.credits) for r in rows],
            "called_at": [r.called_at for r in rows],
            "from_cache": [r.from_cache for r in rows],
            "http_status": [r.http_status for r in rows],
            "claimed_types": [r.claimed_types for r in rows],
            "error": [r.error for r in rows],
            "run_id": [self.run_id] * len(rows),
            "walk_order": [r.walk_order for r in rows],
        }, schema=RESULTS_SCHEMA)
        writer = self._writers.get(provider)
        if writer is None:
            writer = self._writers[provider] = pq.ParquetWriter(str(self.path(provider)), RESULTS_SCHEMA)
        writer.write_table(table)
        self._buffers[provider] = []

    def path(self, provider: str) -> Path:
        return self.workdir / f"{provider}.parquet"

    def close(self) -> None:
        for provider in list(self._buffers):
            self._flush(provider)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def files(self, providers: list[str]) -> dict[str, Path | None]:
        """Close the writers; per provider, its Parquet file of rows, or None when it got no row."""
        self.close()
        return {p: (self.path(p) if self.path(p).exists() else None) for p in providers}
