"""Stored answers (``responses``), kept answers (``kept_answers``) and reported costs: reads and copies.

A fresh stored answer answers the same request later with no call; a kept answer is a paid 2xx body as it
arrived, read again after a parser fix, never bought again. Writing them is part of booking an attempt
(``store_journal.py``). With a key (``store_crypto.py``) the personal fields are sealed and ``responses`` is
looked up by a keyed hash of the request fingerprint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from enrichment_assets.storage.store_records import KeptAnswer, StoredResponse, iso, parse_ts
from enrichment_assets.storage.store_sql import StoreBackend
from enrichment_assets.vendors.base import ReceivedAnswer

_RESPONSE_COLUMNS = ("request_fingerprint, provider, status, phones, raw, http_status, vendor_credits, matched, "
                     "received_at, attempt_id, parser_version")

#: Every column of ``responses``, in the order ``response_values`` gives them.
RESPONSE_INSERT = (
    "INSERT INTO responses (request_fingerprint, provider, endpoint, status, phones, raw, http_status, "
    "vendor_credits, matched, received_at, attempt_id, parser_version, fingerprint_sealed) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")

#: A newer answer to the same request replaces the stored one, whole.
RESPONSE_UPSERT = RESPONSE_INSERT + (
    " ON CONFLICT (request_fingerprint) DO UPDATE SET provider = excluded.provider, endpoint = excluded.endpoint, "
    "status = excluded.status, phones = excluded.phones, raw = excluded.raw, http_status = excluded.http_status, "
    "vendor_credits = excluded.vendor_credits, matched = excluded.matched, received_at = excluded.received_at, "
    "attempt_id = excluded.attempt_id, parser_version = excluded.parser_version, "
    "fingerprint_sealed = excluded.fingerprint_sealed")


class Answers(StoreBackend):
    """Reads of the stored and kept answers; mixed into each backend's store class."""

    def response_values(self, r: StoredResponse) -> list[Any]:
        """The row of ``responses`` for an answer, sealed with this store's key."""
        cipher = self.cipher
        return [cipher.lookup_key(r.request_fingerprint), r.provider, "", r.status,
                cipher.seal(json.dumps(r.phones), "phones"),
                cipher.seal(json.dumps(r.raw, default=str) if r.raw is not None else None, "raw"),
                r.http_status, r.vendor_credits, None if r.matched is None else int(r.matched),
                iso(r.received_at), r.attempt_id, r.parser_version,
                cipher.seal(r.request_fingerprint, "fingerprint") if cipher.encrypted else None]

    def _response_row(self, request_fingerprint: str) -> Sequence[Any] | None:
        rows = self._read(f"SELECT {_RESPONSE_COLUMNS} FROM responses WHERE request_fingerprint = ?",  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                          [self.cipher.lookup_key(request_fingerprint)])
        return rows[0] if rows else None

    def fresh_response(self, request_fingerprint: str, max_age: timedelta, now: datetime | None = None
                       ) -> StoredResponse | None:
        """The stored answer to this request if it is younger than ``max_age``."""
        row = self._response_row(request_fingerprint)
        if row is None:
            return None
        received_at = parse_ts(row[8])
        if received_at is None or received_at < (now or datetime.now(UTC)) - max_age:
            return None
        return self._stored(request_fingerprint, row, received_at)

    def _stored(self, request_fingerprint: str, row: Sequence[Any], received_at: datetime) -> StoredResponse:
        phones, raw = self.cipher.open(row[3], "phones"), self.cipher.open(row[4], "raw")
        return StoredResponse(
            request_fingerprint=request_fingerprint, provider=row[1], status=row[2],
            phones=[(p[0], p[1]) for p in json.loads(phones or "[]")], raw=json.loads(raw) if raw else None,
            http_status=row[5], vendor_credits=row[6], matched=None if row[7] is None else bool(row[7]),
            received_at=received_at, attempt_id=row[9], parser_version=row[10],
        )

    def copy_response(self, from_fingerprint: str, to_fingerprint: str) -> bool:
        """Store the answer of one fingerprint under another too (a question whose fingerprint changed with a
        new normalization): same answer, same age. False when there is nothing to copy or it exists already."""
        with self._tx() as conn:
            return conn.execute(
                "INSERT INTO responses (request_fingerprint, provider, endpoint, status, phones, raw, "
                "http_status, vendor_credits, matched, received_at, attempt_id, parser_version, fingerprint_sealed) "
                "SELECT ?, provider, endpoint, status, phones, raw, http_status, vendor_credits, matched, "
                "received_at, attempt_id, parser_version, ? FROM responses WHERE request_fingerprint = ? "
                "ON CONFLICT DO NOTHING",
                [self.cipher.lookup_key(to_fingerprint),
                 self.cipher.seal(to_fingerprint, "fingerprint") if self.cipher.encrypted else None,
                 self.cipher.lookup_key(from_fingerprint)]).rowcount > 0

    def stored_answers(self, request_fingerprints: Iterable[str]) -> list[StoredResponse]:
        """The stored answers to these requests, whatever their age (a data subject's copy)."""
        found: list[StoredResponse] = []
        for fp in sorted(set(request_fingerprints)):
            row = self._response_row(fp)
            if row is not None:
                found.append(self._stored(fp, row, parse_ts(row[8]) or datetime.now(UTC)))
        return found

    def kept_answers(self, request_fingerprint: str) -> list[KeptAnswer]:
        """Paid answers kept for this question and not yet read into ``responses``, newest first."""
        rows = self._read(
            "SELECT k.attempt_id, k.provider, k.request_fingerprints, k.request, k.http_status, k.headers, "
            "k.content, k.received_at, k.read_by_parser, k.read_error FROM attempt_fingerprints f "
            "JOIN kept_answers k ON k.attempt_id = f.attempt_id WHERE f.request_fingerprint = ? AND k.read_ok = 0 "
            "ORDER BY k.received_at DESC", [request_fingerprint])
        return [KeptAnswer(attempt_id=r[0], provider=r[1], request_fingerprints=json.loads(r[2]),
                           answer=ReceivedAnswer(request=json.loads(self.cipher.open(r[3], "request") or "null"),
                                                 http_status=r[4],
                                                 headers=json.loads(self.cipher.open(r[5], "headers") or "{}"),
                                                 content=self.cipher.open_bytes(bytes(r[6]), "content")),
                           received_at=parse_ts(r[7]) or datetime.now(UTC), read_by_parser=r[8], read_error=r[9])
                for r in rows]

    def reported_cost(self, provider: str, endpoint: str) -> float | None:
        """The most the vendor has reported for one call to this endpoint (``None``: it never said)."""
        rows = self._read("SELECT max_credits FROM reported_costs WHERE provider = ? AND endpoint = ?",
                          [provider, endpoint])
        return float(rows[0][0]) if rows else None
