"""The waterfall: one multi-asset that yields each provider's results for a lead list."""

import asyncio
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from dagster_duckdb import DuckDBResource

from enrichment_assets.cost_model.forecast import forecast_leads, fresh_answers
from enrichment_assets.cost_model.list_forecast import adaptive_order
from enrichment_assets.dagster_defs.constants import DUCKDB_KIND, OWNERS, PYTHON_KIND, VENDORS_GROUP
from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.previews import Column, identifier, markdown_table, phones, yes
from enrichment_assets.dagster_defs.resources import EnrichmentSettings, warehouse
from enrichment_assets.dagster_defs.run_log import warnings_in_run_log
from enrichment_assets.dagster_defs.table_schemas import table_metadata
from enrichment_assets.dagster_defs.vendor_resources import VENDOR_RESOURCE_KEYS, VendorResource, vendor_resource_key
from enrichment_assets.leads.model import Lead
from enrichment_assets.memory import release_freed_memory
from enrichment_assets.storage.balances import record_readings
from enrichment_assets.storage.namesakes import load_namesakes
from enrichment_assets.storage.results_writer import ParquetResultSink
from enrichment_assets.storage.segment_rates import load_model
from enrichment_assets.storage.walks import leads_to_walk, replace_walked
from enrichment_assets.storage.warehouse import transaction
from enrichment_assets.vendors.balance import BalanceReading, read_balances
from enrichment_assets.vendors.keys import unkeyed_client
from enrichment_assets.vendors.registry import PROVIDER_SPECS, ProviderSpec, provider_spec
from enrichment_assets.waterfall.engine import WaterfallEngine
from enrichment_assets.waterfall.progress import progress_message
from enrichment_assets.waterfall.results import WaterfallStats
from enrichment_assets.waterfall.suppression import load_suppression
from enrichment_assets.waterfall.walk_key import walk_key

#: How often the step logs its progress line: often enough for `enrich run`'s ETA, rare enough that writing the
#: log entry (tens of ms on SQLite event storage) costs the engine's event loop about 1% of its time.
PROGRESS_EVERY_SECONDS = 2.0



def _spec(provider: ProviderSpec) -> AssetSpec:
    return AssetSpec(
        provider.results_table,
        description=(
            f"What {provider.label} returned for each lead of the list that reached it in the waterfall: "
            "the numbers as the vendor gave them, the outcome, and the credits the lookup cost. A lead answered "
            "from the response store (younger than cache_ttl_days) is marked from_cache and costs nothing."
        ),
        deps=["raw_leads"], group_name=VENDORS_GROUP, kinds={DUCKDB_KIND, PYTHON_KIND}, owners=OWNERS,
        partitions_def=lead_lists, skippable=True,
        metadata=table_metadata(provider.results_table),
    )


def iter_leads(path: Path, list_id: str) -> Iterator[Lead]:
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=10_000):
        columns = batch.to_pydict()
        for i in range(batch.num_rows):
            yield Lead(list_id=list_id, record_id=columns["record_id"][i], first_name=columns["first_name"][i],
                       last_name=columns["last_name"][i], company=columns["company"][i],
                       domain=columns["domain"][i], email=columns["email"][i],
                       linkedin_url=columns["linkedin_url"][i], country=columns["country"][i],
                       fingerprint=columns["fingerprint"][i])


def _provider_metadata(provider: str, stats: WaterfallStats, usd_per_credit: float, preview: str) -> dict:
    p = stats.providers.get(provider)
    if p is None:
        return {"skipped": True}
    asked = p.found + max(0, p.leads - p.found - p.ineligible - p.skipped_budget - p.skipped_no_key - p.unavailable
                          - p.errors)
    return {
        "leads": p.leads,
        "calls": p.calls,
        "cache_hits": p.cache_hits,
        "shared_in_flight": p.shared,
        "found": p.found,
        "mobiles": p.mobiles,
        "found_rate": round(p.found / asked, 4) if asked else 0.0,
        "mobile_rate": round(p.mobiles / asked, 4) if asked else 0.0,
        "ineligible": p.ineligible,
        "skipped_budget": p.skipped_budget,
        "skipped_no_key": p.skipped_no_key,
        "errors": p.errors,
        "rate_limited_429": p.rate_limited,
        # Sent and no usable answer: the vendor may have billed them (their leads are pending).
        "unknown_outcomes": p.unknown,
        "uncertain_credits": round(p.uncertain_credits, 4),
        "settled_unknown": p.settled_unknown,
        "kept_answers_read": p.kept_answers_read,
        "credits": round(p.credits, 4),
        "usd": round(p.credits * usd_per_credit, 4),
        "credits_per_mobile": round(p.credits / p.mobiles, 4) if p.mobiles else None,
        "preview": MetadataValue.md(preview),
    }


def _preview(conn, provider: str, list_id: str) -> str:
    rows = conn.execute(
        f"SELECT record_id, outcome, phones, credits, from_cache FROM {provider_spec(provider).results_table} "  # noqa: S608 - names from code, values bound
        "WHERE list_id = ? AND outcome <> 'ineligible' ORDER BY record_id LIMIT 10", [list_id]).fetchall()
    return markdown_table([Column("record_id", identifier), "outcome", Column("phones", phones), "credits",
                           Column("cached", yes)],
                          [(record_id, outcome, numbers, f"{credits:g}", cached)
                           for record_id, outcome, numbers, credits, cached in rows])


@multi_asset(
    specs=[_spec(spec) for spec in PROVIDER_SPECS],
    partitions_def=lead_lists,
    can_subset=True,
    name="waterfall",
    # Dagster refuses resources both as parameters and as keys: with one key per vendor from the registry, all
    # resources are keys, read from context.resources.
    required_resource_keys={"enrichment", "duckdb", *VENDOR_RESOURCE_KEYS},
    description=(
        "Send each lead through the vendors in waterfall order (fixed, or adaptive: per lead, cheapest expected "
        "USD per personal mobile first) until a good mobile is found. Every response is "
        "stored durably the moment it arrives, so nothing is paid for twice. A rerun walks only the leads that "
        "changed, whose answers are older than cache_ttl_days, or that a vendor still owes an answer; the others "
        "keep their rows. Select one provider's results to call only that vendor."
    ),
)
def waterfall(context: AssetExecutionContext):
    enrichment: EnrichmentSettings = context.resources.enrichment
    duckdb: DuckDBResource = context.resources.duckdb
    list_id = context.partition_key
    settings = enrichment.settings()
    config = enrichment.config()
    vendors: dict[str, VendorResource] = {
        spec.name: getattr(context.resources, vendor_resource_key(spec.name)) for spec in PROVIDER_SPECS}
    selected = [spec.name for spec in PROVIDER_SPECS if AssetKey(spec.results_table) in context.selected_asset_keys]
    suppression = load_suppression(settings.suppression_path)
    if len(suppression):
        context.log.info(f"Suppression list: {len(suppression)} entries")

    # Namesakes among every lead held (any list): a vendor that matches by name asks them by a unique identifier.
    with warehouse(duckdb) as conn:
        namesakes = load_namesakes(conn)
    if len(namesakes):
        context.log.info(f"{len(namesakes)} names are shared by several people at one company among the leads held")

    def knowing_namesakes(client):
        if client is not None and hasattr(client, "know_namesakes"):
            client.know_namesakes(namesakes)
        return client

    def client_factory(provider: str, journal):
        spec = provider_spec(provider)
        client = vendors[provider].build_client(spec, config, settings.mode, journal)
        if client is None:
            context.log.warning(f"{provider}: no {spec.api_key_env} in live mode; skipped for this run (the leads "
                                "it could take stay pending until a run with the key)")
        return knowing_namesakes(client)

    walking = 0  # set once the leads to walk are known, before the engine runs

    def unkeyed(provider: str):
        return knowing_namesakes(unkeyed_client(provider_spec(provider), config.provider(provider)))

    def progress(stats: WaterfallStats, done: int) -> None:
        # `enrich run` draws its progress display from this line (waterfall/progress.py parses it back).
        context.log.info(progress_message(stats, done, max(walking, stats.leads)))

    model = None
    if config.waterfall.adaptive or config.max_usd_per_run is not None:
        with warehouse(duckdb) as conn:
            model = load_model(conn, config)
    order = adaptive_order(config, model, config.active_order) if model is not None else None
    try:
        # The vendor library logs "provider unavailable" once per run: the run log shows it too.
        with warnings_in_run_log(context, "enrichment_assets.vendors"), \
                tempfile.TemporaryDirectory(prefix="waterfall-") as tmp, enrichment.response_store() as store:
            engine = WaterfallEngine(config, client_factory, store, run_id=context.run.run_id, list_id=list_id,
                                     call_providers=selected, suppression=suppression, progress=progress,
                                     progress_every_seconds=PROGRESS_EVERY_SECONDS,
                                     order_for=order.order_for if order is not None else None,
                                     unkeyed_client=unkeyed)
            key = walk_key(config, engine.order, engine.call_providers, suppression, settings.mode)
            leads_path = Path(tmp) / "leads.parquet"
            with warehouse(duckdb) as conn:
                total = conn.execute("SELECT count(*) FROM raw_leads WHERE list_id = ?", [list_id]).fetchone()[0]
                answered_after = datetime.now(UTC) - timedelta(days=config.cache_ttl_days)
                walking = leads_to_walk(conn, list_id, key, answered_after, leads_path)
            kept = total - walking
            context.log.info(
                f"{walking} of {total} leads to walk; {kept} unchanged since their last walk (same fields, same "
                "settings, answers younger than cache_ttl_days, nothing pending): their results are kept")
            forecast_md = {}
            if walking and config.max_usd_per_run is not None:
                # The clients are built, not opened: the forecast sends nothing.
                forecast = forecast_leads(
                    iter_leads(leads_path, list_id), config=config, model=model, clients=engine.clients,
                    fresh=fresh_answers(store, timedelta(days=config.cache_ttl_days), datetime.now(UTC)),
                    order_for=order.order_for if order is not None else None, call_providers=engine.call_providers,
                    suppression=suppression, kept=kept)
                forecast_md = forecast.metadata()
                refused = forecast.over_budget(config.max_usd_per_run)
                if refused:
                    context.log.error(refused + "\n" + forecast.markdown())
                    raise Failure(description=refused, metadata={**forecast_md,
                                                                 "forecast": MetadataValue.md(forecast.markdown())})
                context.log.info(f"Forecast ${forecast.usd:,.2f} (up to ${forecast.usd_high:,.2f}) is within "
                                 f"max_usd_per_run ${config.max_usd_per_run:,.2f}")
            sink = ParquetResultSink(Path(tmp), context.run.run_id)
            balances: dict[str, dict[str, BalanceReading]] = {}

            def record(phase: str, readings: dict[str, BalanceReading]) -> None:
                balances[phase] = readings
                with warehouse(duckdb) as conn:
                    record_readings(conn, context.run.run_id, list_id, phase, readings.values())

            async def walk() -> WaterfallStats:
                # Each called vendor's balance, read (free) before its first request and after its last one: the
                # ledger_matches_vendor_balance check compares the drop with what the ledger booked.
                called = {p: c for p, c in engine.clients.items() if p in engine.call_providers}
                paths = {p: config.provider(p).balance_path for p in called}
                record("before", await read_balances(called, paths))
                try:
                    result = await engine.run(iter_leads(leads_path, list_id), sink)
                except Exception:
                    record("after", await read_balances(called, paths))
                    raise
                record("after", await read_balances(called, paths))
                return result

            # Nothing to walk: no vendor client is even opened, no balance read.
            stats = asyncio.run(walk()) if walking else engine.stats
            with warehouse(duckdb) as conn, transaction(conn):
                replace_walked(conn, list_id, key, leads_path, sink.files(selected))
            with warehouse(duckdb) as conn:
                previews = {p: _preview(conn, p, list_id) for p in selected}
    finally:
        release_freed_memory()

    context.log.info(
        f"Waterfall done in {stats.wall_seconds:.1f}s: {stats.leads} leads, {stats.calls} vendor requests, "
        f"{stats.credits:g} credits, {stats.suppressed} suppressed")
    if stats.unknown:
        context.log.warning(
            f"{stats.unknown} request(s) got no usable answer (a timeout after sending, a dropped connection, a "
            f"5xx, an unreadable 2xx): booked 'unknown' in the ledger, up to {stats.uncertain_credits:g} more "
            "credits; their leads are pending and are asked again per each provider's retry_unknown")
    for provider in selected:
        yield MaterializeResult(
            asset_key=provider_spec(provider).results_table,
            metadata={**_provider_metadata(provider, stats, config.provider(provider).usd_per_credit,
                                           previews[provider]),
                      **_balance_metadata(provider, balances),
                      "leads_walked": walking, "leads_kept": kept,
                      "order": "adaptive" if order is not None else "fixed", **forecast_md},
        )


def _balance_metadata(provider: str, balances: dict[str, dict[str, BalanceReading]]) -> dict:
    """The vendor's balance before and after this run's calls, as read (or why it could not be read)."""
    out: dict = {}
    for phase, readings in balances.items():
        reading = readings.get(provider)
        if reading is not None:
            out[f"balance_{phase}"] = reading.credits if reading.credits is not None else (reading.error or "unknown")
            out["balance_source"] = reading.source
    return out

