"""Which lead lists hold vendor answers older than the cache TTL, and which still have pending leads.

The refresh schedule and the retry sensor ask these questions; the engine then re-calls only the expired
(or unanswered) lookups, because every fresh stored response is served from the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from enrichment_assets.storage.warehouse import results_union

_ANSWERS = results_union("list_id, record_id, request_fingerprint, called_at, outcome")


def stale_lookups_by_list(conn: duckdb.DuckDBPyConnection, ttl_days: float, now: datetime) -> dict[str, int]:
    """list_id -> number of distinct lookups of its current leads answered before ``now - ttl_days``."""
    cutoff = now - timedelta(days=ttl_days)
    rows = conn.execute(f"""
        SELECT a.list_id, count(DISTINCT a.request_fingerprint)
        FROM ({_ANSWERS}) a
        JOIN raw_leads r USING (list_id, record_id)
        WHERE a.outcome IN ('found', 'not_found') AND a.called_at < ?
        GROUP BY a.list_id ORDER BY a.list_id
    """, [cutoff]).fetchall()  # noqa: S608 - table names are constants
    return dict(rows)


def pending_leads_by_list(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """list_id -> number of contacts still ``pending`` (a provider was out of credits, over budget or failing)."""
    rows = conn.execute("SELECT list_id, count(*) FROM contacts WHERE status = 'pending' "
                        "GROUP BY list_id ORDER BY list_id").fetchall()
    return dict(rows)
