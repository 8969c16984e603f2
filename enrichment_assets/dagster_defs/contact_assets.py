"""Merged contacts, the credit ledger and provider performance (unpartitioned tables over all lists)."""

from base64 import b64encode

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)
from dagster_duckdb import DuckDBResource

from enrichment_assets.contacts.evidence import lists_without_evidence
from enrichment_assets.contacts.merge import merge_list, merge_list_if_changed
from enrichment_assets.contacts.performance import rebuild_provider_performance
from enrichment_assets.dagster_defs.constants import (
    CONTACTS_GROUP,
    DUCKDB_KIND,
    DUCKDB_POOL,
    LEDGER_GROUP,
    MARTS_GROUP,
    OWNERS,
    PARQUET_KIND,
    PYTHON_KIND,
)
from enrichment_assets.dagster_defs.previews import Column, identifier, listed, markdown_table, phone
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse
from enrichment_assets.dagster_defs.table_schemas import table_metadata
from enrichment_assets.memory import release_freed_memory
from enrichment_assets.reporting.funnel_chart import FunnelRow, funnel_png_file
from enrichment_assets.storage.ledger import sync_ledger
from enrichment_assets.storage.marts import publish_marts_if_changed
from enrichment_assets.vendors.registry import PROVIDER_SPECS, provider_spec
from enrichment_assets.waterfall.suppression import load_suppression

RESULT_KEYS = [AssetKey(spec.results_table) for spec in PROVIDER_SPECS]






def lists_to_merge(context: AssetExecutionContext, conn) -> list[str]:
    """The run's lead list when the run is for one partition, else every list."""
    partition = context.run.tags.get("dagster/partition")
    if partition:
        return [partition]
    return [row[0] for row in conn.execute("SELECT DISTINCT list_id FROM raw_leads ORDER BY 1").fetchall()]


@multi_asset(
    specs=[
        AssetSpec("contact_phones", deps=[AssetKey("raw_leads"), *RESULT_KEYS], group_name=CONTACTS_GROUP,
                  kinds={DUCKDB_KIND, PYTHON_KIND}, owners=OWNERS,
                  description=("Every distinct number found for each person, normalized to E.164 and classified: "
                               "line type, which providers agree, and whether it was also returned for colleagues "
                               "in any list (a switchboard). Invalid numbers and switchboards are kept, never "
                               "chosen."),
                  metadata=table_metadata("contact_phones")),
        AssetSpec("contacts", deps=["contact_phones"], group_name=CONTACTS_GROUP, kinds={DUCKDB_KIND}, owners=OWNERS,
                  description=("One row per lead with the number to dial: the best personal mobile when one was "
                               "found, else the best other number (never a colleague's switchboard), and a status "
                               "(mobile_found, phone_found, "
                               "not_found, pending when a vendor still owes an answer, suppressed)."),
                  metadata=table_metadata("contacts")),
    ],
    pool=DUCKDB_POOL,
    name="merge_contacts",
)
def merge_contacts(context: AssetExecutionContext, enrichment: EnrichmentSettings, duckdb: DuckDBResource):
    """Classify every number and pick each person's best phone. A number returned for two or more people of one
    company, in any lists, is a switchboard for all of them: when this list's numbers reveal one, the leads of
    other lists holding it are re-scored too (only those). A list whose leads, provider results, settings and
    switchboard evidence are unchanged since its last merge keeps its contacts as they are."""
    settings = enrichment.settings()
    config = enrichment.config()
    suppression = load_suppression(settings.suppression_path)
    by_status: dict[str, int] = {}
    phones = contacts = newly_shared = no_longer_shared = 0
    rescored: dict[str, int] = {}
    with warehouse(duckdb) as conn:
        lists = lists_to_merge(context, conn)
        # Lists merged before the switchboard evidence existed: once, so their numbers count for everyone.
        behind = [list_id for list_id in lists_without_evidence(conn) if list_id not in lists]
        if behind:
            context.log.info(f"Merging {', '.join(behind)} again to add their numbers to the switchboard evidence "
                             "(merged by an earlier version)")
        reused = []
        for list_id in [*behind, *lists]:
            try:
                if list_id in behind:
                    summary = merge_list(conn, list_id, config.active_order, suppression)
                else:
                    summary = merge_list_if_changed(conn, list_id, config.active_order, suppression)
            finally:
                release_freed_memory()
            for other, n in summary.rescored.items():
                rescored[other] = rescored.get(other, 0) + n
            newly_shared += summary.newly_shared
            no_longer_shared += summary.no_longer_shared
            if list_id in behind:
                continue
            if summary.reused:
                reused.append(list_id)
            phones += summary.phones
            contacts += summary.contacts
            for status, n in summary.by_status.items():
                by_status[status] = by_status.get(status, 0) + n
        preview_rows = conn.execute(
            "SELECT record_id, first_name, company, best_phone, best_phone_type, best_phone_sources, status "
            "FROM contacts WHERE list_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY record_id LIMIT 10",
            [lists]).fetchall()
        totals = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'mobile_found') FROM contacts"
                              ).fetchone()
        phone_total = conn.execute("SELECT count(*) FROM contact_phones").fetchone()[0]
    preview = markdown_table([Column("record_id", identifier), "name", "company", Column("best phone", phone), "type",
                              Column("sources", listed), "status"], preview_rows)
    mobile_rate = round(by_status.get("mobile_found", 0) / contacts, 4) if contacts else 0.0
    if reused:
        context.log.info(f"Kept the contacts of {', '.join(reused)}: leads, provider results, settings and "
                         "switchboard evidence unchanged since the last merge")
    context.log.info(f"Merged {contacts} contacts of {len(lists)} list(s): {by_status}")
    rescored_leads = sum(rescored.values())
    if rescored_leads or newly_shared or no_longer_shared:
        context.log.info(
            f"Switchboard evidence across lists: {newly_shared} number(s) newly shared with colleagues, "
            f"{no_longer_shared} no longer shared; re-scored {rescored_leads} lead(s) of other lists holding them "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(rescored.items())) or 'none merged yet'})")
    evidence_metadata = {
        "rescored_other_lists": ", ".join(sorted(rescored)), "rescored_leads": rescored_leads,
        "newly_shared_numbers": newly_shared, "no_longer_shared_numbers": no_longer_shared,
        "lists_merged_for_evidence": ", ".join(behind)}
    yield MaterializeResult(asset_key="contact_phones", metadata={
        "dagster/row_count": phone_total, "phones_this_run": phones, "lists": ", ".join(lists),
        "lists_unchanged": ", ".join(reused), **evidence_metadata})
    yield MaterializeResult(asset_key="contacts", metadata={
        "dagster/row_count": totals[0], "contacts_this_run": contacts, "mobile_found_rate": mobile_rate,
        "lists_unchanged": ", ".join(reused), **evidence_metadata,
        **{f"status_{k}": v for k, v in by_status.items()}, "preview": MetadataValue.md(preview)})


def active_run_ids(context: AssetExecutionContext) -> set[str]:
    from dagster import DagsterRunStatus, RunsFilter

    runs = context.instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING,
                                                          DagsterRunStatus.CANCELING]))
    # This run's waterfall has finished before the ledger step: an answerless request of it is unknown, not pending.
    return {run.run_id for run in runs} - {context.run.run_id}


@asset(
    deps=RESULT_KEYS, group_name=LEDGER_GROUP, kinds={DUCKDB_KIND}, owners=OWNERS, pool=DUCKDB_POOL,
    metadata=table_metadata("credit_ledger"),
)
def credit_ledger(context: AssetExecutionContext, enrichment: EnrichmentSettings, duckdb: DuckDBResource
                  ) -> MaterializeResult:
    """Every HTTP request that reached a vendor, with the credits it cost and in USD: by the config's pricing rule,
    or as the vendor reported it (credit_basis). A request with no usable answer (a timeout after sending, a
    dropped connection, a 5xx, an unreadable answer, or in flight when its process died) shows as outcome
    'unknown': 0 certain credits, its worst case, and uncertain_credits (what it may have cost); a later answer to
    the same question settles it (settled_by, settlement). Per provider, credits <= what the vendor charged <=
    credits + uncertain_credits."""
    with enrichment.response_store() as store, warehouse(duckdb) as conn:
        rows = sync_ledger(conn, store, active_run_ids(context))
        per_provider = conn.execute(
            "SELECT provider, count(*), sum(credits), sum(usd), count(*) FILTER (WHERE outcome = 'unknown'), "
            "coalesce(sum(uncertain_credits), 0) "
            "FROM credit_ledger GROUP BY provider ORDER BY provider").fetchall()
        this_run = conn.execute("SELECT count(*), coalesce(sum(credits), 0), coalesce(sum(usd), 0), "
                                "count(*) FILTER (WHERE outcome = 'unknown'), coalesce(sum(uncertain_credits), 0) "
                                "FROM credit_ledger WHERE run_id = ?", [context.run.run_id]).fetchone()
    table = markdown_table(["provider", "requests", "credits", "USD", "unknown", "up to (uncertain credits)"],
                           [(p, n, f"{c:g}", f"{u:.2f}", k, f"{w:g}") for p, n, c, u, k, w in per_provider])
    return MaterializeResult(metadata={
        "dagster/row_count": rows, "requests_this_run": this_run[0], "credits_this_run": float(this_run[1]),
        "usd_this_run": round(float(this_run[2]), 4), "unknown_this_run": this_run[3],
        "uncertain_credits_this_run": float(this_run[4]),
        **{f"credits_{p}": float(c) for p, _, c, _, _, _ in per_provider},
        "by_provider": MetadataValue.md(table)})


@asset(
    deps=["contacts", "credit_ledger"], group_name=CONTACTS_GROUP, kinds={DUCKDB_KIND}, owners=OWNERS, pool=DUCKDB_POOL,
    metadata=table_metadata("provider_performance"),
)
def provider_performance(context: AssetExecutionContext, enrichment: EnrichmentSettings, duckdb: DuckDBResource
                         ) -> MaterializeResult:
    """How each vendor earns its money: requests, numbers found, personal mobiles it contributed, credits and USD
    spent, hit rate and cost per mobile found, over every list enriched so far."""
    config = enrichment.config()
    order = config.base_order
    assumed = {p for p in order if provider_spec(p).usd_is_assumed(config.provider(p).usd_per_credit)}
    chart_path = enrichment.settings().marts_dir / "provider_funnel.png"
    with warehouse(duckdb) as conn:
        rows = rebuild_provider_performance(conn, order)
        chart = funnel_png_file(conn, [FunnelRow(provider=r[0], leads_sent=r[8], found=r[2], mobiles=r[3],
                                                 credits=float(r[4]), usd=float(r[5]), usd_assumed=r[0] in assumed)
                                       for r in rows], chart_path)
    table = markdown_table(
        ["provider", "calls", "found", "mobiles", "credits", "USD", "hit rate", "USD / mobile", "credits / mobile"],
        [(r[0], r[1], r[2], r[3], f"{r[4]:g}", f"{r[5]:.2f}{' *' if r[0] in assumed else ''}",
          None if r[6] is None else f"{r[6]:.1%}", None if r[10] is None else f"{r[10]:.2f}",
          None if r[7] is None else f"{r[7]:.2f}") for r in rows])
    if assumed:
        table += ("\n\n\\* USD at an assumed price per credit (the vendor publishes none): set "
                  "providers.<name>.usd_per_credit to your plan's price.")
    context.log.info("Provider performance:\n" + table)
    return MaterializeResult(metadata={
        "dagster/row_count": len(rows), "performance": MetadataValue.md(table),
        "funnel_chart": MetadataValue.md(f"![waterfall funnel](data:image/png;base64,{b64encode(chart).decode()})"),
        "funnel_chart_path": MetadataValue.path(str(chart_path)),
        **{f"cost_per_mobile_{r[0]}": (None if r[7] is None else round(float(r[7]), 4)) for r in rows},
        **{f"usd_per_mobile_{r[0]}": (None if r[10] is None else round(float(r[10]), 4)) for r in rows},
        "usd_price_assumed": ", ".join(sorted(assumed))})


@asset(
    deps=["contacts", "contact_phones", "credit_ledger", "provider_performance"], group_name=MARTS_GROUP,
    kinds={PARQUET_KIND}, owners=OWNERS, pool=DUCKDB_POOL,
)
def published_marts(context: AssetExecutionContext, enrichment: EnrichmentSettings, duckdb: DuckDBResource
                    ) -> MaterializeResult:
    """contacts, contact_phones, credit_ledger and provider_performance as Parquet files under data/marts/,
    rewritten whenever a table changed. Notebooks, BI tools and scripts can read them at any time without touching the
    DuckDB file's lock (which the pipeline holds while it writes)."""
    marts_dir = enrichment.settings().marts_dir
    with warehouse(duckdb) as conn:
        counts, written = publish_marts_if_changed(conn, marts_dir)
    if not written:
        context.log.info("Marts unchanged since their last publication: files kept")
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(marts_dir)), "files_written": written,
        **{f"rows_{t}": n for t, n in counts.items()}})
