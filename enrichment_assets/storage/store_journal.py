"""The request journal (``attempts``, ``attempt_fingerprints``): a row per HTTP request, written before it is
sent, booked when it ends, settled when a later answer shows what an ``unknown`` one cost.

Booking an answer (``record_outcome``) is one transaction: the attempts' outcomes and credits, the stored
answers, the kept answers' reading, the vendor's reported cost and the settlement of earlier ``unknown``
attempts asking the same question.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from enrichment_assets.storage.store_answers import RESPONSE_UPSERT, Answers
from enrichment_assets.storage.store_records import (
    AttemptRow,
    AttemptTotals,
    Settled,
    StoredResponse,
    iso,
    parse_ts,
)
from enrichment_assets.storage.store_sql import Connection, marks
from enrichment_assets.vendors.base import ReceivedAnswer

#: An unknown attempt that a later answer may settle: booked unknown, or answerless with no live owner.
OPEN_UNKNOWN = ("a.settled_by IS NULL AND (a.outcome = 'unknown' OR (a.outcome IS NULL AND "
                "coalesce(a.owner_id NOT IN (SELECT owner_id FROM leases WHERE released_at IS NULL "
                "AND expires_at > ?), TRUE)))")

ATTEMPT_COLUMNS = ("attempt_id, run_id, list_id, provider, endpoint, request_fingerprints, record_ids, sent_at, "
                   "finished_at, http_status, outcome, credits, credit_basis, usd, worst_case_credits, error, "
                   "owner_id, settled_by, settled_at, settlement")


def attempt_row(r: Sequence[Any]) -> AttemptRow:
    return AttemptRow(attempt_id=r[0], run_id=r[1], list_id=r[2], provider=r[3], endpoint=r[4],
                      request_fingerprints=json.loads(r[5]), record_ids=json.loads(r[6]), sent_at=parse_ts(r[7]),
                      finished_at=parse_ts(r[8]), http_status=r[9], outcome=r[10], credits=r[11],
                      credit_basis=r[12], usd=r[13], worst_case_credits=r[14], error=r[15], owner_id=r[16],
                      settled_by=r[17], settled_at=parse_ts(r[18]), settlement=r[19])


class Journal(Answers):
    """Writes and reads of the journal; mixed into each backend's store class."""

    def record_sent(self, row: AttemptRow) -> None:
        with self._tx() as conn:
            inserted = conn.execute(
                "INSERT INTO attempts (attempt_id, run_id, list_id, provider, endpoint, "
                "request_fingerprints, record_ids, sent_at, worst_case_credits, owner_id) "
                "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [row.attempt_id, row.run_id, row.list_id, row.provider, row.endpoint,
                 json.dumps(row.request_fingerprints), json.dumps(row.record_ids), iso(row.sent_at),
                 row.worst_case_credits, row.owner_id],
            ).rowcount
            if inserted:
                conn.executemany("INSERT INTO attempt_fingerprints VALUES (?, ?) ON CONFLICT DO NOTHING",
                                 [(fp, row.attempt_id) for fp in dict.fromkeys(row.request_fingerprints)])

    def record_finished(self, row: AttemptRow, answer: ReceivedAnswer | None = None) -> None:
        """An attempt ended: its status, outcome (``None`` for an answer still to be read) and error; a 2xx body
        is kept as received, in the same transaction, before anything reads it."""
        with self._tx() as conn:
            self._update_attempt(conn, row)
            if answer is not None:
                conn.execute(
                    "INSERT INTO kept_answers (attempt_id, provider, request_fingerprints, request, "
                    "http_status, headers, content, received_at) VALUES (?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (attempt_id) DO UPDATE SET provider = excluded.provider, "
                    "request_fingerprints = excluded.request_fingerprints, request = excluded.request, "
                    "http_status = excluded.http_status, headers = excluded.headers, content = excluded.content, "
                    "received_at = excluded.received_at, read_by_parser = NULL, read_ok = 0, read_error = NULL",
                    [row.attempt_id, row.provider, json.dumps(row.request_fingerprints),
                     self.cipher.seal(json.dumps(answer.request, default=str), "request"), answer.http_status,
                     self.cipher.seal(json.dumps(answer.headers), "headers"),
                     self.cipher.seal_bytes(answer.content, "content"), iso(row.finished_at or datetime.now(UTC))])

    @staticmethod
    def _update_attempt(conn: Connection, a: AttemptRow) -> None:
        conn.execute(
            "UPDATE attempts SET finished_at = ?, http_status = ?, outcome = ?, credits = ?, credit_basis = ?, "
            "usd = ?, error = ? WHERE attempt_id = ?",
            [iso(a.finished_at), a.http_status, a.outcome, a.credits, a.credit_basis, a.usd, a.error, a.attempt_id])

    def record_outcome(self, attempts: list[AttemptRow], responses: list[StoredResponse], *,
                       answers_read: Iterable[tuple[str, int, str | None]] = (),
                       settlement: str | None = None, settled_at: datetime | None = None,
                       same_answer_ids: Iterable[str] = (), read_later_ids: Iterable[str] = ()) -> Settled:
        """Book attempts and store paid responses in one durable transaction.

        ``answers_read``: kept answers this reading concerns, as ``(attempt_id, parser_version, error)`` (``None``:
        read in full). ``settlement``: how each stored response settles the open ``unknown`` attempts that asked
        the same question before it (none when ``None``); ``same_answer_ids`` are attempts not to settle (the
        answer's own). ``read_later_ids``: attempts whose own kept answer this reading booked (settled by
        themselves, ``read_later``). Vendor-reported credits raise the provider's remembered highest cost.
        """
        settled = Settled()
        now = settled_at or datetime.now(UTC)
        with self._tx() as conn:
            for a in attempts:
                self._update_attempt(conn, a)
                # Only a new highest figure is written: on PostgreSQL an upsert locks the provider's row until
                # the group commits, and two processes' groups locking two providers' rows in turn deadlock.
                if a.credit_basis == "vendor_reported" and a.credits is not None and \
                        a.credits > self._reported_in(conn, a.provider, a.endpoint):
                    conn.execute(
                        "INSERT INTO reported_costs VALUES (?, ?, ?, ?) ON CONFLICT (provider, endpoint) DO UPDATE "  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                        f"SET max_credits = {self.dialect.greatest}(reported_costs.max_credits, "
                        "excluded.max_credits), updated_at = excluded.updated_at",
                        [a.provider, a.endpoint, a.credits, iso(now)])
            for r in responses:
                conn.execute(RESPONSE_UPSERT, self.response_values(r))
            for attempt_id, parser_version, error in answers_read:
                conn.execute("UPDATE kept_answers SET read_by_parser = ?, read_ok = ?, read_error = ? "
                             "WHERE attempt_id = ?", [parser_version, int(error is None), error, attempt_id])
            conn.executemany("UPDATE attempts SET settled_by = attempt_id, settled_at = ?, settlement = 'read_later' "
                             "WHERE attempt_id = ?", [(iso(now), a) for a in read_later_ids])
            if settlement is not None and responses:
                self._settle_unknowns(conn, responses, settlement, now, set(same_answer_ids), settled)
        return settled

    @staticmethod
    def _reported_in(conn: Connection, provider: str, endpoint: str) -> float:
        row = conn.execute("SELECT max_credits FROM reported_costs WHERE provider = ? AND endpoint = ?",
                           [provider, endpoint]).fetchone()
        return float("-inf") if row is None else float(row[0])

    def _settle_unknowns(self, conn: Connection, responses: list[StoredResponse], settlement: str,
                         now: datetime, own: set[str], settled: Settled) -> None:
        """Settle the open ``unknown`` attempts whose every question now has an answer (a batch attempt only
        once all of its questions do): ``settled_by`` names the attempt that answered the last of them."""
        answered_by = {r.request_fingerprint: r.attempt_id for r in responses if r.attempt_id}
        candidates: dict[str, tuple[str, str]] = {}
        for fp in answered_by:
            for attempt_id, fps_json, sent_at in conn.execute(
                    "SELECT a.attempt_id, a.request_fingerprints, a.sent_at FROM attempt_fingerprints f "  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                    f"JOIN attempts a ON a.attempt_id = f.attempt_id WHERE f.request_fingerprint = ? "
                    f"AND {OPEN_UNKNOWN}", [fp, iso(now)]).fetchall():
                if attempt_id not in own:
                    candidates[attempt_id] = (fps_json, sent_at)
        for attempt_id, (fps_json, sent_at) in candidates.items():
            fps = json.loads(fps_json)
            if not fps:
                continue
            answered = conn.execute(
                f"SELECT count(*) FROM responses WHERE request_fingerprint IN ({marks(fps)}) AND received_at >= ?",  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                [*(self.cipher.lookup_key(fp) for fp in fps), sent_at]).fetchone()[0]
            if answered < len(set(fps)):
                continue
            by = next((answered_by[fp] for fp in reversed(fps) if fp in answered_by), None)
            conn.execute("UPDATE attempts SET settled_by = ?, settled_at = ?, settlement = ? WHERE attempt_id = ?",
                         [by, iso(now), settlement, attempt_id])
            settled.by[attempt_id] = by or ""

    def attempt(self, attempt_id: str) -> AttemptRow | None:
        rows = self._read(f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE attempt_id = ?", [attempt_id])  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
        return attempt_row(rows[0]) if rows else None

    def attempts(self, *, run_id: str | None = None) -> list[AttemptRow]:
        """Every attempt (or one run's), in journal order, in one list: for small journals and tests."""
        query = f"SELECT {ATTEMPT_COLUMNS} FROM attempts"  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
        params: list[Any] = []
        if run_id is not None:
            query += " WHERE run_id = ?"
            params.append(run_id)
        return [attempt_row(r) for r in self._read(query + f" ORDER BY {self.dialect.seq}", params)]

    def attempt_batches(self, batch_size: int = 50_000, run_ids: Iterable[str | None] | None = None
                        ) -> Iterator[list[AttemptRow]]:
        """Every attempt in journal order, ``batch_size`` at a time (memory bounded by the batch, not the journal).

        Each batch is read in its own short statement (keyset paging on the journal order), so no lock is held
        while the caller works on a batch; attempts written meanwhile show up in a later batch.

        With ``run_ids``, only the attempts of those runs (``None`` stands for attempts without a run), run
        by run and in journal order within a run; batches are filled across runs.
        """
        if run_ids is None:
            yield from self._attempt_pages(batch_size)
            return
        batch: list[AttemptRow] = []
        for run_id in sorted(set(run_ids), key=lambda r: (r is not None, r or "")):
            for rows in self._attempt_pages(batch_size, by_run=True, run_id=run_id):
                for row in rows:
                    batch.append(row)
                    if len(batch) == batch_size:
                        yield batch
                        batch = []
        if batch:
            yield batch

    def _attempt_pages(self, page_size: int, *, by_run: bool = False, run_id: str | None = None
                       ) -> Iterator[list[AttemptRow]]:
        """Attempts in journal order, a page per short statement; ``by_run``: only those of ``run_id``, found
        through the index on (run_id, journal order): a small run is read without scanning the journal."""
        seq = self.dialect.seq
        where, params = "", []
        if by_run:
            where, params = ("run_id IS NULL AND " if run_id is None else "run_id = ? AND "), (
                [] if run_id is None else [run_id])
        sql = f"SELECT {seq}, {ATTEMPT_COLUMNS} FROM attempts WHERE {where}{seq} > ? ORDER BY {seq} LIMIT ?"  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
        for rows in self._read_pages(sql, [*params, page_size]):
            yield [attempt_row(r[1:]) for r in rows]

    def attempt_totals(self) -> list[AttemptTotals]:
        """Per run, owner, outcome and credit basis: how many attempts, their amounts, how many identifiers they
        name and how many were settled.

        One pass over the journal in the database, without building a Python object per attempt: cheap enough
        to tell, on every run, which runs' ledger rows may be out of date.
        """
        ids, fps = self.dialect.json_len("record_ids"), self.dialect.json_len("request_fingerprints")
        rows = self._read(
            "SELECT run_id, owner_id, outcome, credit_basis, count(*), coalesce(sum(credits), 0.0), "  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
            "coalesce(sum(usd), 0.0), coalesce(sum(http_status), 0), count(error), "
            f"count(*) FILTER (WHERE {ids} = 1), coalesce(sum({ids}), 0), "
            f"count(*) FILTER (WHERE {fps} = 1), coalesce(sum({fps}), 0), "
            "count(settled_by), count(*) FILTER (WHERE settlement = 'billed_once'), "
            "coalesce(sum(CASE WHEN (outcome IS NULL OR outcome = 'unknown') "
            "AND coalesce(settlement, '') <> 'billed_once' "
            f"THEN {self.dialect.greatest}(0, coalesce(worst_case_credits, 0) - coalesce(credits, 0)) "
            "ELSE 0 END), 0.0) "
            "FROM attempts GROUP BY run_id, owner_id, outcome, credit_basis")
        return [AttemptTotals(*(float(v) if i in (5, 6, 15) else v for i, v in enumerate(r))) for r in rows]
