"""Retention: what is older than ``retention_days`` is deleted, the money it cost stays on the books.

Two rules, applied together by :func:`apply_retention`:

* **Vendor answers** received before the cutoff are deleted from the response store (read, and kept as they
  arrived), and the
  ``<provider>_results`` rows that hold them (``called_at`` before the cutoff) from DuckDB. Their leads lose their
  ``waterfall_walks`` record, so a deleted answer is a missing answer: the next run of the list walks those leads
  again (and pays again for what is no longer stored); the other leads keep their walk.
* **Lists not loaded again** since the cutoff (``list_loads``, else the rows' ``loaded_at``) are dropped whole,
  as ``enrich forget`` drops a person: leads, rejected rows, contacts, numbers, results, walks, switchboard
  evidence (colleagues in other lists whose number is no longer shared are re-scored at once), the enriched files,
  and the answers no other list's lead still uses.

The ledger (the request journal and ``credit_ledger``) keeps every row with its amounts, provider, run and dates;
rows sent before the cutoff or for a dropped list lose their record ids and request fingerprints.

No Dagster here: the ``personal_data_retention`` schedule (``dagster_defs/retention.py``) calls this with the
clock's time; tests call it with any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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

#: Tables whose rows belong to one list (``list_id``), dropped with it.
LIST_TABLES = ("raw_leads", "rejected_leads", "contact_phones", "contacts", "waterfall_walks", "list_loads",
               *PROVIDER_RESULT_TABLES.values())


@dataclass
class RetentionReport:
    """What one pass deleted: counts only, never who."""

    cutoff: datetime
    lists_dropped: int = 0
    rows_deleted: dict[str, int] = field(default_factory=dict)
    answers_deleted: int = 0
    kept_answers_deleted: int = 0
    expired_result_rows: int = 0
    leads_to_walk_again: int = 0
    journal_rows_scrubbed: int = 0
    ledger_rows_scrubbed: int = 0
    enriched_files_deleted: int = 0
    rescored_leads: int = 0

    def metadata(self) -> dict[str, int | str]:
        return {"cutoff": self.cutoff.isoformat(), "lists_dropped": self.lists_dropped,
                "answers_deleted": self.answers_deleted, "kept_answers_deleted": self.kept_answers_deleted,
                "expired_result_rows": self.expired_result_rows,
                "leads_to_walk_again": self.leads_to_walk_again,
                "journal_rows_scrubbed": self.journal_rows_scrubbed,
                "ledger_rows_scrubbed": self.ledger_rows_scrubbed,
                "enriched_files_deleted": self.enriched_files_deleted, "rescored_leads": self.rescored_leads,
                **{f"rows_deleted_{t}": n for t, n in sorted(self.rows_deleted.items())}}

    @property
    def rows_deleted_total(self) -> int:
        return sum(self.rows_deleted.values()) + self.expired_result_rows


def mark_list_loaded(conn: duckdb.DuckDBPyConnection, list_id: str, at: datetime) -> None:
    """Record that someone loaded the list now (a run they asked for, not a scheduled refresh of old answers)."""
    with transaction(conn):
        conn.execute("DELETE FROM list_loads WHERE list_id = ?", [list_id])
        conn.execute("INSERT INTO list_loads VALUES (?, ?)", [list_id, at])


def lists_not_loaded_since(conn: duckdb.DuckDBPyConnection, cutoff: datetime) -> list[str]:
    """Lists whose last load (``list_loads``, else their rows' ``loaded_at``) is before ``cutoff``."""
    rows = conn.execute("""
        WITH loads AS (
            SELECT list_id, last_loaded_at AS loaded FROM list_loads
            UNION ALL SELECT list_id, max(loaded_at) FROM raw_leads GROUP BY list_id
            UNION ALL SELECT list_id, max(loaded_at) FROM rejected_leads GROUP BY list_id)
        SELECT list_id FROM loads GROUP BY list_id HAVING max(loaded) < ? ORDER BY list_id""", [cutoff]).fetchall()
    return [r[0] for r in rows]


def _fingerprints_only_in(conn: duckdb.DuckDBPyConnection, lists: list[str]) -> list[str]:
    """Request fingerprints of the lists' results that no lead of another list holds (their answers may go)."""
    if not lists:
        return []
    union = " UNION ALL ".join(f"SELECT list_id, request_fingerprint FROM {t} WHERE request_fingerprint IS NOT NULL"  # noqa: S608 - names from code, values bound
                               for t in PROVIDER_RESULT_TABLES.values())
    rows = conn.execute(f"""
        WITH r AS ({union})
        SELECT DISTINCT request_fingerprint FROM r WHERE list_id IN (SELECT unnest($lists::VARCHAR[]))
        EXCEPT SELECT request_fingerprint FROM r WHERE list_id NOT IN (SELECT unnest($lists::VARCHAR[]))
        """, {"lists": lists}).fetchall()  # noqa: S608 - constant tables
    return sorted(r[0] for r in rows)


def apply_retention(conn: duckdb.DuckDBPyConnection, store: StateStore, *, retention_days: float, now: datetime,
                    marts_dir: Path | None = None, out_dir: Path | None = None,
                    provider_order: Sequence[str] = DEFAULT_PROVIDER_PRIORITY,
                    suppression: Suppression | None = None) -> RetentionReport:
    """Delete what is older than ``retention_days`` at ``now`` (see the module docstring). ``provider_order`` and
    ``suppression`` are the merge's: colleagues' leads are re-scored with them."""
    suppression = suppression or Suppression()
    cutoff = now - timedelta(days=retention_days)
    report = RetentionReport(cutoff=cutoff)
    dropped = lists_not_loaded_since(conn, cutoff)
    report.lists_dropped = len(dropped)
    # The store first, as erasure does: a crash after this point leaves nothing expired that could be re-read.
    only_theirs = _fingerprints_only_in(conn, dropped)
    if only_theirs:
        report.answers_deleted, report.kept_answers_deleted = store.forget_answers(only_theirs)
        store.forget(only_theirs, ())  # the journal rows naming them lose the fingerprints
    expired = store.expire(cutoff, dropped)
    report.answers_deleted += expired.answers
    report.kept_answers_deleted += expired.kept_answers
    report.journal_rows_scrubbed = expired.journal_rows
    try:
        with transaction(conn):
            in_force: set[str] = set()
            if dropped:
                evidence.stage_list_drop(conn, dropped)
                in_force = digests_in_force(conn, set(evidence.lists_holding_flips(conn)) - set(dropped),
                                            provider_order, suppression)
                forget_digests(conn, dropped)
                report.rows_deleted.update(delete_where_in(conn, LIST_TABLES, "list_id", dropped))
                evidence.apply_list_drop(conn, dropped)
                rescored = rescore_leads(conn, evidence.holders_to_rescore(conn), provider_order, suppression, now)
                report.rescored_leads = sum(rescored.values())
                refresh_digests(conn, in_force, provider_order, suppression)
            conn.execute("CREATE OR REPLACE TEMP TABLE _expired_leads (list_id VARCHAR, record_id VARCHAR)")
            for table in PROVIDER_RESULT_TABLES.values():
                conn.execute(f"INSERT INTO _expired_leads SELECT DISTINCT list_id, record_id FROM {table} "  # noqa: S608 - names from code, values bound
                             "WHERE called_at < ?", [cutoff])
                deleted = conn.execute(f"DELETE FROM {table} WHERE called_at < ?", [cutoff]).fetchall()  # noqa: S608
                report.expired_result_rows += int(deleted[0][0]) if deleted else 0
            # Their walk no longer holds: the next run of the list walks them again.
            walks = conn.execute("DELETE FROM waterfall_walks w USING (SELECT DISTINCT * FROM _expired_leads) e "
                                 "WHERE w.list_id = e.list_id AND w.record_id = e.record_id").fetchall()
            report.leads_to_walk_again = int(walks[0][0]) if walks else 0
            scrubbed = conn.execute("""
                UPDATE credit_ledger SET record_id = NULL, request_fingerprint = NULL, record_ids = [],
                                         request_fingerprints = []
                WHERE (called_at < $cutoff OR list_id IN (SELECT unnest($lists::VARCHAR[])))
                  AND (record_id IS NOT NULL OR request_fingerprint IS NOT NULL OR len(record_ids) > 0
                       OR len(request_fingerprints) > 0)""", {"cutoff": cutoff, "lists": dropped}).fetchall()
            report.ledger_rows_scrubbed = int(scrubbed[0][0]) if scrubbed else 0
    finally:
        evidence.drop_staging(conn)
        conn.execute("DROP TABLE IF EXISTS _expired_leads")
    if marts_dir is not None and marts_dir.exists() and report.rows_deleted_total + report.ledger_rows_scrubbed:
        publish_marts(conn, marts_dir)
    if out_dir is not None:
        report.enriched_files_deleted += len(delete_enriched_files(out_dir, list(dropped)))
    return report
