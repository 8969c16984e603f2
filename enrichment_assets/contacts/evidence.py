"""Switchboard evidence across every list: which numbers were returned for two or more people of one company.

``number_evidence`` holds one row per lead and distinct number it was returned (leads with a company key only):
``list_id, record_id, person_key, alias_key, company_key, e164, shared``. A number is *shared* at a company
when its rows there belong to two or more distinct people (``contacts/people.py``), in any lists: then it is a
switchboard or shared office line for every lead holding it, whichever list the lead is in and whenever it was
merged. ``shared`` is kept on every row of the number at the company, so all of them always say the same.

The table is maintained where its rows come from: a list's merge replaces the list's rows, an erasure deletes
the person's, retention a dropped list's. Each change is staged first (``stage_list``, ``stage_erasure``,
``stage_list_drop``): only the numbers the change
touches are looked at again, with every list's holders of them, and the numbers whose status flips for leads
of *other* lists are named, so that exactly those leads are re-scored (``contacts/rescore.py``). Then
``apply_list`` / ``apply_erasure`` write it, in the caller's transaction.

Bookkeeping outside the table contract, like ``step_state``: a list merged before this table existed gets its
rows at its next merge (``lists_without_evidence``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from enrichment_assets.contacts.answers import LeadAnswers
from enrichment_assets.contacts.people import people_of, person_keys
from enrichment_assets.phones.classify import distinct_numbers
from enrichment_assets.phones.companies import company_key, find_shared_numbers, shared_numbers_by_company
from enrichment_assets.phones.regions import region_hints
from enrichment_assets.storage.step_state import write_digest

#: Raise when what a row means changes: lists whose evidence was built by an older version are merged again.
EVIDENCE_VERSION = "1"
#: ``step_state`` step that marks the lists whose rows are in ``number_evidence``.
MARK_STEP = "number_evidence"

EVIDENCE_SCHEMA = pa.schema([
    ("list_id", pa.string()), ("record_id", pa.string()), ("person_key", pa.string()), ("alias_key", pa.string()),
    ("company_key", pa.string()), ("e164", pa.string())])

Pair = tuple[str, str]  # (company_key, e164)


class EvidenceWriter:
    """The evidence rows of a list's leads, written to Parquet as the merge streams them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = pq.ParquetWriter(str(path), EVIDENCE_SCHEMA)

    def add(self, batch: Iterable[LeadAnswers]) -> None:
        cols: dict[str, list] = defaultdict(list)
        for item in batch:
            lead = item.lead
            key = company_key(lead.company, lead.domain)
            if key is None:
                continue
            person, alias = person_keys(lead)
            for e164 in sorted(distinct_numbers(item.observations, region_hints(lead.country, lead.domain))):
                for column, value in (("list_id", lead.list_id), ("record_id", lead.record_id),
                                      ("person_key", person), ("alias_key", alias), ("company_key", key),
                                      ("e164", e164)):
                    cols[column].append(value)
        self._writer.write_table(pa.table({k: cols.get(k, []) for k in EVIDENCE_SCHEMA.names},
                                          schema=EVIDENCE_SCHEMA))

    def close(self) -> None:
        self._writer.close()


@dataclass
class EvidenceChange:
    """What a staged change does to the shared numbers it touches."""

    #: Per company, the touched numbers that are shared once the change is applied.
    shared: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Touched numbers held by leads of other lists that become shared / stop being shared.
    newly_shared: set[Pair] = field(default_factory=set)
    no_longer_shared: set[Pair] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.newly_shared or self.no_longer_shared)


# The staging tables live on the caller's connection until ``drop_staging``:
# _ev_new (a list's new rows), _ev_touched (pairs the change touches), _ev_holders (their holders once the change
# is applied), _ev_shared (touched pairs shared then), _ev_changed (pairs whose status flips for other lists' rows).


def stage_list(conn: duckdb.DuckDBPyConnection, list_id: str, new_rows: Path) -> EvidenceChange:
    """Stage replacing the list's evidence with ``new_rows`` (Parquet from ``EvidenceWriter``)."""
    conn.execute("CREATE OR REPLACE TEMP TABLE _ev_new AS SELECT * FROM read_parquet(?)", [str(new_rows)])
    conn.execute("""CREATE OR REPLACE TEMP TABLE _ev_touched AS
                    SELECT DISTINCT company_key, e164 FROM _ev_new
                    UNION SELECT DISTINCT company_key, e164 FROM number_evidence WHERE list_id = $list_id""",
                 {"list_id": list_id})
    return _stage(conn, "e.list_id <> $list_id", {"list_id": list_id},
                  "SELECT company_key, e164, person_key, alias_key FROM _ev_new")


def stage_erasure(conn: duckdb.DuckDBPyConnection, record_ids: Collection[str]) -> EvidenceChange:
    """Stage deleting the evidence of these records (a person forgotten)."""
    ids = sorted(record_ids)
    conn.execute("""CREATE OR REPLACE TEMP TABLE _ev_touched AS SELECT DISTINCT company_key, e164
                    FROM number_evidence WHERE record_id IN (SELECT unnest($ids::VARCHAR[]))""", {"ids": ids})
    return _stage(conn, "e.record_id NOT IN (SELECT unnest($ids::VARCHAR[]))", {"ids": ids})


def stage_list_drop(conn: duckdb.DuckDBPyConnection, list_ids: Collection[str]) -> EvidenceChange:
    """Stage deleting the evidence of whole lists (lists dropped by retention)."""
    lists = sorted(list_ids)
    conn.execute("""CREATE OR REPLACE TEMP TABLE _ev_touched AS SELECT DISTINCT company_key, e164
                    FROM number_evidence WHERE list_id IN (SELECT unnest($lists::VARCHAR[]))""", {"lists": lists})
    return _stage(conn, "e.list_id NOT IN (SELECT unnest($lists::VARCHAR[]))", {"lists": lists})


def _stage(conn: duckdb.DuckDBPyConnection, stays: str, params: dict, added: str | None = None) -> EvidenceChange:
    """Holders of the touched pairs once the change is applied: the rows that ``stays`` (SQL on ``e``) keeps,
    plus ``added``; which pairs are shared then; which flip for the rows that stay."""
    conn.execute(f"""CREATE OR REPLACE TEMP TABLE _ev_holders AS
                     SELECT company_key, e164, person_key, alias_key
                     FROM number_evidence e SEMI JOIN _ev_touched USING (company_key, e164) WHERE {stays}
                     {"" if added is None else f"UNION ALL {added}"}""", params)  # noqa: S608 - this module's SQL
    shared = sorted(_shared_pairs(conn))
    pairs = pa.table({"company_key": [k for k, _ in shared], "e164": [e for _, e in shared]},
                     schema=pa.schema([("company_key", pa.string()), ("e164", pa.string())]))
    conn.register("_ev_shared_arrow", pairs)
    try:
        conn.execute("CREATE OR REPLACE TEMP TABLE _ev_shared AS SELECT * FROM _ev_shared_arrow")
    finally:
        conn.unregister("_ev_shared_arrow")
    # The rows of a pair agree on `shared`, so those that stay tell its status before the change.
    conn.execute(f"""CREATE OR REPLACE TEMP TABLE _ev_changed AS
                     WITH before AS (
                         SELECT company_key, e164, bool_or(e.shared) AS was_shared
                         FROM number_evidence e SEMI JOIN _ev_touched USING (company_key, e164) WHERE {stays}
                         GROUP BY ALL)
                     SELECT b.company_key, b.e164, s.e164 IS NOT NULL AS shared
                     FROM before b LEFT JOIN _ev_shared s USING (company_key, e164)
                     WHERE b.was_shared <> (s.e164 IS NOT NULL)""", params)  # noqa: S608 - this module's SQL
    change = EvidenceChange(shared=shared_numbers_by_company(shared))
    for key, e164, now_shared in conn.execute("SELECT company_key, e164, shared FROM _ev_changed").fetchall():
        (change.newly_shared if now_shared else change.no_longer_shared).add((key, e164))
    return change


def _shared_pairs(conn: duckdb.DuckDBPyConnection) -> set[Pair]:
    """The staged holders' pairs held by two or more distinct people. Only pairs held under two or more person
    keys can be; for those, aliases decide (a LinkedIn key and an email key may be one person)."""
    rows = conn.execute("""
        WITH candidates AS (SELECT company_key, e164 FROM _ev_holders GROUP BY ALL
                            HAVING count(DISTINCT person_key) > 1)
        SELECT company_key, e164, list(DISTINCT struct_pack(p := person_key, a := alias_key))
        FROM _ev_holders SEMI JOIN candidates USING (company_key, e164) GROUP BY ALL""").fetchall()
    shared: set[Pair] = set()
    for key, e164, holders in rows:
        # Per number, from its own holders only: its status never depends on which other numbers were looked at.
        person = people_of((h["p"], h["a"]) for h in holders)
        shared |= find_shared_numbers((person[h["p"]], key, e164) for h in holders)
    return shared


def apply_list(conn: duckdb.DuckDBPyConnection, list_id: str) -> None:
    """Write a change staged by ``stage_list``; call inside the transaction that writes the list's contacts."""
    conn.execute("DELETE FROM number_evidence WHERE list_id = ?", [list_id])
    conn.execute("""INSERT INTO number_evidence BY NAME
                    SELECT n.*, s.e164 IS NOT NULL AS shared FROM _ev_new n
                    LEFT JOIN _ev_shared s USING (company_key, e164)""")
    _apply_flips(conn)
    write_digest(conn, MARK_STEP, list_id, EVIDENCE_VERSION)


def apply_erasure(conn: duckdb.DuckDBPyConnection, record_ids: Collection[str]) -> None:
    """Write a change staged by ``stage_erasure``; call inside the erasure's transaction."""
    conn.execute("DELETE FROM number_evidence WHERE record_id IN (SELECT unnest(?::VARCHAR[]))", [sorted(record_ids)])
    _apply_flips(conn)


def apply_list_drop(conn: duckdb.DuckDBPyConnection, list_ids: Collection[str]) -> None:
    """Write a change staged by ``stage_list_drop``; call inside the retention's transaction."""
    conn.execute("DELETE FROM number_evidence WHERE list_id IN (SELECT unnest(?::VARCHAR[]))", [sorted(list_ids)])
    _apply_flips(conn)


def _apply_flips(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("""UPDATE number_evidence SET shared = c.shared FROM _ev_changed c
                    WHERE number_evidence.company_key = c.company_key AND number_evidence.e164 = c.e164""")


def holders_to_rescore(conn: duckdb.DuckDBPyConnection, but_list: str | None = None) -> dict[str, set[str]]:
    """Per list, the merged leads (those with a ``contacts`` row there) holding a number whose status the staged
    change flips; the list ``but_list`` is left out (it is being merged whole)."""
    rows = conn.execute("""
        SELECT e.list_id, list(DISTINCT e.record_id) FROM number_evidence e
        SEMI JOIN _ev_changed USING (company_key, e164)
        SEMI JOIN contacts c ON c.list_id = e.list_id AND c.record_id = e.record_id
        WHERE e.list_id IS DISTINCT FROM $but GROUP BY 1 ORDER BY 1""", {"but": but_list}).fetchall()
    return {list_id: set(ids) for list_id, ids in rows}


def lists_holding_flips(conn: duckdb.DuckDBPyConnection, but_list: str | None = None) -> list[str]:
    """The lists with rows of a number the staged change flips (before it is applied)."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT list_id FROM number_evidence SEMI JOIN _ev_changed USING (company_key, e164) "
        "WHERE list_id IS DISTINCT FROM $but ORDER BY 1", {"but": but_list}).fetchall()]


def drop_staging(conn: duckdb.DuckDBPyConnection) -> None:
    for table in ("_ev_new", "_ev_touched", "_ev_holders", "_ev_shared", "_ev_changed"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def shared_numbers_of(conn: duckdb.DuckDBPyConnection, list_id: str, record_ids: Collection[str]
                      ) -> dict[str, frozenset[str]]:
    """Per lead of the list, its numbers that are shared with colleagues (as ``number_evidence`` says now)."""
    rows = conn.execute("SELECT record_id, list(e164) FROM number_evidence WHERE list_id = ? AND shared "
                        "AND record_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1",
                        [list_id, sorted(record_ids)]).fetchall()
    return {record_id: frozenset(numbers) for record_id, numbers in rows}


def mark_lists(conn: duckdb.DuckDBPyConnection, list_ids: Iterable[str]) -> None:
    """Record that these lists' evidence is in the table (erasure clears their step digests, not this fact)."""
    for list_id in list_ids:
        write_digest(conn, MARK_STEP, list_id, EVIDENCE_VERSION)


def lists_without_evidence(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Merged lists whose rows are not in the table (merged before it existed): they must be merged again for
    their numbers to count, and to see the other lists'."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT list_id FROM contacts WHERE list_id IS NOT NULL AND list_id NOT IN "
        "(SELECT scope FROM step_state WHERE step = ? AND digest = ?) ORDER BY 1",
        [MARK_STEP, EVIDENCE_VERSION]).fetchall()]
