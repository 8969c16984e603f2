"""Retention, erasure and key rotation over the state store: what deletes or rewrites personal data.

* ``expire``: retention (``storage/retention.py``): answers older than the cutoff deleted, journal rows
  stripped of identifiers; amounts, providers and dates stay.
* ``forget`` / ``forget_answers``: an erasure request (``storage/erasure.py``), in short transactions so that
  running enrichments are never held up for long.
* ``rekey``: every sealed value re-encrypted under a new key (``enrich rotate-key``).

After deleting, the backend clears what it can of the old copies (``StoreBackend._after_erasure``: SQLite's WAL;
PostgreSQL's dead row versions).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from enrichment_assets.storage.store_crypto import StoreCipher, StoreKeyError
from enrichment_assets.storage.store_records import Expired, iso
from enrichment_assets.storage.store_sql import StoreBackend, marks

#: Statements per transaction in ``forget``: each holds the write lock only that long.
FORGET_CHUNK = 500


class Upkeep(StoreBackend):
    """Retention, erasure and rekeying; mixed into each backend's store class."""

    def expire(self, received_before: datetime, list_ids: Iterable[str] = ()) -> Expired:
        """Retention: delete the answers (stored and kept) received before ``received_before`` and strip the
        identifiers (record ids, request fingerprints) from the journal rows sent before it or sent for
        ``list_ids``: their kept answers and their entries in ``attempt_fingerprints`` go too. Amounts, providers
        and dates stay."""
        lists = sorted(set(list_ids))
        cutoff = iso(received_before)
        old = "sent_at < ?" + (f" OR list_id IN ({marks(lists)})" if lists else "")
        stripped = f"SELECT attempt_id FROM attempts WHERE {old}"  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
        with self._tx() as conn:
            removed = conn.execute("DELETE FROM responses WHERE received_at < ?", [cutoff]).rowcount
            kept = conn.execute(f"DELETE FROM kept_answers WHERE received_at < ? OR attempt_id IN ({stripped})",  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                                [cutoff, cutoff, *lists]).rowcount
            conn.execute(f"DELETE FROM attempt_fingerprints WHERE attempt_id IN ({stripped})", [cutoff, *lists])  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
            scrubbed = conn.execute(
                f"UPDATE attempts SET request_fingerprints = '[]', record_ids = '[]' WHERE ({old}) "  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                "AND (request_fingerprints <> '[]' OR record_ids <> '[]')", [cutoff, *lists]).rowcount
        self._after_erasure()
        return Expired(removed, kept, scrubbed)

    def rekey(self, new: StoreCipher) -> int:
        """Re-encrypt every stored and kept answer under ``new`` (from no key: encrypt; to no key: decrypt), in one
        transaction, then rewrite the storage so no page keeps a value sealed under the old key. Returns the
        stored answers (``responses``) re-encrypted."""
        old = self.cipher
        with self._tx() as conn:
            rows = conn.execute("SELECT request_fingerprint, phones, raw, fingerprint_sealed FROM responses"
                                ).fetchall()
            updates: list[list[Any]] = []
            for key, phones, raw, sealed in rows:
                fp = old.open(sealed, "fingerprint") if old.encrypted else key
                if fp is None:
                    raise StoreKeyError(f"a stored answer in {self.where} has no sealed fingerprint: it was altered")
                updates.append([new.lookup_key(fp), new.seal(old.open(phones, "phones"), "phones"),
                                new.seal(old.open(raw, "raw"), "raw"),
                                new.seal(fp, "fingerprint") if new.encrypted else None, key])
            # Old and new lookup keys never meet (a plain fingerprint, or an HMAC under a key of its own).
            conn.executemany("UPDATE responses SET request_fingerprint = ?, phones = ?, raw = ?, "
                             "fingerprint_sealed = ? WHERE request_fingerprint = ?", updates)
            kept = conn.execute("SELECT attempt_id, request, headers, content FROM kept_answers").fetchall()
            conn.executemany(
                "UPDATE kept_answers SET request = ?, headers = ?, content = ? WHERE attempt_id = ?",
                [(new.seal(old.open(request, "request"), "request"), new.seal(old.open(headers, "headers"), "headers"),
                  new.seal_bytes(old.open_bytes(bytes(content), "content"), "content"), attempt_id)
                 for attempt_id, request, headers, content in kept])
            conn.execute("DELETE FROM store_meta WHERE name = 'key_check'")
            if new.encrypted:
                conn.execute("INSERT INTO store_meta VALUES ('key_check', ?)", [new.key_check()])
        self.cipher = new
        self._compact()
        return len(rows)

    def forget(self, request_fingerprints: Iterable[str], record_ids: Iterable[str]) -> tuple[int, int]:
        """Delete stored and kept answers and strip identifiers from journal rows; amounts stay.

        In short transactions: the journal is scanned page by page without holding a lock, and the rows to
        change are rewritten ``FORGET_CHUNK`` at a time, so requests of running enrichments are never held up
        for long. A row written while it runs names no one being erased (they are no longer in any list).
        """
        fps = sorted(set(request_fingerprints))
        fp_set, ids = set(fps), set(record_ids)
        removed, _ = self.forget_answers(fps)
        scrubbed = 0
        changes: list[tuple[str, str, str]] = []
        for page in self._journal_identifier_pages():
            for attempt_id, fp_json, ids_json in page:
                old_fps, old_ids = json.loads(fp_json), json.loads(ids_json)
                new_fps = [f for f in old_fps if f not in fp_set]
                new_ids = [i for i in old_ids if i not in ids]
                if new_fps != old_fps or new_ids != old_ids:
                    changes.append((json.dumps(new_fps), json.dumps(new_ids), attempt_id))
        for start in range(0, len(changes), FORGET_CHUNK):
            with self._tx() as conn:
                conn.executemany("UPDATE attempts SET request_fingerprints = ?, record_ids = ? WHERE attempt_id = ?",
                                 changes[start:start + FORGET_CHUNK])
            scrubbed += len(changes[start:start + FORGET_CHUNK])
        self._after_erasure()
        return removed, scrubbed

    def forget_answers(self, request_fingerprints: Iterable[str]) -> tuple[int, int]:
        """Delete the stored and kept answers to these questions (which attempts asked them, and their claims),
        in short transactions; the journal rows are left as they are. Returns (stored answers, kept answers)
        deleted."""
        fps = sorted(set(request_fingerprints))
        removed = kept_removed = 0
        for start in range(0, len(fps), FORGET_CHUNK):
            chunk = fps[start:start + FORGET_CHUNK]
            with self._tx() as conn:
                removed += conn.execute(f"DELETE FROM responses WHERE request_fingerprint IN ({marks(chunk)})",  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                                        [self.cipher.lookup_key(fp) for fp in chunk]).rowcount
                kept = [r[0] for r in conn.execute(
                    "SELECT DISTINCT attempt_id FROM attempt_fingerprints "  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                    f"WHERE request_fingerprint IN ({marks(chunk)})", chunk).fetchall()]
                for k in range(0, len(kept), FORGET_CHUNK):
                    part = kept[k:k + FORGET_CHUNK]
                    kept_removed += conn.execute(
                        f"DELETE FROM kept_answers WHERE attempt_id IN ({marks(part)})", part).rowcount  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                conn.execute(f"DELETE FROM attempt_fingerprints WHERE request_fingerprint IN ({marks(chunk)})", chunk)  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
                conn.execute(f"DELETE FROM claims WHERE request_fingerprint IN ({marks(chunk)})", chunk)  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
        return removed, kept_removed

    def _journal_identifier_pages(self, page_size: int = 50_000) -> Iterator[list[Sequence[Any]]]:
        seq = self.dialect.seq
        sql = (f"SELECT {seq}, attempt_id, request_fingerprints, record_ids FROM attempts WHERE {seq} > ? "  # noqa: S608 - names, placeholders and dialect spellings from code; values bound
               f"ORDER BY {seq} LIMIT ?")
        for rows in self._read_pages(sql, [page_size]):
            yield [r[1:] for r in rows]
