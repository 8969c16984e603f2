"""Each lead of a list with every provider's answers for it, read from DuckDB a bounded batch at a time."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

import duckdb

from enrichment_assets.leads.model import Lead
from enrichment_assets.phones.model import PhoneObservation
from enrichment_assets.storage.warehouse import results_union, row_windows

#: Leads handed to Python at a time, and file rows per DuckDB query (see ``lead_batches``): the merge's memory
#: is bounded by these, not by the list's size. Merging 300k leads in a fresh process peaked at 615 MB with
#: 20k / 100k, 519 MB with 5k / 100k and 438 MB with 5k / 50k, in about the same time.
BATCH_LEADS = 5_000
WINDOW_ROWS = 50_000


@dataclass(slots=True)
class LeadAnswers:
    """One lead, every number its providers returned, and every outcome they gave it."""

    lead: Lead
    observations: list[PhoneObservation]
    outcomes: set[str]


_ANSWERS_SQL = """
    WITH leads AS (SELECT * FROM raw_leads WHERE list_id = $list_id AND {where}),
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
"""


def lead_batches(conn: duckdb.DuckDBPyConnection, list_id: str) -> Iterator[list[LeadAnswers]]:
    """Every lead of the list with all its providers' answers, in file order, a batch at a time.

    One query per window of ``WINDOW_ROWS`` file rows: DuckDB groups the answers of those leads only, so
    its memory does not grow with the list (one query over a 1M-lead list held every lead's answers at once).
    """
    where = "coalesce(row_number, 0) >= $low AND coalesce(row_number, 0) < $high"
    cursor = conn.cursor()  # a cursor of its own: the caller may use ``conn`` between batches
    try:
        for low, high in row_windows(cursor, list_id, WINDOW_ROWS):
            yield from _batches(cursor, list_id, where, {"low": low, "high": high})
    finally:
        cursor.close()


def answers_of(conn: duckdb.DuckDBPyConnection, list_id: str, record_ids: Collection[str]) -> list[LeadAnswers]:
    """These leads of the list (``BATCH_LEADS`` or so at a time) with all their providers' answers, read on
    ``conn`` itself: inside a transaction, they reflect its writes."""
    return [item for batch in _batches(conn, list_id, "record_id IN (SELECT unnest($ids::VARCHAR[]))",
                                       {"ids": sorted(record_ids)}) for item in batch]


def _batches(cursor: duckdb.DuckDBPyConnection, list_id: str, where: str, params: dict
             ) -> Iterator[list[LeadAnswers]]:
    sql = _ANSWERS_SQL.format(where=where, union=results_union("record_id, phones, claimed_types, outcome",
                                                               "list_id = $list_id"))
    cursor.execute(sql, {"list_id": list_id, **params})  # the SQL is this module's own, values are parameters
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
            batch.append(LeadAnswers(Lead(list_id, *fields), observations, set(outcomes or [])))
        yield batch
