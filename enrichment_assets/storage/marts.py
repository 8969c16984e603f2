"""Publish the consumer tables as Parquet under ``data/marts/``: readable by any tool without the DuckDB lock."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from enrichment_assets.storage.step_state import (
    ALL_LISTS,
    file_stamp,
    read_digest,
    stable_digest,
    table_digest,
    write_digest,
)
from enrichment_assets.storage.warehouse import transaction

MART_TABLES = ("contacts", "contact_phones", "credit_ledger", "provider_performance")
_STEP = "published_marts"


def publish_marts(conn: duckdb.DuckDBPyConnection, marts_dir: Path) -> dict[str, int]:
    """Write each table to ``<marts_dir>/<table>.parquet`` atomically (write a temp file, then rename)."""
    marts_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for table in MART_TABLES:
        target = marts_dir / f"{table}.parquet"
        temp = marts_dir / f".{table}.parquet.tmp"
        cursor = conn.cursor()  # a result set of its own, whatever the caller left open on ``conn``
        try:
            reader = cursor.sql(f"SELECT * FROM {table}").to_arrow_reader(100_000)  # table names are constants  # noqa: S608 - names from code, values bound
            rows = 0
            with pq.ParquetWriter(str(temp), reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        finally:
            cursor.close()
        os.replace(temp, target)
        counts[table] = rows
    return counts


def _marts_digest(conn: duckdb.DuckDBPyConnection, marts_dir: Path) -> str:
    """The tables' contents and the files as this process would find them (deleted or replaced by hand)."""
    files = [(table, file_stamp(marts_dir / f"{table}.parquet")) for table in MART_TABLES]
    return stable_digest(str(marts_dir.resolve()), files, *(table_digest(conn, t) for t in MART_TABLES))


def publish_marts_if_changed(conn: duckdb.DuckDBPyConnection, marts_dir: Path) -> tuple[dict[str, int], bool]:
    """``publish_marts`` unless the tables and the files are as the last publication left them.

    Returns the row counts and whether the files were written.
    """
    if read_digest(conn, _STEP, ALL_LISTS) == _marts_digest(conn, marts_dir):
        return {t: pq.ParquetFile(marts_dir / f"{t}.parquet").metadata.num_rows for t in MART_TABLES}, False
    counts = publish_marts(conn, marts_dir)
    with transaction(conn):
        write_digest(conn, _STEP, ALL_LISTS, _marts_digest(conn, marts_dir))
    return counts, True
