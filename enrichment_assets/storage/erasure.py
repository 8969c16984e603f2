"""Erasure (right to be forgotten): remove a person from every table, the response store and the marts.

The ledger keeps its amounts — the money was spent — but loses every identifier of the person. The enriched
copies of the person's lead lists (``data/out/<list>.enriched.*``) are deleted: they hold the person's row
and the numbers found for them; the next run of a list writes its copy again. Their numbers leave the
switchboard evidence too: a number that was shared only with them is a candidate mobile again for the colleague
who still holds it, whose lead is re-scored at once (in any list).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from enrichment_assets.contacts import evidence
from enrichment_assets.contacts.merge import digests_in_force, refresh_digests
from enrichment_assets.contacts.rescore import rescore_leads
from enrichment_assets.leads.enriched_file import delete_enriched_files
from enrichment_assets.phones.score import DEFAULT_PROVIDER_PRIORITY
from enrichment_assets.storage.marts import publish_marts
from enrichment_assets.storage.state_store import StateStore
from enrichment_assets.storage.step_state import forget_digests
from enrichment_assets.storage.warehouse import PROVIDER_RESULT_TABLES, delete_where_in, transaction
from enrichment_assets.waterfall.suppression import Suppression


@dataclass
class ErasureReport:
    record_ids: list[str] = field(default_factory=list)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    responses_deleted: int = 0
    ledger_rows_scrubbed: int = 0
    enriched_files_deleted: list[str] = field(default_factory=list)
    #: Leads of the person's colleagues re-scored because a number is no longer shared with them, per list.
    rescored: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.record_ids)


def find_record_ids(conn: duckdb.DuckDBPyConnection, *, record_id: str | None = None, email: str | None = None,
                    linkedin_url: str | None = None) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT record_id FROM raw_leads WHERE record_id = ? OR email = ? OR linkedin_url = ? "
        "UNION SELECT DISTINCT record_id FROM rejected_leads WHERE record_id = ?",
        [record_id, email, linkedin_url, record_id]).fetchall()
    ids = {r[0] for r in rows if r[0] is not None}
    if record_id and record_id not in ids and _stored_anywhere(conn, record_id):
        ids.add(record_id)  # its lead row is gone, but results, contacts or ledger rows still name it
    return sorted(ids)


def _stored_anywhere(conn: duckdb.DuckDBPyConnection, record_id: str) -> bool:
    for table in ("contacts", "contact_phones", *PROVIDER_RESULT_TABLES.values()):
        if conn.execute(f"SELECT 1 FROM {table} WHERE record_id = ? LIMIT 1", [record_id]).fetchone():  # noqa: S608 - names from code, values bound
            return True
    return conn.execute("SELECT 1 FROM credit_ledger WHERE record_id = ? OR list_contains(record_ids, ?) LIMIT 1",
                        [record_id, record_id]).fetchone() is not None


def forget(conn: duckdb.DuckDBPyConnection, store: StateStore, marts_dir: Path | None, *,
           record_id: str | None = None, email: str | None = None, linkedin_url: str | None = None,
           out_dir: Path | None = None, provider_order: Sequence[str] = DEFAULT_PROVIDER_PRIORITY,
           suppression: Suppression | None = None) -> ErasureReport:
    """Erase everyone matching one of the identifiers. ``provider_order`` and ``suppression`` are the merge's
    (the config's waterfall order and the do-not-contact list): colleagues' leads are re-scored with them."""
    suppression = suppression or Suppression()
    report = ErasureReport(record_ids=find_record_ids(conn, record_id=record_id, email=email,
                                                      linkedin_url=linkedin_url))
    ids = report.record_ids
    if not ids:
        return report
    fingerprints: set[str] = set()
    for table in PROVIDER_RESULT_TABLES.values():
        fingerprints.update(r[0] for r in conn.execute(
            f"SELECT request_fingerprint FROM {table} WHERE record_id IN (SELECT unnest(?::VARCHAR[])) "  # noqa: S608 - names from code, values bound
            "AND request_fingerprint IS NOT NULL", [ids]).fetchall())
    fingerprints.update(r[0] for r in conn.execute(
        "SELECT unnest(request_fingerprints) FROM credit_ledger WHERE record_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR list_has_any(record_ids, ?::VARCHAR[])", [ids, ids]).fetchall())
    # Responses first: a crash after this point leaves nothing of the person that could be re-read.
    report.responses_deleted, _ = store.forget(fingerprints, ids)
    lists = [r[0] for r in conn.execute(
        "SELECT DISTINCT list_id FROM raw_leads WHERE record_id IN (SELECT unnest(?::VARCHAR[])) UNION "
        "SELECT DISTINCT list_id FROM rejected_leads WHERE record_id IN (SELECT unnest(?::VARCHAR[]))",
        [ids, ids]).fetchall()]
    try:
        with transaction(conn):
            evidence.stage_erasure(conn, ids)
            in_force = digests_in_force(conn, set(evidence.lists_holding_flips(conn)) - set(lists), provider_order,
                                        suppression)
            # The next run of those lists rebuilds them from their files instead of keeping what was built; their
            # evidence minus the person's rows stays valid.
            forget_digests(conn, lists, keep_steps=(evidence.MARK_STEP,))
            report.rows_deleted.update(delete_where_in(
                conn, ("raw_leads", "rejected_leads", "contact_phones", "contacts", "waterfall_walks",
                       *PROVIDER_RESULT_TABLES.values()), "record_id", ids))
            evidence.apply_erasure(conn, ids)
            report.rescored = rescore_leads(conn, evidence.holders_to_rescore(conn), provider_order, suppression,
                                            datetime.now(UTC))
            refresh_digests(conn, in_force, provider_order, suppression)
            scrubbed = conn.execute(
                """
                UPDATE credit_ledger SET
                    record_id = CASE WHEN record_id IN (SELECT unnest($ids::VARCHAR[])) THEN NULL ELSE record_id END,
                    request_fingerprint = CASE WHEN request_fingerprint IN (SELECT unnest($fps::VARCHAR[]))
                                               THEN NULL ELSE request_fingerprint END,
                    record_ids = list_filter(record_ids, lambda x: NOT list_contains($ids::VARCHAR[], x)),
                    request_fingerprints = list_filter(request_fingerprints,
                                                       lambda x: NOT list_contains($fps::VARCHAR[], x))
                WHERE record_id IN (SELECT unnest($ids::VARCHAR[])) OR list_has_any(record_ids, $ids::VARCHAR[])
                """, {"ids": ids, "fps": sorted(fingerprints)}).fetchall()
            report.ledger_rows_scrubbed = int(scrubbed[0][0]) if scrubbed else 0
    finally:
        evidence.drop_staging(conn)
    if marts_dir is not None and marts_dir.exists():
        publish_marts(conn, marts_dir)
    if out_dir is not None:
        report.enriched_files_deleted.extend(delete_enriched_files(out_dir, list(lists)))
    return report


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def rewrite_database(db_path: Path) -> None:
    """Copy every table and view into a fresh file and swap it in.

    DuckDB leaves deleted rows' bytes in freed blocks of the file: after an erasure they must not survive
    there either. Call with no other connection open (the CLI holds the write lock around it).
    """
    fresh = db_path.with_name(db_path.name + ".rewrite")
    fresh.unlink(missing_ok=True)
    # ATTACH takes no parameters; these are our own paths, quoted as SQL strings.
    with duckdb.connect(":memory:") as conn:
        conn.execute(f"ATTACH {_sql_string(str(db_path))} AS old_db (READ_ONLY)")
        conn.execute(f"ATTACH {_sql_string(str(fresh))} AS new_db")
        conn.execute("COPY FROM DATABASE old_db TO new_db")
        conn.execute("DETACH new_db")
        conn.execute("DETACH old_db")
    os.replace(fresh, db_path)
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
