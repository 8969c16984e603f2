"""Publish the consumer tables as Parquet under ``data/marts/``: readable by any tool without the DuckDB lock."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

MART_TABLES = ("contacts", "contact_phones", "credit_ledger", "provider_performance")


def publish_marts(conn: duckdb.DuckDBPyConnection, marts_dir: Path) -> dict[str, int]:
    """Write each table to ``<marts_dir>/<table>.parquet`` atomically (write a temp file, then rename)."""
    marts_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for table in MART_TABLES:
        target = marts_dir / f"{table}.parquet"
        temp = marts_dir / f".{table}.parquet.tmp"
        reader = conn.sql(f"SELECT * FROM {table}").to_arrow_reader(100_000)  # table names are constants
        rows = 0
        with pq.ParquetWriter(str(temp), reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        os.replace(temp, target)
        counts[table] = rows
    return counts
