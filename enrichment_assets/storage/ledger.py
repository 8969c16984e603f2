"""The credit ledger in DuckDB, rebuilt from the durable request journal.

The journal (response store) is the source of truth: every HTTP request is in
it before it is sent. The ledger shows each one; a request whose process died
before its answer was recorded shows as ``outcome = unknown``, with zero
credits and its worst case in ``worst_case_credits``.
"""

from __future__ import annotations

from collections.abc import Container

import duckdb
import pyarrow as pa

from enrichment_assets.storage.response_store import AttemptRow, ResponseStore
from enrichment_assets.storage.warehouse import transaction

UNKNOWN = "unknown"


#: Journal rows turned into ledger rows at a time: the ledger's memory is bounded by this, not by the history.
BATCH_ROWS = 10_000

LEDGER_SCHEMA = pa.schema([
    ("entry_id", pa.string()), ("called_at", pa.timestamp("us", tz="UTC")), ("run_id", pa.string()),
    ("list_id", pa.string()), ("record_id", pa.string()), ("provider", pa.string()), ("endpoint", pa.string()),
    ("request_fingerprint", pa.string()), ("http_status", pa.int32()), ("outcome", pa.string()),
    ("credits", pa.float64()), ("credit_basis", pa.string()), ("usd", pa.float64()),
    ("worst_case_credits", pa.float64()), ("record_ids", pa.list_(pa.string())),
    ("request_fingerprints", pa.list_(pa.string())), ("error", pa.string()),
])


def ledger_table(store: ResponseStore, active_run_ids: Container[str] = frozenset()) -> pa.Table:
    """The whole ledger as one Arrow table (small journals, tests); ``sync_ledger`` streams it instead."""
    batches = [_ledger_batch(rows, active_run_ids) for rows in store.attempt_batches(BATCH_ROWS)]
    return pa.Table.from_batches(batches, LEDGER_SCHEMA) if batches else LEDGER_SCHEMA.empty_table()


def _ledger_batch(rows: list[AttemptRow], active_run_ids: Container[str]) -> pa.RecordBatch:
    keep = [a for a in rows if a.outcome is not None or a.run_id not in active_run_ids]
    return pa.RecordBatch.from_pydict({
        "entry_id": [a.attempt_id for a in keep],
        "called_at": pa.array([a.sent_at for a in keep], pa.timestamp("us", tz="UTC")),
        "run_id": [a.run_id for a in keep],
        "list_id": [a.list_id for a in keep],
        "record_id": [a.record_ids[0] if len(a.record_ids) == 1 else None for a in keep],
        "provider": [a.provider for a in keep],
        "endpoint": [a.endpoint for a in keep],
        "request_fingerprint": [a.request_fingerprints[0] if len(a.request_fingerprints) == 1 else None
                                for a in keep],
        "http_status": pa.array([a.http_status for a in keep], pa.int32()),
        "outcome": [a.outcome or UNKNOWN for a in keep],
        "credits": [float(a.credits or 0.0) for a in keep],
        "credit_basis": [a.credit_basis or ("unknown" if a.outcome is None else "price_rule") for a in keep],
        "usd": [float(a.usd or 0.0) for a in keep],
        "worst_case_credits": pa.array([a.worst_case_credits for a in keep], pa.float64()),
        "record_ids": [a.record_ids for a in keep],
        "request_fingerprints": [a.request_fingerprints for a in keep],
        "error": [a.error for a in keep],
    }, schema=LEDGER_SCHEMA)


def sync_ledger(conn: duckdb.DuckDBPyConnection, store: ResponseStore,
                active_run_ids: Container[str] = frozenset()) -> int:
    """Rebuild ``credit_ledger`` from the journal; returns its row count.

    Requests of runs still in progress (``active_run_ids``) without an answer yet are left out rather than
    shown as unknown.
    """
    count = 0
    with transaction(conn):
        conn.execute("DELETE FROM credit_ledger")
        # Batch by batch: the journal holds every request ever sent (millions after a few big lists), and
        # turning all of it into Python objects at once would make each run's memory grow with the history.
        for rows in store.attempt_batches(BATCH_ROWS):
            batch = _ledger_batch(rows, active_run_ids)
            conn.register("ledger_rows", pa.Table.from_batches([batch], LEDGER_SCHEMA))
            try:
                conn.execute("INSERT INTO credit_ledger BY NAME SELECT * FROM ledger_rows")
            finally:
                conn.unregister("ledger_rows")
            count += batch.num_rows
    return count
