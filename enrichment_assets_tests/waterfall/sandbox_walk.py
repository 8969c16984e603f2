"""Walk leads through the real waterfall engine and the real vendor clients, against a sandbox over HTTP.

What the tests of this package compare: the rows and ledger the engine wrote, and what the sandbox (or a
misbehaving server standing in for a vendor) says it was asked and charged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrichment_assets.config import EnrichmentConfig, parse_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.sandbox.world import Person
from enrichment_assets.storage.response_store import AttemptRow, ResponseStore
from enrichment_assets.vendors.registry import PROVIDER_NAMES, provider_spec
from enrichment_assets.waterfall.engine import WaterfallEngine

KEY = "test-key-0000"


class Rows:
    def __init__(self) -> None:
        self.rows: list = []

    def add(self, row) -> None:
        self.rows.append(row)


@dataclass
class Walk:
    rows: list
    attempts: list[AttemptRow]
    clients: dict[str, Any]

    def rows_of(self, provider: str) -> list:
        return [r for r in self.rows if r.provider == provider]

    def booked(self, provider: str) -> float:
        return sum(a.credits or 0.0 for a in self.attempts if a.provider == provider)


def only(provider: str, **settings: Any) -> dict:
    """A config that walks ``provider`` alone, fast (the sandbox's limits are the tests' business)."""
    providers: dict[str, dict] = {p: {"enabled": False} for p in PROVIDER_NAMES if p != provider}
    providers[provider] = {"rate_limit_per_second": 1000, "burst": 100, **settings}
    return {"waterfall": {"order": [provider], "stop_when": "never"}, "providers": providers}


def lead_of(person: Person, record_id: str, list_id: str = "l1", **overrides: Any) -> Lead:
    fields = {"first_name": person.first_name, "last_name": person.last_name, "company": person.company,
                  "domain": person.domain, "email": person.work_email, "linkedin_url": person.linkedin_url,
                  "country": person.country}
    fields.update(overrides)
    return Lead(list_id, record_id, **fields)


def walk(tmp_path: Path, base_url: str, config: dict | EnrichmentConfig, leads: Sequence[Lead], *,
         client_options: dict[str, Any] | None = None, run_id: str = "run1",
         engine_options: dict[str, Any] | None = None,
         on_clients: Callable[[dict[str, Any]], None] | None = None) -> Walk:
    """One run of ``leads`` through the engine with real clients at ``base_url``; the store is ``tmp_path``'s."""
    parsed = config if isinstance(config, EnrichmentConfig) else parse_config(config)
    clients: dict[str, Any] = {}

    def factory(name: str, journal):
        clients[name] = provider_spec(name).client(parsed.provider(name), KEY, base_url, journal,
                                                   **(client_options or {}))
        return clients[name]

    with ResponseStore(tmp_path / "store.sqlite") as store:
        engine = WaterfallEngine(parsed, factory, store, run_id=run_id, list_id=leads[0].list_id if leads else "l1",
                                 **(engine_options or {}))
        if on_clients is not None:
            on_clients(clients)
        sink = Rows()

        async def go() -> None:
            try:
                await engine.run(list(leads), sink)
            finally:
                for client in clients.values():
                    await client.aclose()

        asyncio.run(go())
        return Walk(sink.rows, store.attempts(run_id=run_id), clients)
