"""In-flight claims: before a request is sent, its fingerprint is claimed in the state store.

Single flight across processes (and, on PostgreSQL, machines): a process that needs the answer to a request
another live process has claimed waits for the stored answer instead of sending it, so the vendor never sees
two requests with the same fingerprint at once and never bills the same question to two runs.

A claim belongs to the claimant's lease (``storage/lease.py``): it holds while that lease is alive. When the
claimant dies, its lease expires and so does the claim: the request it had in flight shows as ``unknown`` in the
ledger (as every answerless request of a dead process does) and the next process that needs the answer takes
the claim over and asks again.

When the claimant is done it releases the claim, saying how the request ended (only an ``unknown`` release
stays in the table, for its waiters to read; the others delete the row, so the table holds what is in flight
and what ended unknown, not every question ever asked):

* ``answered``: the answer is in the store (waiters read it);
* ``unknown``: sent, no usable answer (the vendor may have billed it): a waiter does not send it again but leaves
  its lead pending, as the claimant's own lead is; a later run asks again (the vendor's ``retry_unknown`` policy);
* ``not_sent``: nothing was sent or billed (over budget, an unbilled error): a waiter claims it and asks itself.

The claim table lives in the same database as the leases, so taking a claim over from a dead owner and checking
that owner's lease are one statement (``INSERT … ON CONFLICT DO UPDATE … WHERE`` with ``RETURNING``), the same on
both backends: SQLite runs it in a write transaction (the file's write lock makes it serial across processes),
PostgreSQL in a short transaction of its own (the row lock does, across machines).

This module also holds the leases' queries (``storage/lease.py`` is the heartbeat that keeps one alive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from enrichment_assets.storage.store_records import Lease, iso, parse_ts
from enrichment_assets.storage.store_sql import StoreBackend

ANSWERED = "answered"
UNKNOWN = "unknown"
NOT_SENT = "not_sent"
RELEASE_OUTCOMES = (ANSWERED, UNKNOWN, NOT_SENT)


@dataclass(frozen=True, slots=True)
class Claim:
    """The claim on one request fingerprint, as the store has it."""

    request_fingerprint: str
    owner_id: str
    claimed_at: datetime
    released_at: datetime | None
    #: How the claimant's request ended (``RELEASE_OUTCOMES``); ``None`` while it is held.
    outcome: str | None
    #: Whether the claimant's lease is alive (a claim of a dead process is free to take).
    owner_alive: bool

    @property
    def held(self) -> bool:
        """Held by a live claimant that has not released it: its request may be on the wire right now."""
        return self.released_at is None and self.owner_alive

    def same_as(self, other: Claim | None) -> bool:
        return other is not None and (other.owner_id, other.claimed_at) == (self.owner_id, self.claimed_at)


def _check_outcome(outcome: str) -> None:
    if outcome not in RELEASE_OUTCOMES:
        raise ValueError(f"a claim is released as one of {RELEASE_OUTCOMES}, not {outcome!r}")


_LIVE = "released_at IS NULL AND expires_at > ?"

_CLAIM_OF = (
    "SELECT c.owner_id, c.claimed_at, c.released_at, c.outcome, EXISTS (SELECT 1 FROM leases l WHERE "
    "l.owner_id = c.owner_id AND l.released_at IS NULL AND l.expires_at > ?) FROM claims c "
    "WHERE c.request_fingerprint = ?")

#: Take the claim when it is free, released, its owner's lease lapsed, or already this owner's; else no row.
_TAKE = (
    "INSERT INTO claims (request_fingerprint, owner_id, claimed_at) VALUES (?, ?, ?) "
    "ON CONFLICT (request_fingerprint) DO UPDATE SET owner_id = excluded.owner_id, "
    "claimed_at = excluded.claimed_at, released_at = NULL, outcome = NULL "
    "WHERE claims.owner_id = excluded.owner_id OR claims.released_at IS NOT NULL "
    "OR NOT EXISTS (SELECT 1 FROM leases l WHERE l.owner_id = claims.owner_id "
    "AND l.released_at IS NULL AND l.expires_at > ?) RETURNING 1")


class LeasesAndClaims(StoreBackend):
    """Leases and in-flight claims; mixed into each backend's store class."""

    # ------------------------------------------------------------------ leases

    def acquire_lease(self, lease: Lease) -> None:
        now = iso(datetime.now(UTC))
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO leases (owner_id, run_id, pid, host, started_at, renewed_at, expires_at, released_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (owner_id) DO UPDATE SET run_id = excluded.run_id, "
                "pid = excluded.pid, host = excluded.host, started_at = excluded.started_at, "
                "renewed_at = excluded.renewed_at, expires_at = excluded.expires_at, released_at = NULL",
                [lease.owner_id, lease.run_id, lease.pid, lease.host, now, now, iso(lease.expires_at)])

    def renew_lease(self, owner_id: str, expires_at: datetime) -> bool:
        """Push the lease's expiry out; False when it was released (or never taken)."""
        with self._tx() as conn:
            return conn.execute("UPDATE leases SET renewed_at = ?, expires_at = ? WHERE owner_id = ? "
                                "AND released_at IS NULL",
                                [iso(datetime.now(UTC)), iso(expires_at), owner_id]).rowcount > 0

    def release_lease(self, owner_id: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE leases SET released_at = ? WHERE owner_id = ?", [iso(datetime.now(UTC)), owner_id])

    def live_owners(self, now: datetime | None = None) -> set[str]:
        """Owners whose lease is held and not expired: their answerless attempts are still in flight."""
        rows = self._read(f"SELECT owner_id FROM leases WHERE {_LIVE}", [iso(now or datetime.now(UTC))])  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
        return {r[0] for r in rows}

    def leases(self) -> list[Lease]:
        rows = self._read("SELECT owner_id, run_id, pid, host, expires_at FROM leases ORDER BY started_at")
        return [Lease(r[0], r[1], r[2], r[3], parse_ts(r[4]) or datetime.now(UTC)) for r in rows]

    # ------------------------------------------------------------------ claims

    def claim(self, request_fingerprint: str, owner_id: str, now: datetime | None = None) -> Claim | None:
        """Claim the request for ``owner_id``: ``None`` when it is now this owner's (free, released, its owner's
        lease lapsed, or already this owner's), else the live claim of another owner."""
        now = now or datetime.now(UTC)
        for _ in range(5):  # the holder may release between our insert and our look: look again
            try:
                with self._claim_tx() as conn:
                    taken = conn.execute(_TAKE, [request_fingerprint, owner_id, iso(now), iso(now)]).fetchone()
                    row = None if taken else conn.execute(_CLAIM_OF, [iso(now), request_fingerprint]).fetchone()
            except self._claim_retry_errors:
                continue
            except self._claim_busy_errors:
                # The row is locked by a group of writes of another process that may itself wait on a group of
                # ours, which cannot commit while this claim waits: report it held and let the caller look again
                # later, outside this group (PostgreSQL cannot see that cycle to break it).
                return Claim(request_fingerprint, "", now, None, None, True)
            if taken is not None:
                return None
            if row is not None and row[2] is None and row[4]:
                return Claim(request_fingerprint, row[0], parse_ts(row[1]) or now, None, None, True)
        raise RuntimeError("could not claim a request fingerprint: its claim kept changing hands")

    def release_claim(self, request_fingerprint: str, owner_id: str, outcome: str) -> None:
        """Release this owner's claim, saying how its request ended (a claim taken over meanwhile is left alone)."""
        _check_outcome(outcome)
        with self._tx() as conn:
            if outcome != UNKNOWN:  # nothing for a waiter to learn from the row: the answer is stored, or nothing
                conn.execute("DELETE FROM claims WHERE request_fingerprint = ? AND owner_id = ? "
                             "AND released_at IS NULL", [request_fingerprint, owner_id])
                return
            conn.execute("UPDATE claims SET released_at = ?, outcome = ? WHERE request_fingerprint = ? "
                         "AND owner_id = ? AND released_at IS NULL",
                         [iso(datetime.now(UTC)), outcome, request_fingerprint, owner_id])

    def claim_of(self, request_fingerprint: str, now: datetime | None = None) -> Claim | None:
        rows = self._read(_CLAIM_OF, [iso(now or datetime.now(UTC)), request_fingerprint])
        if not rows:
            return None
        r = rows[0]
        return Claim(request_fingerprint, r[0], parse_ts(r[1]) or datetime.now(UTC), parse_ts(r[2]), r[3],
                     bool(r[4]))
