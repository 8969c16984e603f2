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

from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.storage.warehouse import transaction

UNKNOWN = "unknown"


def ledger_table(store: ResponseStore, active_run_ids: Container[str] = frozenset()) -> pa.Table:
    rows = store.attempts()
    keep = [a for a in rows if a.outcome is not None or a.run_id not in active_run_ids]
    return pa.table({
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
    })


def sync_ledger(conn: duckdb.DuckDBPyConnection, store: ResponseStore,
                active_run_ids: Container[str] = frozenset()) -> int:
    """Rebuild ``credit_ledger`` from the journal; returns its row count.

    Requests of runs still in progress (``active_run_ids``) without an answer yet are left out rather than
    shown as unknown.
    """
    table = ledger_table(store, active_run_ids)
    with transaction(conn):
        conn.execute("DELETE FROM credit_ledger")
        conn.register("ledger_rows", table)
        try:
            conn.execute("INSERT INTO credit_ledger BY NAME SELECT * FROM ledger_rows")
        finally:
            conn.unregister("ledger_rows")
    return table.num_rows
