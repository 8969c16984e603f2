"""The DuckDB warehouse: the contract tables users, dbt and notebooks read.

Columns may be added, never renamed or dropped (README, "The tables").
Writes go through short transactions; nothing here ever waits on the network.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from enrichment_assets.vendors.registry import PROVIDER_SPECS

#: Provider name -> its ``<provider>_results`` table, in registry order.
PROVIDER_RESULT_TABLES: dict[str, str] = {spec.name: spec.results_table for spec in PROVIDER_SPECS}


def results_union(columns: str, where: str | None = None) -> str:
    """SQL for every provider's results table as one relation: ``provider`` (a literal) then ``columns``.

    ``columns`` and ``where`` are SQL written by this package; values go in the caller's parameters.
    """
    clause = f" WHERE {where}" if where else ""
    return " UNION ALL ".join(f"SELECT '{provider}' AS provider, {columns} FROM {table}{clause}"  # noqa: S608 - names from code, values bound
                              for provider, table in PROVIDER_RESULT_TABLES.items())


def row_windows(conn: duckdb.DuckDBPyConnection, list_id: str, size: int) -> list[tuple[int, int]]:
    """``[low, high)`` ranges of the list's ``raw_leads.row_number`` (file rows), ``size`` rows each.

    Queried one window at a time, a step's joins and sorts in DuckDB stay bounded by ``size`` instead of
    growing with the list.
    """
    [(first, last)] = conn.execute(
        "SELECT min(coalesce(row_number, 0)), max(coalesce(row_number, 0)) FROM raw_leads WHERE list_id = ?",
        [list_id]).fetchall()
    return [] if first is None else [(low, low + size) for low in range(first, last + 1, size)]


_RESULTS_COLUMNS = """
    list_id VARCHAR NOT NULL,
    record_id VARCHAR NOT NULL,
    request_fingerprint VARCHAR,
    outcome VARCHAR NOT NULL,
    phones VARCHAR[],
    credits DOUBLE NOT NULL DEFAULT 0,
    called_at TIMESTAMPTZ,
    from_cache BOOLEAN NOT NULL DEFAULT FALSE,
    http_status INTEGER,
    claimed_types VARCHAR[],
    error VARCHAR,
    run_id VARCHAR,
    walk_order VARCHAR[]
"""

DDL: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS raw_leads (
        list_id VARCHAR NOT NULL,
        record_id VARCHAR NOT NULL,
        first_name VARCHAR,
        last_name VARCHAR,
        company VARCHAR,
        domain VARCHAR,
        email VARCHAR,
        linkedin_url VARCHAR,
        country VARCHAR,
        fingerprint VARCHAR NOT NULL,
        loaded_at TIMESTAMPTZ NOT NULL,
        row_number BIGINT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS rejected_leads (
        list_id VARCHAR NOT NULL,
        row_number BIGINT,
        record_id VARCHAR,
        reason VARCHAR NOT NULL,
        raw VARCHAR,
        loaded_at TIMESTAMPTZ NOT NULL
    )
    """,
    *(f"CREATE TABLE IF NOT EXISTS {table} ({_RESULTS_COLUMNS})" for table in PROVIDER_RESULT_TABLES.values()),
    # Columns added after a table was first published: added to a database created before them.
    *(
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS walk_order VARCHAR[]"
        for table in PROVIDER_RESULT_TABLES.values()
    ),
    """
    CREATE TABLE IF NOT EXISTS contact_phones (
        record_id VARCHAR NOT NULL,
        e164 VARCHAR,
        number_type VARCHAR,
        region VARCHAR,
        sources VARCHAR[],
        source_count INTEGER,
        shared_with_others BOOLEAN,
        score DOUBLE,
        list_id VARCHAR,
        raw VARCHAR,
        claimed_types VARCHAR[],
        is_personal_mobile BOOLEAN,
        suppressed BOOLEAN
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS contacts (
        record_id VARCHAR NOT NULL,
        list_id VARCHAR,
        first_name VARCHAR,
        last_name VARCHAR,
        company VARCHAR,
        linkedin_url VARCHAR,
        best_phone VARCHAR,
        best_phone_type VARCHAR,
        best_phone_score DOUBLE,
        best_phone_sources VARCHAR[],
        phone_count INTEGER,
        status VARCHAR,
        enriched_at TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS credit_ledger (
        entry_id VARCHAR NOT NULL,
        called_at TIMESTAMPTZ,
        run_id VARCHAR,
        list_id VARCHAR,
        record_id VARCHAR,
        provider VARCHAR NOT NULL,
        endpoint VARCHAR,
        request_fingerprint VARCHAR,
        http_status INTEGER,
        outcome VARCHAR,
        credits DOUBLE NOT NULL DEFAULT 0,
        credit_basis VARCHAR,
        usd DOUBLE NOT NULL DEFAULT 0,
        worst_case_credits DOUBLE,
        record_ids VARCHAR[],
        request_fingerprints VARCHAR[],
        error VARCHAR
    )
    """,
    # Added to credit_ledger after it was first published (README, "Contract extensions"): an unknown request's
    # possible extra cost, and the later answer that settled it.
    "ALTER TABLE credit_ledger ADD COLUMN IF NOT EXISTS uncertain_credits DOUBLE DEFAULT 0",
    "ALTER TABLE credit_ledger ADD COLUMN IF NOT EXISTS settled_by VARCHAR",
    "ALTER TABLE credit_ledger ADD COLUMN IF NOT EXISTS settled_at TIMESTAMPTZ",
    "ALTER TABLE credit_ledger ADD COLUMN IF NOT EXISTS settlement VARCHAR",
    """
    CREATE TABLE IF NOT EXISTS provider_performance (
        provider VARCHAR NOT NULL,
        calls BIGINT,
        found BIGINT,
        mobiles BIGINT,
        credits DOUBLE,
        usd DOUBLE,
        hit_rate DOUBLE,
        cost_per_mobile DOUBLE,
        leads_sent BIGINT,
        cache_hits BIGINT,
        usd_per_mobile DOUBLE
    )
    """,
    # The cost model (storage/segment_rates.py): per provider and lead segment, rates and costs.
    """
    CREATE TABLE IF NOT EXISTS provider_segment_rates (
        provider VARCHAR NOT NULL,
        level VARCHAR NOT NULL,
        country VARCHAR NOT NULL,
        identifiers VARCHAR NOT NULL,
        leads BIGINT,
        found BIGINT,
        mobiles BIGINT,
        paid_calls BIGINT,
        credits DOUBLE,
        found_rate DOUBLE,
        mobile_rate DOUBLE,
        mobile_rate_low DOUBLE,
        mobile_rate_high DOUBLE,
        credits_per_call DOUBLE,
        usd_per_call DOUBLE,
        usd_per_mobile DOUBLE,
        evidence DOUBLE,
        updated_at TIMESTAMPTZ
    )
    """,
    # What each vendor said its balance was before and after a run's calls to it (storage/balances.py).
    """
    CREATE TABLE IF NOT EXISTS vendor_balances (
        run_id VARCHAR NOT NULL,
        list_id VARCHAR,
        provider VARCHAR NOT NULL,
        phase VARCHAR NOT NULL,
        read_at TIMESTAMPTZ NOT NULL,
        credits DOUBLE,
        source VARCHAR,
        error VARCHAR
    )
    """,
    # Bookkeeping for incremental reruns (storage/step_state.py): not part of the table contract.
    """
    CREATE TABLE IF NOT EXISTS step_state (
        step VARCHAR NOT NULL,
        scope VARCHAR NOT NULL,
        digest VARCHAR NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )
    """,
    # Switchboard evidence across lists (contacts/evidence.py): one row per merged lead and distinct number.
    """
    CREATE TABLE IF NOT EXISTS number_evidence (
        list_id VARCHAR NOT NULL,
        record_id VARCHAR NOT NULL,
        person_key VARCHAR NOT NULL,
        alias_key VARCHAR,
        company_key VARCHAR NOT NULL,
        e164 VARCHAR NOT NULL,
        shared BOOLEAN NOT NULL
    )
    """,
    # When each list was last loaded by a run someone asked for (retention drops lists not loaded again).
    """
    CREATE TABLE IF NOT EXISTS list_loads (
        list_id VARCHAR NOT NULL,
        last_loaded_at TIMESTAMPTZ NOT NULL
    )
    """,
    # Each access (export) and erasure request, and each retention pass: who asked, when, counts only.
    """
    CREATE TABLE IF NOT EXISTS personal_data_requests (
        request_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        requested_by VARCHAR,
        requested_at TIMESTAMPTZ NOT NULL,
        identified_by VARCHAR,
        records_found INTEGER,
        rows_found INTEGER,
        answers_found INTEGER,
        ledger_entries INTEGER,
        suppression_entries INTEGER,
        rows_deleted INTEGER,
        answers_deleted INTEGER,
        ledger_entries_scrubbed INTEGER
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS waterfall_walks (
        list_id VARCHAR NOT NULL,
        record_id VARCHAR NOT NULL,
        lead_fingerprint VARCHAR NOT NULL,
        walk_key VARCHAR NOT NULL,
        walked_at TIMESTAMPTZ NOT NULL
    )
    """,
)


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        conn.execute(statement)


#: DuckDB's memory cap in the pipeline's process. Its default, 80% of the machine's RAM, let the process grow
#: with the list (sorting, joining and grouping a million leads in memory); under the cap DuckDB spills those
#: to ``<db>.tmp/`` on disk instead.
DEFAULT_MEMORY_LIMIT = "384MB"
_MEMORY_LIMIT = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def memory_limit() -> str:
    """``ENRICHMENT_DUCKDB_MEMORY_LIMIT`` (e.g. ``512MB``, ``2GB``), else ``DEFAULT_MEMORY_LIMIT``."""
    value = os.environ.get("ENRICHMENT_DUCKDB_MEMORY_LIMIT", "").strip() or DEFAULT_MEMORY_LIMIT
    if not _MEMORY_LIMIT.match(value):
        raise ValueError(f"ENRICHMENT_DUCKDB_MEMORY_LIMIT must be a size such as 512MB or 2GB, not {value!r}")
    return value


def prepare(conn: duckdb.DuckDBPyConnection) -> None:
    """Ready a pipeline connection: the memory cap (a literal: SET takes no parameters; validated above) and
    the contract schema."""
    conn.execute(f"SET memory_limit = '{memory_limit()}'")
    ensure_schema(conn)


def connect(path: Path, *, read_only: bool = False, attempts: int = 120, wait_seconds: float = 0.5
            ) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting while another process holds its write lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for _ in range(attempts):
        try:
            conn = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:  # another process holds the lock
            last_error = exc
            time.sleep(wait_seconds)
            continue
        if not read_only:
            prepare(conn)
        return conn
    raise RuntimeError(f"could not open {path} (locked by another process?): {last_error}")


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def delete_where_in(conn: duckdb.DuckDBPyConnection, tables: Iterable[str], column: str,
                    values: Sequence[str]) -> dict[str, int]:
    """Delete from each table the rows whose ``column`` is one of ``values``; how many each lost.

    Erasure (by person) and retention (by lead list) delete this way: table and column names come from this
    package, the values are bound.
    """
    deleted = {}
    for table in tables:
        rows = conn.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT unnest(?::VARCHAR[]))",  # noqa: S608 - names from code, values bound
                            [list(values)]).fetchall()
        deleted[table] = int(rows[0][0]) if rows else 0
    return deleted
