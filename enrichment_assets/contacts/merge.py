"""Merge every provider's numbers into ``contact_phones`` and one ``contacts`` row per lead."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from enrichment_assets.leads.model import Lead
from enrichment_assets.phones.classify import ContactPhone, LeadPhones, PhoneObservation, classify_many, company_key
from enrichment_assets.phones.parse import region_hints
from enrichment_assets.phones.score import choose_best
from enrichment_assets.storage.warehouse import PROVIDER_RESULT_TABLES, transaction
from enrichment_assets.waterfall.engine import PENDING_OUTCOMES
from enrichment_assets.waterfall.suppression import Suppression

STATUSES = ("mobile_found", "phone_found", "not_found", "pending", "suppressed")


@dataclass
class MergeSummary:
    contacts: int
    phones: int
    by_status: dict[str, int]


def _results_union() -> str:
    return " UNION ALL ".join(
        f"SELECT record_id, '{provider}' AS provider, phones, claimed_types, outcome FROM {table} "
        "WHERE list_id = $list_id"
        for provider, table in PROVIDER_RESULT_TABLES.items()
    )


def contact_status(best: ContactPhone | None, outcomes: set[str], suppressed: bool) -> str:
    if suppressed:
        return "suppressed"
    if best is not None and best.is_personal_mobile:
        return "mobile_found"
    if outcomes & PENDING_OUTCOMES:
        return "pending"  # a provider still owes this lead an answer: a rerun may find the mobile
    return "phone_found" if best is not None else "not_found"


def merge_list(conn: duckdb.DuckDBPyConnection, list_id: str, provider_order: Sequence[str],
               suppression: Suppression, now: datetime | None = None) -> MergeSummary:
    """Rebuild contact_phones and contacts for one list from its leads and provider results."""
    now = now or datetime.now(UTC)
    leads = [Lead(list_id, *row) for row in conn.execute(
        "SELECT record_id, first_name, last_name, company, domain, email, linkedin_url, country, fingerprint "
        "FROM raw_leads WHERE list_id = ? ORDER BY row_number", [list_id]).fetchall()]
    observations: dict[str, list[PhoneObservation]] = defaultdict(list)
    outcomes: dict[str, set[str]] = defaultdict(set)
    for record_id, provider, phones, claimed, outcome in conn.execute(_results_union(), {"list_id": list_id}).fetchall():
        outcomes[record_id].add(outcome)
        for number, claim in zip(phones or [], claimed or [None] * len(phones or []), strict=False):
            observations[record_id].append(PhoneObservation(provider, number, claim))

    classified = classify_many(
        (LeadPhones(record_id=lead.record_id, observations=observations.get(lead.record_id, ()),
                    region_hints=region_hints(lead.country, lead.domain),
                    company_key=company_key(lead.company, lead.domain),
                    person_key=lead.linkedin_url or lead.record_id) for lead in leads),
        suppressed=suppression.phones, provider_priority=list(provider_order),
    )

    phone_cols: dict[str, list] = defaultdict(list)
    contact_cols: dict[str, list] = defaultdict(list)
    by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for lead in leads:
        phones = classified.get(lead.record_id, [])
        for p in phones:
            phone_cols["record_id"].append(lead.record_id)
            phone_cols["e164"].append(p.e164)
            phone_cols["number_type"].append(p.number_type)
            phone_cols["region"].append(p.region)
            phone_cols["sources"].append(p.sources)
            phone_cols["source_count"].append(p.source_count)
            phone_cols["shared_with_others"].append(p.shared_with_others)
            phone_cols["score"].append(float(p.score))
            phone_cols["list_id"].append(list_id)
            phone_cols["raw"].append(p.raw_values[0] if p.raw_values else None)
            phone_cols["claimed_types"].append(p.claimed_types)
            phone_cols["is_personal_mobile"].append(p.is_personal_mobile)
            phone_cols["suppressed"].append(p.suppressed)
        is_suppressed = suppression.matches(lead)
        best = None if is_suppressed else choose_best(phones, list(provider_order))
        status = contact_status(best, outcomes.get(lead.record_id, set()), is_suppressed)
        by_status[status] += 1
        contact_cols["record_id"].append(lead.record_id)
        contact_cols["list_id"].append(list_id)
        contact_cols["first_name"].append(lead.first_name)
        contact_cols["last_name"].append(lead.last_name)
        contact_cols["company"].append(lead.company)
        contact_cols["linkedin_url"].append(lead.linkedin_url)
        contact_cols["best_phone"].append(best.e164 if best else None)
        contact_cols["best_phone_type"].append(best.number_type if best else None)
        contact_cols["best_phone_score"].append(float(best.score) if best else None)
        contact_cols["best_phone_sources"].append(best.sources if best else None)
        contact_cols["phone_count"].append(sum(1 for p in phones if p.valid))
        contact_cols["status"].append(status)
        contact_cols["enriched_at"].append(now)

    phone_table = pa.table({k: phone_cols.get(k, []) for k in (
        "record_id", "e164", "number_type", "region", "sources", "source_count", "shared_with_others", "score",
        "list_id", "raw", "claimed_types", "is_personal_mobile", "suppressed")},
        schema=pa.schema([("record_id", pa.string()), ("e164", pa.string()), ("number_type", pa.string()),
                          ("region", pa.string()), ("sources", pa.list_(pa.string())), ("source_count", pa.int32()),
                          ("shared_with_others", pa.bool_()), ("score", pa.float64()), ("list_id", pa.string()),
                          ("raw", pa.string()), ("claimed_types", pa.list_(pa.string())),
                          ("is_personal_mobile", pa.bool_()), ("suppressed", pa.bool_())]))
    contact_table = pa.table({k: contact_cols.get(k, []) for k in (
        "record_id", "list_id", "first_name", "last_name", "company", "linkedin_url", "best_phone",
        "best_phone_type", "best_phone_score", "best_phone_sources", "phone_count", "status", "enriched_at")},
        schema=pa.schema([("record_id", pa.string()), ("list_id", pa.string()), ("first_name", pa.string()),
                          ("last_name", pa.string()), ("company", pa.string()), ("linkedin_url", pa.string()),
                          ("best_phone", pa.string()), ("best_phone_type", pa.string()),
                          ("best_phone_score", pa.float64()), ("best_phone_sources", pa.list_(pa.string())),
                          ("phone_count", pa.int32()), ("status", pa.string()),
                          ("enriched_at", pa.timestamp("us", tz="UTC"))]))
    with transaction(conn):
        conn.register("new_phones", phone_table)
        conn.register("new_contacts", contact_table)
        try:
            # One row per record_id: a record that moved to this list leaves its old list's rows behind.
            conn.execute("DELETE FROM contact_phones WHERE list_id = ? OR record_id IN "
                         "(SELECT record_id FROM new_contacts)", [list_id])
            conn.execute("DELETE FROM contacts WHERE list_id = ? OR record_id IN "
                         "(SELECT record_id FROM new_contacts)", [list_id])
            conn.execute("INSERT INTO contact_phones BY NAME SELECT * FROM new_phones")
            conn.execute("INSERT INTO contacts BY NAME SELECT * FROM new_contacts")
        finally:
            conn.unregister("new_phones")
            conn.unregister("new_contacts")
    return MergeSummary(contacts=contact_table.num_rows, phones=phone_table.num_rows, by_status=by_status)


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
    union = " UNION ALL ".join(
        f"SELECT '{provider}' AS provider, record_id, outcome, from_cache FROM {table}"
        for provider, table in PROVIDER_RESULT_TABLES.items()
    )
    with transaction(conn):
        conn.execute("DELETE FROM provider_performance")
        conn.execute("INSERT INTO provider_performance BY NAME " + PERFORMANCE_SQL.format(union=union),
                     {"providers": list(providers)})
    return conn.execute("SELECT * FROM provider_performance ORDER BY array_position($p::VARCHAR[], provider)",
                        {"p": list(providers)}).fetchall()
