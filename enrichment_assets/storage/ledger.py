"""The credit ledger in DuckDB, rebuilt from the durable request journal.

The journal (response store) is the source of truth: every HTTP request is in
it before it is sent. The ledger shows each one; a request whose process died
before its answer was recorded shows as ``outcome = unknown``, with zero
credits and its worst case in ``worst_case_credits``.

``sync_ledger`` is incremental: it compares per-run totals of the journal with
the same totals of the ledger and re-syncs only the runs that differ, so a run
that sent nothing costs one pass of SQLite aggregates instead of re-reading
the whole history. The result is the table a full rebuild (``rebuild_ledger``)
would give.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable

import duckdb
import pyarrow as pa

from enrichment_assets.outcomes import LedgerOutcome
from enrichment_assets.storage.response_store import AttemptRow, AttemptTotals, ResponseStore
from enrichment_assets.storage.warehouse import transaction

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


def _ledger_outcome(outcome: str | None) -> str:
    return outcome or LedgerOutcome.UNKNOWN


def _ledger_basis(outcome: str | None, credit_basis: str | None) -> str:
    return credit_basis or ("unknown" if outcome is None else "price_rule")


def _shown(outcome: str | None, run_id: str | None, active_run_ids: Container[str]) -> bool:
    """Whether a journal row has a ledger row: an answerless request of a run still in progress has none yet."""
    return outcome is not None or run_id not in active_run_ids


def _ledger_batch(rows: list[AttemptRow], active_run_ids: Container[str]) -> pa.RecordBatch:
    keep = [a for a in rows if _shown(a.outcome, a.run_id, active_run_ids)]
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
        "outcome": [_ledger_outcome(a.outcome) for a in keep],
        "credits": [float(a.credits or 0.0) for a in keep],
        "credit_basis": [_ledger_basis(a.outcome, a.credit_basis) for a in keep],
        "usd": [float(a.usd or 0.0) for a in keep],
        "worst_case_credits": pa.array([a.worst_case_credits for a in keep], pa.float64()),
        "record_ids": [a.record_ids for a in keep],
        "request_fingerprints": [a.request_fingerprints for a in keep],
        "error": [a.error for a in keep],
    }, schema=LEDGER_SCHEMA)


def sync_ledger(conn: duckdb.DuckDBPyConnection, store: ResponseStore,
                active_run_ids: Container[str] = frozenset()) -> int:
    """Bring ``credit_ledger`` up to date with the journal; returns its row count.

    Requests of runs still in progress (``active_run_ids``) without an answer yet are left out rather than
    shown as unknown. Only runs whose ledger rows differ from the journal are re-synced (see
    ``_stale_runs``); the table ends up as ``rebuild_ledger`` would leave it, in one transaction.
    """
    with transaction(conn):
        stale = _stale_runs(conn, store, active_run_ids)
        if stale:
            _delete_runs(conn, stale)
            for rows in store.attempt_batches(BATCH_ROWS, run_ids=stale):
                _insert(conn, _ledger_batch(rows, active_run_ids))
        count = conn.execute("SELECT count(*) FROM credit_ledger").fetchone()[0]
    return int(count)


def rebuild_ledger(conn: duckdb.DuckDBPyConnection, store: ResponseStore,
                   active_run_ids: Container[str] = frozenset()) -> int:
    """Rebuild ``credit_ledger`` from the whole journal; returns its row count.

    ``sync_ledger`` gives the same table for less work; this is the reference it is tested against, and a way
    to start over should the ledger have been edited by hand.
    """
    count = 0
    with transaction(conn):
        conn.execute("DELETE FROM credit_ledger")
        # Batch by batch: the journal holds every request ever sent (millions after a few big lists), and
        # turning all of it into Python objects at once would make each run's memory grow with the history.
        for rows in store.attempt_batches(BATCH_ROWS):
            count += _insert(conn, _ledger_batch(rows, active_run_ids))
    return count


def _insert(conn: duckdb.DuckDBPyConnection, batch: pa.RecordBatch) -> int:
    conn.register("ledger_rows", pa.Table.from_batches([batch], LEDGER_SCHEMA))
    try:
        conn.execute("INSERT INTO credit_ledger BY NAME SELECT * FROM ledger_rows")
    finally:
        conn.unregister("ledger_rows")
    return batch.num_rows


# ---------------------------------------------------------------------------------------- which runs to re-sync

#: Per (run_id, ledger outcome, ledger credit basis): the totals both sides are compared on, in this order:
#: rows, credits, usd, sum of http_status, rows with an error, rows with one record id (so a ``record_id``),
#: record ids, rows with one request fingerprint (so a ``request_fingerprint``), request fingerprints.
_Key = tuple[str | None, str, str]
_Totals = tuple[int, float, float, int, int, int, int, int, int]
_FLOAT_TOTALS = (1, 2)

_LEDGER_TOTALS_SQL = """
    SELECT run_id, outcome, credit_basis, count(*), coalesce(sum(credits), 0), coalesce(sum(usd), 0),
           coalesce(sum(http_status), 0), count(error), count(record_id), coalesce(sum(len(record_ids)), 0),
           count(request_fingerprint), coalesce(sum(len(request_fingerprints)), 0)
    FROM credit_ledger GROUP BY run_id, outcome, credit_basis
"""


def _stale_runs(conn: duckdb.DuckDBPyConnection, store: ResponseStore,
                active_run_ids: Container[str]) -> set[str | None]:
    """The runs whose ledger rows may differ from what the journal gives now.

    A journal row changes after it is written only by ``record_outcome`` (outcome, amounts, status, error)
    and by erasure (identifiers removed, never added); whether an answerless row is shown depends on
    ``active_run_ids``. Each of these changes some total compared here: the outcome and credit basis are
    part of the key, amounts and statuses are summed, identifiers are counted (and a scrub of the ledger
    that left ``record_id`` or ``request_fingerprint`` different from a rebuild shows in the counts of
    rows that have one). Rows not in the journal at all, or missing from the ledger, change the row count.
    """
    journal = _journal_totals(store.attempt_totals(), active_run_ids)
    ledger = {(r[0], r[1], r[2]): _totals(r[3:]) for r in conn.execute(_LEDGER_TOTALS_SQL).fetchall()}
    return {key[0] for key in journal.keys() | ledger.keys() if not _same(journal.get(key), ledger.get(key))}


def _journal_totals(groups: Iterable[AttemptTotals], active_run_ids: Container[str]) -> dict[_Key, _Totals]:
    """The journal's totals keyed as the ledger shows them (several raw outcomes may map to one)."""
    out: dict[_Key, _Totals] = {}
    for g in groups:
        if not _shown(g.outcome, g.run_id, active_run_ids):
            continue
        key = (g.run_id, _ledger_outcome(g.outcome), _ledger_basis(g.outcome, g.credit_basis))
        totals = _totals(g[3:])
        out[key] = totals if key not in out else _totals(a + b for a, b in zip(out[key], totals, strict=True))
    return out


def _totals(values: Iterable[object]) -> _Totals:
    """Plain ints and floats (DuckDB sums integers as HUGEINT, SQLite leaves a sum of nothing NULL)."""
    return tuple(float(x or 0.0) if i in _FLOAT_TOTALS else int(x or 0)  # type: ignore[return-value, call-overload]
                 for i, x in enumerate(values))


def _same(a: _Totals | None, b: _Totals | None) -> bool:
    if a is None or b is None:
        return a is b
    # Sums of doubles: SQLite and DuckDB may add them in another order or precision, so allow rounding noise.
    return all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9) if i in _FLOAT_TOTALS else x == y
               for i, (x, y) in enumerate(zip(a, b, strict=True)))


def _delete_runs(conn: duckdb.DuckDBPyConnection, run_ids: set[str | None]) -> None:
    named = sorted(r for r in run_ids if r is not None)
    if named:
        conn.execute("DELETE FROM credit_ledger WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [named])
    if None in run_ids:
        conn.execute("DELETE FROM credit_ledger WHERE run_id IS NULL")
