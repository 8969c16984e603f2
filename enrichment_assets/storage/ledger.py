"""The credit ledger in DuckDB, rebuilt from the durable request journal.

The journal (response store) is the source of truth: every HTTP request is in
it before it is sent. The ledger shows each one. A request without a usable
answer shows as ``outcome = unknown``, with its certain credits (0 for one
request) and its worst case in ``worst_case_credits``: those the client booked
so (a timeout after sending, a dropped connection, a 5xx, an unreadable 2xx),
and those still answerless whose owner is gone (its lease expired or was
released: the process died), whatever Dagster says of the run. An answerless
request of a process whose lease is alive is in flight and not shown yet.
``uncertain_credits`` is what an unknown row may have cost on top of its
credits; a later answer to the same question settles it (``settled_by``,
``settled_at``, ``settlement``): ``billed_once`` (the vendor bills a repeated
question once: nothing more), ``asked_again`` (its worst case stands) or
``read_later`` (its own kept answer was read after a parser fix, and it is
booked with what that answer says).

``sync_ledger`` is incremental: it compares per-run totals of the journal with
the same totals of the ledger and re-syncs only the runs that differ, so a run
that sent nothing costs one pass of SQLite aggregates instead of re-reading
the whole history. The result is the table a full rebuild (``rebuild_ledger``)
would give.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from enrichment_assets.outcomes import LedgerOutcome, UnknownSettlement
from enrichment_assets.storage.state_store import AttemptRow, AttemptTotals, StateStore
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
    ("uncertain_credits", pa.float64()), ("settled_by", pa.string()), ("settled_at", pa.timestamp("us", tz="UTC")),
    ("settlement", pa.string()),
])


@dataclass(frozen=True)
class InFlight:
    """Which answerless requests are still in flight (not shown yet) rather than ``unknown``."""

    #: Owners whose lease is held and not expired.
    live_owners: frozenset[str]
    #: Dagster runs still in progress; ``None`` when the caller does not know (the leases alone decide).
    active_run_ids: Container[str] | None

    @classmethod
    def now(cls, store: StateStore, active_run_ids: Container[str] | None) -> InFlight:
        return cls(frozenset(store.live_owners()), active_run_ids)

    def hides(self, outcome: str | None, run_id: str | None, owner_id: str | None) -> bool:
        """An answerless request is hidden while its owner's lease is alive and its run still runs; one written
        before leases (no owner) while its run still runs."""
        if outcome is not None:
            return False
        run_active = self.active_run_ids is None or run_id in self.active_run_ids
        if owner_id is None:
            return self.active_run_ids is not None and run_id in self.active_run_ids
        return owner_id in self.live_owners and run_active


def ledger_table(store: StateStore, active_run_ids: Container[str] | None = None) -> pa.Table:
    """The whole ledger as one Arrow table (small journals, tests); ``sync_ledger`` streams it instead."""
    inflight = InFlight.now(store, active_run_ids)
    batches = [_ledger_batch(rows, inflight) for rows in store.attempt_batches(BATCH_ROWS)]
    return pa.Table.from_batches(batches, LEDGER_SCHEMA) if batches else LEDGER_SCHEMA.empty_table()


def _ledger_outcome(outcome: str | None) -> str:
    return outcome or LedgerOutcome.UNKNOWN


def _ledger_basis(outcome: str | None, credit_basis: str | None) -> str:
    return credit_basis or ("unknown" if outcome is None else "price_rule")


def _uncertain(a: AttemptRow) -> float:
    """What an unknown row may have cost beyond its certain credits (0 once settled as billed once)."""
    if _ledger_outcome(a.outcome) != LedgerOutcome.UNKNOWN or a.settlement == UnknownSettlement.BILLED_ONCE:
        return 0.0
    return max(0.0, float(a.worst_case_credits or 0.0) - float(a.credits or 0.0))


def _ledger_batch(rows: list[AttemptRow], inflight: InFlight) -> pa.RecordBatch:
    keep = [a for a in rows if not inflight.hides(a.outcome, a.run_id, a.owner_id)]
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
        "uncertain_credits": [_uncertain(a) for a in keep],
        "settled_by": [a.settled_by for a in keep],
        "settled_at": pa.array([a.settled_at for a in keep], pa.timestamp("us", tz="UTC")),
        "settlement": [a.settlement for a in keep],
    }, schema=LEDGER_SCHEMA)


def sync_ledger(conn: duckdb.DuckDBPyConnection, store: StateStore,
                active_run_ids: Container[str] | None = None) -> int:
    """Bring ``credit_ledger`` up to date with the journal; returns its row count.

    Requests without an answer yet whose owner's lease is alive and whose run is still in progress
    (``active_run_ids``; ``None``: unknown, the lease decides) are left out rather than shown as unknown. Only runs
    whose ledger rows differ from the journal are re-synced (see ``_stale_runs``); the table ends up as
    ``rebuild_ledger`` would leave it, in one transaction.
    """
    inflight = InFlight.now(store, active_run_ids)
    with transaction(conn):
        stale = _stale_runs(conn, store, inflight)
        if stale:
            _delete_runs(conn, stale)
            for rows in store.attempt_batches(BATCH_ROWS, run_ids=stale):
                _insert(conn, _ledger_batch(rows, inflight))
        count = conn.execute("SELECT count(*) FROM credit_ledger").fetchone()[0]
    return int(count)


def rebuild_ledger(conn: duckdb.DuckDBPyConnection, store: StateStore,
                   active_run_ids: Container[str] | None = None) -> int:
    """Rebuild ``credit_ledger`` from the whole journal; returns its row count.

    ``sync_ledger`` gives the same table for less work; this is the reference it is tested against, and a way
    to start over should the ledger have been edited by hand.
    """
    count = 0
    inflight = InFlight.now(store, active_run_ids)
    with transaction(conn):
        conn.execute("DELETE FROM credit_ledger")
        # Batch by batch: the journal holds every request ever sent (millions after a few big lists), and
        # turning all of it into Python objects at once would make each run's memory grow with the history.
        for rows in store.attempt_batches(BATCH_ROWS):
            count += _insert(conn, _ledger_batch(rows, inflight))
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
#: record ids, rows with one request fingerprint (so a ``request_fingerprint``), request fingerprints, rows
#: settled by a later answer, rows settled as billed once, uncertain credits.
_Key = tuple[str | None, str, str]
_Totals = tuple[int, float, float, int, int, int, int, int, int, int, int, float]
_FLOAT_TOTALS = (1, 2, 11)

_LEDGER_TOTALS_SQL = """
    SELECT run_id, outcome, credit_basis, count(*), coalesce(sum(credits), 0), coalesce(sum(usd), 0),
           coalesce(sum(http_status), 0), count(error), count(record_id), coalesce(sum(len(record_ids)), 0),
           count(request_fingerprint), coalesce(sum(len(request_fingerprints)), 0),
           count(settled_by), count(*) FILTER (WHERE settlement = 'billed_once'), coalesce(sum(uncertain_credits), 0)
    FROM credit_ledger GROUP BY run_id, outcome, credit_basis
"""


def _stale_runs(conn: duckdb.DuckDBPyConnection, store: StateStore, inflight: InFlight) -> set[str | None]:
    """The runs whose ledger rows may differ from what the journal gives now.

    A journal row changes after it is written only by ``record_outcome`` (outcome, amounts, status, error,
    settlement by a later answer) and by erasure (identifiers removed, never added); whether an answerless
    row is shown depends on its owner's lease and ``active_run_ids``. Each of these changes some total
    compared here: the outcome and credit basis are part of the key, amounts and statuses are summed,
    identifiers and settlements are counted (and a scrub of the ledger that left ``record_id`` or
    ``request_fingerprint`` different from a rebuild shows in the counts of rows that have one). Rows not in the
    journal at all, or missing from the ledger, change the row count.
    """
    journal = _journal_totals(store.attempt_totals(), inflight)
    ledger = {(r[0], r[1], r[2]): _totals(r[3:]) for r in conn.execute(_LEDGER_TOTALS_SQL).fetchall()}
    return {key[0] for key in journal.keys() | ledger.keys() if not _same(journal.get(key), ledger.get(key))}


def _journal_totals(groups: Iterable[AttemptTotals], inflight: InFlight) -> dict[_Key, _Totals]:
    """The journal's totals keyed as the ledger shows them (several raw outcomes and owners may map to one)."""
    out: dict[_Key, _Totals] = {}
    for g in groups:
        if inflight.hides(g.outcome, g.run_id, g.owner_id):
            continue
        key = (g.run_id, _ledger_outcome(g.outcome), _ledger_basis(g.outcome, g.credit_basis))
        totals = _totals(g[4:])
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
