"""``provider_performance``: what each vendor earned its money with, over every list."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from enrichment_assets.storage.warehouse import results_union, transaction

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
