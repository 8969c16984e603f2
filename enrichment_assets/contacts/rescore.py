"""Re-score some merged leads of a list, and only them, when the switchboard evidence about their numbers changed.

Another list's merge (or an erasure) can reveal that a number one of these leads holds is shared with a
colleague, or no longer is. Their ``contact_phones`` rows and best phone are chosen again from their stored
answers and the shared numbers ``number_evidence`` holds now; every other lead of their list keeps its rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

import duckdb

from enrichment_assets.contacts.answers import BATCH_LEADS, answers_of
from enrichment_assets.contacts.evidence import shared_numbers_of
from enrichment_assets.contacts.rows import ContactRows
from enrichment_assets.waterfall.suppression import Suppression


def rescore_leads(conn: duckdb.DuckDBPyConnection, leads: Mapping[str, Collection[str]],
                  provider_order: Sequence[str], suppression: Suppression, now: datetime) -> dict[str, int]:
    """Rebuild the rows of these leads (per list, record ids); return how many were re-scored per list.

    Call inside the transaction that changed ``number_evidence``: the reads here see its writes.
    """
    rescored: dict[str, int] = {}
    empty: frozenset[str] = frozenset()
    for list_id, record_ids in sorted(leads.items()):
        ids = sorted(record_ids)
        for start in range(0, len(ids), BATCH_LEADS):
            chunk = ids[start:start + BATCH_LEADS]
            items = answers_of(conn, list_id, chunk)
            shared = shared_numbers_of(conn, list_id, chunk)
            rows = ContactRows(provider_order, suppression, now)
            for item in items:
                rows.add(item, shared.get(item.lead.record_id, empty))
            phones, contacts = rows.take()
            done = [item.lead.record_id for item in items]  # a lead no longer in its list keeps its old rows
            for table in ("contact_phones", "contacts"):
                conn.execute(f"DELETE FROM {table} WHERE list_id = ? AND record_id IN "  # noqa: S608 - constant
                             "(SELECT unnest(?::VARCHAR[]))", [list_id, done])
            for table, rows_of in (("contact_phones", phones), ("contacts", contacts)):
                conn.register("_rescored", rows_of)
                try:
                    conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rescored")  # noqa: S608 - constant
                finally:
                    conn.unregister("_rescored")
            if done:
                rescored[list_id] = rescored.get(list_id, 0) + len(done)
    return rescored
