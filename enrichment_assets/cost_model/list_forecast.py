"""The forecast of one lead list as a run would walk it: which leads it walks, in which order, with which
providers, against the stored answers; no request is sent (the clients are built, never opened)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.cost_model.forecast import Forecast, forecast_leads, fresh_answers
from enrichment_assets.cost_model.order import AdaptiveOrder
from enrichment_assets.cost_model.rates import HitRateModel
from enrichment_assets.leads.model import Lead
from enrichment_assets.storage.state_store import open_state_store, state_exists
from enrichment_assets.storage.store_crypto import PLAIN, StoreCipher
from enrichment_assets.storage.walks import kept_record_ids, leads_to_walk
from enrichment_assets.vendors.client import VendorClient
from enrichment_assets.vendors.registry import provider_spec
from enrichment_assets.waterfall.suppression import Suppression
from enrichment_assets.waterfall.walk_key import walk_key

#: The key offline clients are built with: they are never opened, so it never leaves the process.
_OFFLINE_KEY = "offline-forecast-sends-nothing"


def providers_with_clients(config: EnrichmentConfig, mode: str,
                           environ: Mapping[str, str] | None = None) -> list[str]:
    """The enabled providers a run would have a client for: in live mode, only those with an API key."""
    environ = os.environ if environ is None else environ
    if mode != "live":
        return list(config.active_order)
    return [p for p in config.active_order if environ.get(provider_spec(p).api_key_env)]


def offline_clients(config: EnrichmentConfig, providers: list[str]) -> dict[str, VendorClient]:
    """Vendor clients for their view of a lead (eligibility, request identity); never opened, so they send
    nothing."""
    return {p: provider_spec(p).client(config.provider(p), _OFFLINE_KEY, "http://127.0.0.1:9") for p in providers}


def adaptive_order(config: EnrichmentConfig, model: HitRateModel, providers: list[str]) -> AdaptiveOrder | None:
    """The run's per-lead order under ``waterfall.order: adaptive``; None for a fixed order."""
    return AdaptiveOrder(model, config, providers) if config.waterfall.adaptive else None


def leads_from_parquet(path: Path, list_id: str, skip: set[str] | None = None) -> Iterator[Lead]:
    """The leads of a Parquet file of lead columns (first row per record_id), minus ``skip``."""
    seen: set[str] = set(skip or ())
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        cols = batch.to_pydict()
        for i in range(batch.num_rows):
            record_id = cols["record_id"][i]
            if record_id in seen:
                continue
            seen.add(record_id)
            yield Lead(list_id=list_id, record_id=record_id, first_name=cols["first_name"][i],
                       last_name=cols["last_name"][i], company=cols["company"][i], domain=cols["domain"][i],
                       email=cols["email"][i], linkedin_url=cols["linkedin_url"][i], country=cols["country"][i],
                       fingerprint=cols["fingerprint"][i])


@dataclass(frozen=True)
class ListForecastInputs:
    config: EnrichmentConfig
    model: HitRateModel
    mode: str
    suppression: Suppression
    store_path: Path
    environ: Mapping[str, str] | None = None
    #: The response store's cipher (``storage/store_crypto.py``): its key when the store is encrypted.
    cipher: StoreCipher = PLAIN
    #: ``ENRICHMENT_STATE_URL``: stored answers are read from PostgreSQL instead of ``store_path``.
    state_url: str | None = None


def _forecast(inputs: ListForecastInputs, leads: Iterator[Lead], kept: int, now: datetime) -> Forecast:
    config = inputs.config
    providers = providers_with_clients(config, inputs.mode, inputs.environ)
    clients = offline_clients(config, providers)
    order = adaptive_order(config, inputs.model, providers)
    common = {
        "config": config,
        "model": inputs.model,
        "clients": clients,
        "order_for": order.order_for if order else None,
        "suppression": inputs.suppression,
        "kept": kept,
    }
    if not state_exists(inputs.store_path, inputs.state_url):  # no history: nothing stored to answer from
        return forecast_leads(leads, **common)
    with open_state_store(inputs.store_path, inputs.state_url, inputs.cipher) as store:
        fresh = fresh_answers(store, timedelta(days=config.cache_ttl_days), now)
        return forecast_leads(leads, fresh=fresh, **common)


def _walk_key(inputs: ListForecastInputs) -> str:
    providers = providers_with_clients(inputs.config, inputs.mode, inputs.environ)
    return walk_key(inputs.config, providers, providers, inputs.suppression, inputs.mode)


def forecast_loaded_list(conn: duckdb.DuckDBPyConnection, inputs: ListForecastInputs, list_id: str,
                         now: datetime | None = None) -> Forecast:
    """Forecast a whole run of a list already in ``raw_leads`` (the leads its last walk still covers are free)."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=inputs.config.cache_ttl_days)
    total = conn.execute("SELECT count(*) FROM raw_leads WHERE list_id = ?", [list_id]).fetchone()[0]
    with tempfile.TemporaryDirectory(prefix="forecast-") as tmp:
        path = Path(tmp) / "leads.parquet"
        walking = leads_to_walk(conn, list_id, _walk_key(inputs), cutoff, path)
        forecast = _forecast(inputs, leads_from_parquet(path, list_id), total - walking, now)
    forecast.leads += total - walking
    return forecast


def forecast_staged_file(conn: duckdb.DuckDBPyConnection | None, inputs: ListForecastInputs, list_id: str,
                         staged: Path, now: datetime | None = None) -> Forecast:
    """Forecast a run of a lead file staged but not loaded (``enrich estimate``); ``conn`` None: no history."""
    now = now or datetime.now(UTC)
    kept: set[str] = set()
    if conn is not None:
        cutoff = now - timedelta(days=inputs.config.cache_ttl_days)
        kept = kept_record_ids(conn, list_id, _walk_key(inputs), cutoff, staged)
    forecast = _forecast(inputs, leads_from_parquet(staged, list_id, skip=kept), len(kept), now)
    forecast.leads += len(kept)
    return forecast
