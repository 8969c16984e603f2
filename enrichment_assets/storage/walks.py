"""Which leads of a list the waterfall must walk this run, and the record of the walks it made.

``waterfall_walks`` holds, per lead, the fingerprint and walk key (``waterfall/walk_key.py``) of its last
walk. A lead keeps its provider rows when both still match and none of its rows is pending or older than the
cache TTL; every other lead of the list is walked. The provider rows and the walk record are replaced in one
transaction, so a crash leaves either the old walk or the new one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from enrichment_assets.outcomes import PENDING_OUTCOMES
from enrichment_assets.storage.warehouse import PROVIDER_RESULT_TABLES, results_union, row_windows

_PENDING = sorted(PENDING_OUTCOMES)

_ROWS = results_union("record_id, outcome, called_at", "list_id = $list_id")

LEAD_COLUMNS = ("record_id", "first_name", "last_name", "company", "domain", "email", "linkedin_url", "country",
                "fingerprint")


#: File rows per query: DuckDB's joins and sort are bounded by this, not by the list (one query over a
#: 1M-lead list took the process from 223 to 746 MB).
WINDOW_ROWS = 50_000


def leads_to_walk(conn: duckdb.DuckDBPyConnection, list_id: str, key: str, answered_after: datetime,
                  out: Path) -> int:
    """Write to ``out`` (Parquet, file order) the list's leads whose last walk no longer holds; return how many.

    Answers received before ``answered_after`` count as expired.
    """
    cursor = conn.cursor()  # its own result sets: the caller's connection stays usable
    try:
        count = 0
        writer: pq.ParquetWriter | None = None
        try:
            for low, high in row_windows(cursor, list_id, WINDOW_ROWS):
                reader = cursor.sql(_WINDOW_SQL, params={
                    "list_id": list_id, "key": key, "cutoff": answered_after, "pending": _PENDING,
                    "low": low, "high": high}).to_arrow_reader(WINDOW_ROWS)
                for batch in reader:
                    writer = writer or pq.ParquetWriter(str(out), batch.schema)
                    writer.write_batch(batch)
                    count += batch.num_rows
            if writer is None:  # no lead to walk: an empty file with the right columns
                empty = cursor.sql(_WINDOW_SQL, params={
                    "list_id": list_id, "key": key, "cutoff": answered_after, "pending": _PENDING,
                    "low": 0, "high": 0}).to_arrow_table()
                pq.write_table(empty, str(out))
        finally:
            if writer is not None:
                writer.close()
        return count
    finally:
        cursor.close()


_WINDOW_SQL = f"""
    WITH leads AS (
        SELECT {", ".join(LEAD_COLUMNS)}, row_number FROM raw_leads
        WHERE list_id = $list_id AND coalesce(row_number, 0) >= $low AND coalesce(row_number, 0) < $high),
    answers AS (SELECT * FROM ({_ROWS}) WHERE record_id IN (SELECT record_id FROM leads)),
    unfinished AS (
        SELECT DISTINCT record_id FROM answers
        WHERE outcome IN (SELECT unnest($pending::VARCHAR[]))
           OR (outcome IN ('found', 'not_found') AND coalesce(called_at < $cutoff, TRUE))
    ),
    still_good AS (
        SELECT w.record_id FROM waterfall_walks w
        JOIN leads r ON r.record_id = w.record_id AND r.fingerprint = w.lead_fingerprint
        WHERE w.list_id = $list_id AND w.walk_key = $key
          AND w.record_id NOT IN (SELECT record_id FROM unfinished)
    )
    SELECT {", ".join(LEAD_COLUMNS)} FROM leads
    WHERE record_id NOT IN (SELECT record_id FROM still_good)
    ORDER BY row_number
"""  # noqa: S608 - constant tables and columns


def replace_walked(conn: duckdb.DuckDBPyConnection, list_id: str, key: str, walked_leads: Path,
                   provider_rows: dict[str, Path | None]) -> None:
    """Swap in this run's rows for the walked leads and drop rows of leads no longer in the list.

    ``walked_leads``: Parquet of the leads walked (record_id, fingerprint); ``provider_rows``: per provider this
    run may write, its rows as Parquet (None: no rows). Call inside a transaction.
    """
    conn.execute("CREATE OR REPLACE TEMP TABLE walked_now AS SELECT record_id, fingerprint FROM read_parquet(?)",
                 [str(walked_leads)])
    try:
        gone = ("list_id = $list_id AND (record_id IN (SELECT record_id FROM walked_now) "
                "OR record_id NOT IN (SELECT record_id FROM raw_leads WHERE list_id = $list_id))")
        for provider, rows in provider_rows.items():
            table = PROVIDER_RESULT_TABLES[provider]
            conn.execute(f"DELETE FROM {table} WHERE {gone}", {"list_id": list_id})  # noqa: S608
            if rows is not None:
                conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [str(rows)])  # noqa: S608
        conn.execute(f"DELETE FROM waterfall_walks WHERE {gone}", {"list_id": list_id})  # noqa: S608
        conn.execute("INSERT INTO waterfall_walks SELECT $list_id, record_id, fingerprint, $key, now() "
                     "FROM walked_now", {"list_id": list_id, "key": key})
    finally:
        conn.execute("DROP TABLE IF EXISTS walked_now")


_KEPT_SQL = f"""
    WITH leads AS (SELECT DISTINCT ON (record_id) record_id, fingerprint FROM read_parquet($path)),
    answers AS (SELECT * FROM ({_ROWS}) WHERE record_id IN (SELECT record_id FROM leads)),
    unfinished AS (
        SELECT DISTINCT record_id FROM answers
        WHERE outcome IN (SELECT unnest($pending::VARCHAR[]))
           OR (outcome IN ('found', 'not_found') AND coalesce(called_at < $cutoff, TRUE))
    )
    SELECT w.record_id FROM waterfall_walks w
    JOIN leads r ON r.record_id = w.record_id AND r.fingerprint = w.lead_fingerprint
    WHERE w.list_id = $list_id AND w.walk_key = $key AND w.record_id NOT IN (SELECT record_id FROM unfinished)
"""  # noqa: S608 - constant tables and columns


def kept_record_ids(conn: duckdb.DuckDBPyConnection, list_id: str, key: str, answered_after: datetime,
                    leads_parquet: Path) -> set[str]:
    """Of the leads in ``leads_parquet`` (a staged file, not loaded yet), those whose last walk in ``list_id``
    would still hold: the same rule as ``leads_to_walk``, for a forecast before the file is loaded."""
    rows = conn.execute(_KEPT_SQL, {"path": str(leads_parquet), "list_id": list_id, "key": key,
                                    "cutoff": answered_after, "pending": _PENDING}).fetchall()
    return {r[0] for r in rows}
