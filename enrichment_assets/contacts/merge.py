"""Merge every provider's numbers into ``contact_phones`` and one ``contacts`` row per lead."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from enrichment_assets.contacts.answers import lead_batches
from enrichment_assets.contacts.rows import CONTACTS_SCHEMA, PHONES_SCHEMA, STATUSES, ContactRows
from enrichment_assets.phones.classify import distinct_numbers
from enrichment_assets.phones.companies import company_key
from enrichment_assets.phones.regions import region_hints
from enrichment_assets.storage.step_state import read_digest, stable_digest, table_digest, write_digest
from enrichment_assets.storage.warehouse import PROVIDER_RESULT_TABLES, transaction
from enrichment_assets.waterfall.suppression import Suppression


@dataclass
class MergeSummary:
    contacts: int
    phones: int
    by_status: dict[str, int]
    #: True when the list's leads, results and the merge settings were the same as at its last merge, so
    #: its contacts were kept as they were.
    reused: bool = False


#: Raise when classification or scoring changes: every list is merged again at its next run.
MERGE_RULES_VERSION = 1
_STEP = "merge_contacts"

_NUMBERS_SCHEMA = pa.schema([("person", pa.string()), ("company_key", pa.string()), ("e164", pa.string())])


def _shared_numbers(conn: duckdb.DuckDBPyConnection, list_id: str, workdir: Path) -> dict[str, frozenset[str]]:
    """Per company, the numbers returned for two or more of its people (switchboards, shared lines).

    The (person, company, number) triples go to a Parquet file and DuckDB groups them, so the whole list's
    numbers never sit in Python at once.
    """
    path = workdir / "numbers.parquet"
    with pq.ParquetWriter(str(path), _NUMBERS_SCHEMA) as writer:
        for batch in lead_batches(conn, list_id):
            cols: dict[str, list] = defaultdict(list)
            for item in batch:
                lead = item.lead
                key = company_key(lead.company, lead.domain)
                if key is None:
                    continue
                person = lead.linkedin_url or lead.record_id
                for e164 in distinct_numbers(item.observations, region_hints(lead.country, lead.domain)):
                    cols["person"].append(person)
                    cols["company_key"].append(key)
                    cols["e164"].append(e164)
            writer.write_table(pa.table({k: cols.get(k, []) for k in _NUMBERS_SCHEMA.names}, schema=_NUMBERS_SCHEMA))
    rows = conn.execute("""
        SELECT company_key, list(e164) FROM (
            SELECT company_key, e164 FROM read_parquet(?) GROUP BY company_key, e164
            HAVING count(DISTINCT person) > 1)
        GROUP BY company_key""", [str(path)]).fetchall()
    return {key: frozenset(numbers) for key, numbers in rows}


def merge_digest(conn: duckdb.DuckDBPyConnection, list_id: str, provider_order: Sequence[str],
                 suppression: Suppression) -> str:
    """What a list's merge is built from (its leads, every provider's rows, the order, the suppression list)
    and what it built (its contacts and contact_phones rows): the same digest means nothing to redo."""
    by_list = "list_id = ?"
    return stable_digest(
        MERGE_RULES_VERSION, list(provider_order), suppression.digest(),
        *(table_digest(conn, table, by_list, [list_id])
          for table in ("raw_leads", *PROVIDER_RESULT_TABLES.values(), "contacts", "contact_phones")),
    )


def merge_list_if_changed(conn: duckdb.DuckDBPyConnection, list_id: str, provider_order: Sequence[str],
                          suppression: Suppression) -> MergeSummary:
    """``merge_list`` unless nothing it reads or wrote changed since the list's last merge."""
    if read_digest(conn, _STEP, list_id) == merge_digest(conn, list_id, provider_order, suppression):
        return _current_summary(conn, list_id)
    summary = merge_list(conn, list_id, provider_order, suppression)
    # Recorded after the swap: a crash in between only costs one more merge.
    with transaction(conn):
        write_digest(conn, _STEP, list_id, merge_digest(conn, list_id, provider_order, suppression))
    return summary


def _current_summary(conn: duckdb.DuckDBPyConnection, list_id: str) -> MergeSummary:
    by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute("SELECT status, count(*) FROM contacts WHERE list_id = ? GROUP BY status",
                                  [list_id]).fetchall():
        by_status[status] = n
    phones = conn.execute("SELECT count(*) FROM contact_phones WHERE list_id = ?", [list_id]).fetchone()[0]
    return MergeSummary(contacts=sum(by_status.values()), phones=phones, by_status=by_status, reused=True)


def merge_list(conn: duckdb.DuckDBPyConnection, list_id: str, provider_order: Sequence[str],
               suppression: Suppression, now: datetime | None = None) -> MergeSummary:
    """Rebuild contact_phones and contacts for one list from its leads and provider results.

    Two streamed passes over the list (shared numbers first, then each lead's classification), written to
    Parquet and swapped in with one short transaction: memory stays flat whatever the list's size.
    """
    rows = ContactRows(provider_order, suppression, now or datetime.now(UTC))
    empty: frozenset[str] = frozenset()
    with tempfile.TemporaryDirectory(prefix="merge-") as tmp:
        workdir = Path(tmp)
        shared_by_company = _shared_numbers(conn, list_id, workdir)
        phones_path, contacts_path = workdir / "phones.parquet", workdir / "contacts.parquet"
        with pq.ParquetWriter(str(phones_path), PHONES_SCHEMA) as phone_writer, \
                pq.ParquetWriter(str(contacts_path), CONTACTS_SCHEMA) as contact_writer:
            for batch in lead_batches(conn, list_id):
                for item in batch:
                    key = company_key(item.lead.company, item.lead.domain)
                    rows.add(item, shared_by_company.get(key, empty) if key else empty)
                phones, contacts = rows.take()
                phone_writer.write_table(phones)
                contact_writer.write_table(contacts)
        with transaction(conn):
            # One row per record_id: a record that moved to this list leaves its old list's rows behind.
            conn.execute("DELETE FROM contact_phones WHERE list_id = ? OR record_id IN "
                         "(SELECT record_id FROM read_parquet(?))", [list_id, str(contacts_path)])
            conn.execute("DELETE FROM contacts WHERE list_id = ? OR record_id IN "
                         "(SELECT record_id FROM read_parquet(?))", [list_id, str(contacts_path)])
            conn.execute("INSERT INTO contact_phones BY NAME SELECT * FROM read_parquet(?)", [str(phones_path)])
            conn.execute("INSERT INTO contacts BY NAME SELECT * FROM read_parquet(?)", [str(contacts_path)])
    return MergeSummary(contacts=rows.contacts, phones=rows.phones, by_status=rows.by_status)
