"""Merge every provider's numbers into ``contact_phones`` and one ``contacts`` row per lead."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from enrichment_assets.leads.model import Lead
from enrichment_assets.phones.classify import (
    ContactPhone,
    PhoneObservation,
    classify_contact,
    company_key,
    distinct_numbers,
)
from enrichment_assets.phones.parse import region_hints
from enrichment_assets.phones.score import choose_best
from enrichment_assets.storage.step_state import read_digest, stable_digest, table_digest, write_digest
from enrichment_assets.storage.warehouse import PROVIDER_RESULT_TABLES, results_union, row_windows, transaction
from enrichment_assets.waterfall.engine import PENDING_OUTCOMES
from enrichment_assets.waterfall.suppression import Suppression

STATUSES = ("mobile_found", "phone_found", "not_found", "pending", "suppressed")


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


def _results_union() -> str:
    return results_union("record_id, phones, claimed_types, outcome", "list_id = $list_id")


def contact_status(best: ContactPhone | None, outcomes: set[str], suppressed: bool) -> str:
    if suppressed:
        return "suppressed"
    if best is not None and best.is_personal_mobile:
        return "mobile_found"
    if outcomes & PENDING_OUTCOMES:
        return "pending"  # a provider still owes this lead an answer: a rerun may find the mobile
    return "phone_found" if best is not None else "not_found"


#: Leads classified at a time, and file rows per DuckDB query (see ``_lead_batches``): the merge's memory is
#: bounded by these, not by the list's size. Merging 300k leads in a fresh process peaked at 615 MB with
#: 20k / 100k, 519 MB with 5k / 100k and 438 MB with 5k / 50k, in about the same time.
BATCH_LEADS = 5_000
WINDOW_ROWS = 50_000

_PHONES_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("e164", pa.string()), ("number_type", pa.string()), ("region", pa.string()),
    ("sources", pa.list_(pa.string())), ("source_count", pa.int32()), ("shared_with_others", pa.bool_()),
    ("score", pa.float64()), ("list_id", pa.string()), ("raw", pa.string()), ("claimed_types", pa.list_(pa.string())),
    ("is_personal_mobile", pa.bool_()), ("suppressed", pa.bool_())])
_CONTACTS_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("list_id", pa.string()), ("first_name", pa.string()), ("last_name", pa.string()),
    ("company", pa.string()), ("linkedin_url", pa.string()), ("best_phone", pa.string()),
    ("best_phone_type", pa.string()), ("best_phone_score", pa.float64()),
    ("best_phone_sources", pa.list_(pa.string())), ("phone_count", pa.int32()), ("status", pa.string()),
    ("enriched_at", pa.timestamp("us", tz="UTC"))])
_NUMBERS_SCHEMA = pa.schema([("person", pa.string()), ("company_key", pa.string()), ("e164", pa.string())])


@dataclass(slots=True)
class _LeadAnswers:
    lead: Lead
    observations: list[PhoneObservation]
    outcomes: set[str]


def _lead_batches(conn: duckdb.DuckDBPyConnection, list_id: str) -> Iterator[list[_LeadAnswers]]:
    """Every lead of the list with all its providers' answers, in file order, a batch at a time.

    One query per window of ``WINDOW_ROWS`` file rows: DuckDB groups the answers of those leads only, so
    its memory does not grow with the list (one query over a 1M-lead list held every lead's answers at once).
    """
    union = _results_union()
    cursor = conn.cursor()  # a cursor of its own: the caller may use ``conn`` between batches
    try:
        for low, high in row_windows(cursor, list_id, WINDOW_ROWS):
            yield from _window_batches(cursor, union, list_id, low, high)
    finally:
        cursor.close()


def _window_batches(cursor: duckdb.DuckDBPyConnection, union: str, list_id: str, low: int, high: int
                    ) -> Iterator[list[_LeadAnswers]]:
    cursor.execute(f"""
        WITH leads AS (
            SELECT * FROM raw_leads
            WHERE list_id = $list_id AND coalesce(row_number, 0) >= $low AND coalesce(row_number, 0) < $high),
        results AS (SELECT * FROM ({union}) WHERE record_id IN (SELECT record_id FROM leads)),
        per_lead AS (
            SELECT record_id,
                   list(struct_pack(provider := provider, phones := phones, claimed := claimed_types)) AS answers,
                   list(DISTINCT outcome) AS outcomes
            FROM results GROUP BY record_id)
        SELECT r.record_id, r.first_name, r.last_name, r.company, r.domain, r.email, r.linkedin_url,
               r.country, r.fingerprint, p.answers, p.outcomes
        FROM leads r LEFT JOIN per_lead p USING (record_id)
        ORDER BY r.row_number
    """, {"list_id": list_id, "low": low, "high": high})  # noqa: S608 - the union names constant tables only
    while rows := cursor.fetchmany(BATCH_LEADS):
        batch = []
        for *fields, answers, outcomes in rows:
            observations = [
                PhoneObservation(answer["provider"], number, claim)
                for answer in answers or []
                for number, claim in zip(answer["phones"] or [],
                                         answer["claimed"] or [None] * len(answer["phones"] or []),
                                         strict=False)
            ]
            batch.append(_LeadAnswers(Lead(list_id, *fields), observations, set(outcomes or [])))
        yield batch


def _shared_numbers(conn: duckdb.DuckDBPyConnection, list_id: str, workdir: Path) -> dict[str, frozenset[str]]:
    """Per company, the numbers returned for two or more of its people (switchboards, shared lines).

    The (person, company, number) triples go to a Parquet file and DuckDB groups them, so the whole list's
    numbers never sit in Python at once.
    """
    path = workdir / "numbers.parquet"
    with pq.ParquetWriter(str(path), _NUMBERS_SCHEMA) as writer:
        for batch in _lead_batches(conn, list_id):
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
    now = now or datetime.now(UTC)
    order = list(provider_order)
    by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
    contacts = phones_total = 0
    empty: frozenset[str] = frozenset()
    with tempfile.TemporaryDirectory(prefix="merge-") as tmp:
        workdir = Path(tmp)
        shared_by_company = _shared_numbers(conn, list_id, workdir)
        phones_path, contacts_path = workdir / "phones.parquet", workdir / "contacts.parquet"
        with pq.ParquetWriter(str(phones_path), _PHONES_SCHEMA) as phone_writer, \
                pq.ParquetWriter(str(contacts_path), _CONTACTS_SCHEMA) as contact_writer:
            for batch in _lead_batches(conn, list_id):
                phone_cols: dict[str, list] = defaultdict(list)
                contact_cols: dict[str, list] = defaultdict(list)
                for item in batch:
                    lead = item.lead
                    key = company_key(lead.company, lead.domain)
                    phones = classify_contact(lead.record_id, item.observations,
                                              region_hints(lead.country, lead.domain),
                                              shared_numbers=shared_by_company.get(key, empty) if key else empty,
                                              suppressed=suppression.phones, provider_priority=order)
                    for p in phones:
                        for column, value in (
                                ("record_id", lead.record_id), ("e164", p.e164), ("number_type", p.number_type),
                                ("region", p.region), ("sources", p.sources), ("source_count", p.source_count),
                                ("shared_with_others", p.shared_with_others), ("score", float(p.score)),
                                ("list_id", list_id), ("raw", p.raw_values[0] if p.raw_values else None),
                                ("claimed_types", p.claimed_types), ("is_personal_mobile", p.is_personal_mobile),
                                ("suppressed", p.suppressed)):
                            phone_cols[column].append(value)
                    is_suppressed = suppression.matches(lead)
                    best = None if is_suppressed else choose_best(phones, order)
                    status = contact_status(best, item.outcomes, is_suppressed)
                    by_status[status] += 1
                    for column, value in (
                            ("record_id", lead.record_id), ("list_id", list_id), ("first_name", lead.first_name),
                            ("last_name", lead.last_name), ("company", lead.company),
                            ("linkedin_url", lead.linkedin_url), ("best_phone", best.e164 if best else None),
                            ("best_phone_type", best.number_type if best else None),
                            ("best_phone_score", float(best.score) if best else None),
                            ("best_phone_sources", best.sources if best else None),
                            ("phone_count", sum(1 for p in phones if p.valid)), ("status", status),
                            ("enriched_at", now)):
                        contact_cols[column].append(value)
                phone_writer.write_table(pa.table({k: phone_cols.get(k, []) for k in _PHONES_SCHEMA.names},
                                                  schema=_PHONES_SCHEMA))
                contact_writer.write_table(pa.table({k: contact_cols.get(k, []) for k in _CONTACTS_SCHEMA.names},
                                                    schema=_CONTACTS_SCHEMA))
                contacts += len(batch)
                phones_total += len(phone_cols.get("record_id", []))
        with transaction(conn):
            # One row per record_id: a record that moved to this list leaves its old list's rows behind.
            conn.execute("DELETE FROM contact_phones WHERE list_id = ? OR record_id IN "
                         "(SELECT record_id FROM read_parquet(?))", [list_id, str(contacts_path)])
            conn.execute("DELETE FROM contacts WHERE list_id = ? OR record_id IN "
                         "(SELECT record_id FROM read_parquet(?))", [list_id, str(contacts_path)])
            conn.execute("INSERT INTO contact_phones BY NAME SELECT * FROM read_parquet(?)", [str(phones_path)])
            conn.execute("INSERT INTO contacts BY NAME SELECT * FROM read_parquet(?)", [str(contacts_path)])
    return MergeSummary(contacts=contacts, phones=phones_total, by_status=by_status)


PERFORMANCE_SQL = """
WITH results AS ({union}),
asked AS (
    SELECT provider,
           count(*) FILTER (WHERE outcome IN ('found', 'not_found')) AS leads_sent,
           count(*) FILTER (WHERE outcome IN ('found', 'not_found') AND from_cache) AS cache_hits,
           count(*) FILTER (WHERE outcome = 'found') AS found
    FROM results GROUP BY provider
),
mobiles AS (
    SELECT provider, count(DISTINCT record_id) AS mobiles
    FROM (SELECT record_id, unnest(sources) AS provider FROM contact_phones WHERE is_personal_mobile)
    GROUP BY provider
),
spend AS (
    SELECT provider, count(*) AS calls, sum(credits) AS credits, sum(usd) AS usd FROM credit_ledger GROUP BY provider
),
providers AS (SELECT unnest($providers::VARCHAR[]) AS provider)
SELECT p.provider,
       coalesce(s.calls, 0) AS calls,
       coalesce(a.found, 0) AS found,
       coalesce(m.mobiles, 0) AS mobiles,
       coalesce(s.credits, 0) AS credits,
       coalesce(s.usd, 0) AS usd,
       CASE WHEN coalesce(a.leads_sent, 0) > 0 THEN a.found / a.leads_sent END AS hit_rate,
       CASE WHEN coalesce(m.mobiles, 0) > 0 THEN coalesce(s.credits, 0) / m.mobiles END AS cost_per_mobile,
       coalesce(a.leads_sent, 0) AS leads_sent,
       coalesce(a.cache_hits, 0) AS cache_hits,
       CASE WHEN coalesce(m.mobiles, 0) > 0 THEN coalesce(s.usd, 0) / m.mobiles END AS usd_per_mobile
FROM providers p
LEFT JOIN asked a USING (provider) LEFT JOIN mobiles m USING (provider) LEFT JOIN spend s USING (provider)
"""


def rebuild_provider_performance(conn: duckdb.DuckDBPyConnection, providers: Sequence[str]) -> list[tuple]:
    union = results_union("record_id, outcome, from_cache")
    with transaction(conn):
        conn.execute("DELETE FROM provider_performance")
        conn.execute("INSERT INTO provider_performance BY NAME " + PERFORMANCE_SQL.format(union=union),
                     {"providers": list(providers)})
    return conn.execute("SELECT * FROM provider_performance ORDER BY array_position($p::VARCHAR[], provider)",
                        {"p": list(providers)}).fetchall()
