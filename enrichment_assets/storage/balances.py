"""``vendor_balances``: what each vendor said was left on the account before and after a run's calls to it.

One row per reading: ``run_id, list_id, provider, phase`` (``before`` / ``after``), ``read_at``, ``credits``
(``NULL`` when the vendor gave no figure), ``source`` (``GET <path>``, a header, or ``none``) and ``error`` (why
there is no figure). The ``ledger_matches_vendor_balance`` check compares each run's drop with its ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from enrichment_assets.vendors.balance import BalanceReading

PHASES = ("before", "after")


def record_readings(conn: duckdb.DuckDBPyConnection, run_id: str, list_id: str | None, phase: str,
                    readings: Iterable[BalanceReading]) -> int:
    """Append one row per reading; returns how many."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
    rows = [(run_id, list_id, r.provider, phase, r.read_at, r.credits, r.source, r.error) for r in readings]
    if rows:
        conn.executemany("INSERT INTO vendor_balances VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


@dataclass(frozen=True, slots=True)
class RunBalance:
    """One provider's readings around one run's calls (the latest of each phase), and what the ledger booked."""

    provider: str
    before: float | None
    after: float | None
    before_at: datetime | None
    after_at: datetime | None
    #: Why a figure is missing (the reading's own error), when one is.
    error: str | None
    source: str | None
    booked: float
    unknown_worst_case: float
    #: Requests of this run in the ledger (a provider with readings but no request reconciles to a zero drop).
    requests: int
    #: Whether every one of the run's paid requests was booked at the vendor's own figure (no price rule applied).
    vendor_reported: bool
    #: Other runs whose readings for this provider overlap this run's window (they may have spent meanwhile).
    overlapping_runs: tuple[str, ...] = ()


_RUN_BALANCES_SQL = """
    WITH readings AS (
        SELECT provider, phase, read_at, credits, source, error,
               row_number() OVER (PARTITION BY provider, phase ORDER BY read_at DESC) AS latest
        FROM vendor_balances WHERE run_id = $run_id),
    before AS (SELECT * FROM readings WHERE phase = 'before' AND latest = 1),
    after AS (SELECT * FROM readings WHERE phase = 'after' AND latest = 1),
    booked AS (
        SELECT provider, coalesce(sum(credits), 0) AS credits,
               coalesce(sum(worst_case_credits) FILTER (WHERE outcome = 'unknown'), 0) AS unknown_worst_case,
               count(*) AS requests,
               count(*) FILTER (WHERE credit_basis = 'price_rule' AND credits > 0) = 0 AS vendor_reported
        FROM credit_ledger WHERE run_id = $run_id GROUP BY provider),
    providers AS (SELECT provider FROM before UNION SELECT provider FROM after)
    SELECT p.provider, b.credits, a.credits, b.read_at, a.read_at, coalesce(b.error, a.error),
           coalesce(a.source, b.source), coalesce(k.credits, 0), coalesce(k.unknown_worst_case, 0),
           coalesce(k.requests, 0), coalesce(k.vendor_reported, TRUE)
    FROM providers p LEFT JOIN before b USING (provider) LEFT JOIN after a USING (provider)
    LEFT JOIN booked k USING (provider)
    ORDER BY p.provider
"""

_OVERLAPS_SQL = """
    WITH windows AS (
        SELECT run_id, provider, min(read_at) AS start, max(read_at) AS stop
        FROM vendor_balances GROUP BY run_id, provider)
    SELECT other.run_id FROM windows other
    WHERE other.provider = $provider AND other.run_id <> $run_id
      AND other.start <= $stop AND other.stop >= $start
    ORDER BY other.run_id
"""


def run_balances(conn: duckdb.DuckDBPyConnection, run_id: str) -> list[RunBalance]:
    """Per provider read in ``run_id``: its readings, the ledger's figures for the run, and overlapping runs."""
    out = []
    for (provider, before, after, before_at, after_at, error, source, booked, unknown, requests,
         vendor_reported) in conn.execute(_RUN_BALANCES_SQL, {"run_id": run_id}).fetchall():
        overlapping: tuple[str, ...] = ()
        if before_at is not None and after_at is not None:
            overlapping = tuple(r for (r,) in conn.execute(_OVERLAPS_SQL, {
                "provider": provider, "run_id": run_id, "start": before_at, "stop": after_at}).fetchall())
        out.append(RunBalance(provider, before, after, before_at, after_at, error, source, float(booked),
                              float(unknown), int(requests), bool(vendor_reported), overlapping))
    return out
