"""Merge every provider's numbers into ``contact_phones`` and one ``contacts`` row per lead.

A list is merged whole when anything it is built from changed (``merge_list_if_changed``). Its numbers join the
switchboard evidence of every list (``contacts/evidence.py``); when that reveals a number as shared (or no longer
shared) for leads of other lists, those leads, and only they, are re-scored in the same transaction
(``contacts/rescore.py``), and their lists' digests stay in force, so an unchanged rerun of them still keeps them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from enrichment_assets.contacts import evidence
from enrichment_assets.contacts.answers import lead_batches
from enrichment_assets.contacts.rescore import rescore_leads
from enrichment_assets.contacts.rows import CONTACTS_SCHEMA, PHONES_SCHEMA, STATUSES, ContactRows
from enrichment_assets.phones.companies import company_key
from enrichment_assets.storage.step_state import read_digest, stable_digest, table_digest, write_digest
from enrichment_assets.storage.warehouse import PROVIDER_RESULT_TABLES, transaction
from enrichment_assets.waterfall.suppression import Suppression


@dataclass
class MergeSummary:
    contacts: int
    phones: int
    by_status: dict[str, int]
    #: True when the list's leads, results, the merge settings and the switchboard evidence about its numbers
    #: were the same as at its last merge, so its contacts were kept as they were.
    reused: bool = False
    #: Leads of other lists re-scored because this merge changed the evidence about their numbers, per list.
    rescored: dict[str, int] = field(default_factory=dict)
    #: Numbers held by leads of other lists that this merge revealed as shared / no longer shared.
    newly_shared: int = 0
    no_longer_shared: int = 0


#: Raise when classification or scoring changes: every list is merged again at its next run.
#: 2: switchboard evidence across lists; a shared number is never chosen.
MERGE_RULES_VERSION = 2
STEP = "merge_contacts"


def merge_digest(conn: duckdb.DuckDBPyConnection, list_id: str, provider_order: Sequence[str],
                 suppression: Suppression) -> str:
    """What a list's merge is built from (its leads, every provider's rows, the order, the suppression list, the
    evidence rows of its numbers with their shared flags) and what it built (its contacts and contact_phones
    rows): the same digest means nothing to redo. Another list that makes one of its numbers shared flips the
    flag on its evidence rows, so the digest changes then, and only then."""
    by_list = "list_id = ?"
    return stable_digest(
        MERGE_RULES_VERSION, list(provider_order), suppression.digest(),
        *(table_digest(conn, table, by_list, [list_id])
          for table in ("raw_leads", *PROVIDER_RESULT_TABLES.values(), "contacts", "contact_phones",
                        "number_evidence")),
    )


def merge_list_if_changed(conn: duckdb.DuckDBPyConnection, list_id: str, provider_order: Sequence[str],
                          suppression: Suppression) -> MergeSummary:
    """``merge_list`` unless nothing it reads or wrote changed since the list's last merge."""
    if read_digest(conn, STEP, list_id) == merge_digest(conn, list_id, provider_order, suppression):
        return _current_summary(conn, list_id)
    return merge_list(conn, list_id, provider_order, suppression)


def _current_summary(conn: duckdb.DuckDBPyConnection, list_id: str) -> MergeSummary:
    by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute("SELECT status, count(*) FROM contacts WHERE list_id = ? GROUP BY status",
                                  [list_id]).fetchall():
        by_status[status] = n
    phones = conn.execute("SELECT count(*) FROM contact_phones WHERE list_id = ?", [list_id]).fetchone()[0]
    return MergeSummary(contacts=sum(by_status.values()), phones=phones, by_status=by_status, reused=True)


def digests_in_force(conn: duckdb.DuckDBPyConnection, list_ids: Iterable[str], provider_order: Sequence[str],
                     suppression: Suppression) -> set[str]:
    """The lists whose recorded merge digest still matches: an unchanged rerun would keep them."""
    return {list_id for list_id in list_ids
            if read_digest(conn, STEP, list_id) == merge_digest(conn, list_id, provider_order, suppression)}


def refresh_digests(conn: duckdb.DuckDBPyConnection, list_ids: Iterable[str], provider_order: Sequence[str],
                    suppression: Suppression) -> None:
    """Record the current digest of lists whose merge was in force before their leads were re-scored."""
    for list_id in sorted(list_ids):
        write_digest(conn, STEP, list_id, merge_digest(conn, list_id, provider_order, suppression))


def merge_list(conn: duckdb.DuckDBPyConnection, list_id: str, provider_order: Sequence[str],
               suppression: Suppression, now: datetime | None = None) -> MergeSummary:
    """Rebuild contact_phones and contacts for one list from its leads and provider results.

    Two streamed passes over the list (its numbers' evidence first, then each lead's classification), written to
    Parquet and swapped in with one transaction, together with the evidence and the re-scored leads of other
    lists: memory stays flat whatever the list's size, and a crash leaves the merge done or not at all.
    """
    now = now or datetime.now(UTC)
    rows = ContactRows(provider_order, suppression, now)
    empty: frozenset[str] = frozenset()
    with tempfile.TemporaryDirectory(prefix="merge-") as tmp:
        workdir = Path(tmp)
        evidence_path = workdir / "evidence.parquet"
        writer = evidence.EvidenceWriter(evidence_path)
        try:
            for batch in lead_batches(conn, list_id):
                writer.add(batch)
        finally:
            writer.close()
        try:
            change = evidence.stage_list(conn, list_id, evidence_path)
            phones_path, contacts_path = workdir / "phones.parquet", workdir / "contacts.parquet"
            with pq.ParquetWriter(str(phones_path), PHONES_SCHEMA) as phone_writer, \
                    pq.ParquetWriter(str(contacts_path), CONTACTS_SCHEMA) as contact_writer:
                for batch in lead_batches(conn, list_id):
                    for item in batch:
                        key = company_key(item.lead.company, item.lead.domain)
                        rows.add(item, change.shared.get(key, empty) if key else empty)
                    phones, contacts = rows.take()
                    phone_writer.write_table(phones)
                    contact_writer.write_table(contacts)
            others = evidence.lists_holding_flips(conn, but_list=list_id)
            in_force = digests_in_force(conn, others, provider_order, suppression)
            with transaction(conn):
                # One row per record_id: a record that moved to this list leaves its old list's rows behind.
                moved_from = {r[0] for r in conn.execute(
                    "SELECT DISTINCT list_id FROM contacts WHERE list_id IS DISTINCT FROM ? AND record_id IN "
                    "(SELECT record_id FROM read_parquet(?))", [list_id, str(contacts_path)]).fetchall()}
                conn.execute("DELETE FROM contact_phones WHERE list_id = ? OR record_id IN "
                             "(SELECT record_id FROM read_parquet(?))", [list_id, str(contacts_path)])
                conn.execute("DELETE FROM contacts WHERE list_id = ? OR record_id IN "
                             "(SELECT record_id FROM read_parquet(?))", [list_id, str(contacts_path)])
                conn.execute("INSERT INTO contact_phones BY NAME SELECT * FROM read_parquet(?)", [str(phones_path)])
                conn.execute("INSERT INTO contacts BY NAME SELECT * FROM read_parquet(?)", [str(contacts_path)])
                evidence.apply_list(conn, list_id)
                rescored = rescore_leads(conn, evidence.holders_to_rescore(conn, but_list=list_id),
                                         provider_order, suppression, now)
                write_digest(conn, STEP, list_id, merge_digest(conn, list_id, provider_order, suppression))
                # A list that lost a record to this one is not as its last merge left it: it stays to be merged.
                refresh_digests(conn, in_force - moved_from, provider_order, suppression)
        finally:
            evidence.drop_staging(conn)
    return MergeSummary(contacts=rows.contacts, phones=rows.phones, by_status=rows.by_status, rescored=rescored,
                        newly_shared=len(change.newly_shared), no_longer_shared=len(change.no_longer_shared))
