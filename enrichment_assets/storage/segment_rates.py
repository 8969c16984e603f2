"""``provider_segment_rates``: the cost model as a table (``cost_model/rates.py``), for the UI, dbt and the next run.

Rebuilt from the results tables, ``contact_phones`` and ``raw_leads`` of every list (one aggregate query),
only when what it is built from changed: the merge's digests of every list (which cover each list's leads,
provider rows and contacts), the cost-model settings and the prices. An unchanged rerun reads one small table
and compares one digest.

One row per provider and level: ``segment`` rows (country and identifiers) hold the counts the model learns
from; ``country`` rows (identifiers ``*``) and one ``provider`` row (country and identifiers ``*``) show the
levels the segments are shrunk toward. Every row has the model's estimates at its level.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.cost_model.rates import Counts, HitRateModel
from enrichment_assets.cost_model.segments import COUNTRY_SQL, IDENTIFIERS_SQL, Segment
from enrichment_assets.storage.step_state import ALL_LISTS, read_digest, stable_digest, write_digest
from enrichment_assets.storage.warehouse import results_union, transaction

STEP = "provider_segment_rates"
#: Raise when what the model counts changes: the table is rebuilt at the next run.
MODEL_VERSION = 1
ANY = "*"

_COUNTS_SQL = f"""
WITH leads AS (
    SELECT list_id, record_id, {COUNTRY_SQL} AS country, {IDENTIFIERS_SQL} AS identifiers FROM raw_leads
),
results AS ({results_union("list_id, record_id, outcome, from_cache, credits", "outcome IN ('found', 'not_found')")}),
mobiles AS (
    SELECT DISTINCT list_id, record_id, unnest(sources) AS provider FROM contact_phones WHERE is_personal_mobile
)
SELECT r.provider, l.country, l.identifiers,
       count(*) AS leads,
       count(*) FILTER (WHERE r.outcome = 'found') AS found,
       count(m.provider) AS mobiles,
       count(*) FILTER (WHERE NOT r.from_cache) AS paid_calls,
       coalesce(sum(r.credits) FILTER (WHERE NOT r.from_cache), 0) AS credits
FROM results r
JOIN leads l ON l.list_id = r.list_id AND l.record_id = r.record_id
LEFT JOIN mobiles m ON m.list_id = r.list_id AND m.record_id = r.record_id AND m.provider = r.provider
GROUP BY ALL
"""  # noqa: S608 - constant tables and columns

_COLUMNS = ("provider", "level", "country", "identifiers", "leads", "found", "mobiles", "paid_calls", "credits",
            "found_rate", "mobile_rate", "mobile_rate_low", "mobile_rate_high", "credits_per_call", "usd_per_call",
            "usd_per_mobile", "evidence", "updated_at")


def rates_digest(conn: duckdb.DuckDBPyConnection, config: EnrichmentConfig) -> str:
    """What the table is built from: every list's merge digest, the model's settings and the prices."""
    merges = conn.execute("SELECT scope, digest FROM step_state WHERE step = 'merge_contacts' ORDER BY scope"
                          ).fetchall()
    prices = {name: (p.usd_per_credit, p.pricing.model_dump()) for name, p in sorted(config.providers.items())}
    return stable_digest(MODEL_VERSION, merges, config.cost_model.model_dump(), prices,
                         config.waterfall.stop_when)


def gather_counts(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, Segment], Counts]:
    """Per provider and segment, what the tables hold (every list)."""
    return {(provider, Segment(country, identifiers)): Counts(int(n), int(found), int(mobiles), int(paid),
                                                               float(credits))
            for provider, country, identifiers, n, found, mobiles, paid, credits
            in conn.execute(_COUNTS_SQL).fetchall()}


def load_model(conn: duckdb.DuckDBPyConnection, config: EnrichmentConfig) -> HitRateModel:
    """The model from the table's segment counts and today's config (priors, prices); empty table: priors only."""
    rows = conn.execute("SELECT provider, country, identifiers, leads, found, mobiles, paid_calls, credits "
                        "FROM provider_segment_rates WHERE level = 'segment'").fetchall()
    counts = {(p, Segment(c, i)): Counts(int(n), int(f), int(m), int(pc), float(cr))
              for p, c, i, n, f, m, pc, cr in rows if p in config.providers}
    return HitRateModel(config, counts)


def _row(model: HitRateModel, provider: str, level: str, country: str, identifiers: str, counts: Counts,
         now: datetime) -> tuple:
    if level == "segment":
        e = model.estimate(provider, Segment(country, identifiers))
        found, mobile, credits, evidence = e.found_rate, e.mobile_rate, e.credits_per_call, e.evidence
    else:
        lv = model.country_level(provider, country) if level == "country" else model.provider_level(provider)
        found, mobile, credits, evidence = lv.found_rate, lv.mobile_rate, lv.credits_per_call, lv.evidence
    usd_per_credit = model.config.provider(provider).usd_per_credit
    sd = (mobile * (1 - mobile) / (evidence + 1)) ** 0.5
    usd_per_call = credits * usd_per_credit
    return (provider, level, country, identifiers, counts.leads, counts.found, counts.mobiles, counts.paid_calls,
            counts.credits, found, mobile, max(0.0, mobile - 1.645 * sd), min(1.0, mobile + 1.645 * sd), credits,
            usd_per_call, usd_per_call / mobile if mobile > 0 else None, evidence, now)


def model_rows(model: HitRateModel, providers: Sequence[str], now: datetime) -> list[tuple]:
    rows = []
    for provider in providers:
        rows.append(_row(model, provider, "provider", ANY, ANY, model.provider_counts(provider), now))
        for country in model.countries:
            counts = model.country_counts(provider, country)
            if counts.leads:
                rows.append(_row(model, provider, "country", country, ANY, counts, now))
    for (provider, segment), counts in sorted(model.counts.items()):
        if provider in providers:
            rows.append(_row(model, provider, "segment", segment.country, segment.identifiers, counts, now))
    return rows


def rebuild_segment_rates(conn: duckdb.DuckDBPyConnection, config: EnrichmentConfig, *,
                          force: bool = False) -> tuple[HitRateModel, bool]:
    """Rebuild the table when its inputs changed (or ``force``); return the model and whether it was rebuilt."""
    digest = rates_digest(conn, config)
    if not force and read_digest(conn, STEP, ALL_LISTS) == digest:
        return load_model(conn, config), False
    model = HitRateModel(config, gather_counts(conn))
    rows = model_rows(model, list(config.providers), datetime.now(UTC))
    with transaction(conn):
        conn.execute("DELETE FROM provider_segment_rates")
        if rows:
            conn.executemany(f"INSERT INTO provider_segment_rates ({', '.join(_COLUMNS)}) "  # noqa: S608 - names from code, values bound
                             f"VALUES ({', '.join('?' for _ in _COLUMNS)})", rows)
        write_digest(conn, STEP, ALL_LISTS, digest)
    return model, True
