"""A vendor whose real limit is far below the configured one: 429s steer our pace, no lead gives up."""

from __future__ import annotations

import asyncio

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.leads.model import Lead
from enrichment_assets.sandbox.config import SandboxConfig
from enrichment_assets.sandbox.server import SandboxServer
from enrichment_assets.vendors import CLIENTS, CallStatus


def test_429s_slow_the_client_down_and_no_lookup_gives_up() -> None:
    sandbox_config = SandboxConfig(world_size=300)
    sandbox_config.vendors.lantern.rate_limit.requests_per_second = 4
    sandbox_config.vendors.lantern.rate_limit.burst = 4
    config = EnrichmentConfig.model_validate({"providers": {"lantern": {
        "rate_limit_per_second": 20, "max_concurrency": 16, "max_retries": 2}}})
    with SandboxServer(sandbox_config) as sandbox:
        people = sandbox.state.world.people[:40]
        leads = [Lead("pace", f"P{i}", p.first_name, p.last_name, p.company, p.domain, p.work_email,
                      p.linkedin_url, p.country) for i, p in enumerate(people)]

        async def run() -> tuple[list, float]:
            client = CLIENTS["lantern"](config.provider("lantern"), "key", sandbox.base_url, None,
                                         backoff_base=0.05, backoff_max=0.5)
            async with client:
                results = await asyncio.gather(*(client.lookup(lead) for lead in leads))
            return results, client.current_rate

        results, rate = asyncio.run(run())
        stats = sandbox.state.stats()["vendors"]["lantern"]
    assert [r.status for r in results if r.status not in (CallStatus.FOUND, CallStatus.NOT_FOUND)] == []
    assert rate < 20  # it learned
    # Without pacing, requests released at 20/s against a 4/s vendor bounce several times each (about four
    # 429s per lead measured); with it, well under two per lead even on a loaded machine.
    assert stats["rate_limited"] < 2 * len(leads)
