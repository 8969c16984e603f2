"""Fill the response store for a lead list without HTTP (for benchmarks of the local work at 1M leads).

For each lead, the providers are walked exactly as ``WaterfallEngine`` does (waterfall order,
ineligible leads skipped, stop at the first provider whose numbers meet ``stop_when``), the request
fingerprint is the engine's (``vendors.base.request_fingerprint`` of each client's
``request_identity``), and the answer is the sandbox's own: the client's request goes through the
sandbox vendor's ``parse`` and ``lookup`` in process (no latency, no rate limit, no charge) and
back through the client's response parser. The result lands in ``ResponseStore`` as the engine
would have stored it, so a later ``enrich run`` of the same list answers every request from the store.

    python benchmarks/_prefill.py LEADS.csv STORE.sqlite --list NAME --world-size N [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, staged_leads

CHUNK = 20_000


async def prefill(leads_path: Path, store_path: Path, list_id: str, world_size: int, seed: int,
                  config_path: Path) -> dict:
    from starlette.requests import Request as StarletteRequest

    from enrichment_assets.config import load_config
    from enrichment_assets.phones.parse import region_hints
    from enrichment_assets.sandbox.app import VENDOR_APIS
    from enrichment_assets.sandbox.config import SandboxConfig
    from enrichment_assets.sandbox.state import SandboxState
    from enrichment_assets.sandbox.vendor_api import Ctx
    from enrichment_assets.storage.response_store import ResponseStore, StoredResponse
    from enrichment_assets.vendors import CLIENTS
    from enrichment_assets.vendors.base import CallStatus, request_fingerprint
    from enrichment_assets.vendors.exchange import Exchange
    from enrichment_assets.waterfall.stop_rule import meets_stop_rule

    config = load_config(config_path)
    state = SandboxState(SandboxConfig(seed=seed, world_size=world_size))
    apis = {name: cls(state) for name, cls in VENDOR_APIS.items()}
    order = config.active_order
    clients = {p: CLIENTS[p](config.provider(p), "sandbox-key", "http://prefill.invalid") for p in order}
    now = datetime.now(UTC)
    stop_when = config.waterfall.stop_when

    def scope(method: str, path: str, params: dict | None, headers: dict[str, str]) -> dict:
        return {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                "query_string": urlencode(params or {}).encode(), "root_path": "",
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                "scheme": "http", "server": ("prefill", 80), "client": ("127.0.0.1", 1)}

    async def answer(provider: str, lead, fp: str):
        client = clients[provider]
        headers = {**client._base_headers(), "content-type": "application/json"}
        if provider == "crustdata":
            kind, value = client.identifier(lead)
            method, params, body = "POST", None, {kind: [value], "fields": client.fields}
        else:
            request = client.build_request(lead, client.request_identity(lead), fp)
            method, params, body = request.method, request.params, request.json
        raw = json.dumps(body).encode() if body is not None else b""

        async def receive() -> dict:
            return {"type": "http.request", "body": raw, "more_body": False}

        api = apis[provider]
        ctx = Ctx("prefill", time.perf_counter())
        parsed = await api.parse(StarletteRequest(scope(method, client.endpoint, params, headers), receive), ctx)
        outcome = api.lookup(parsed, state.vendor(provider), ctx)
        exchange = Exchange(attempt=None, status_code=outcome.status, headers=httpx.Headers(), body=outcome.body)
        if provider == "crustdata":
            result = client._element_result(exchange, [], outcome.body[0])
            phones, credits, matched = result.phones, None, result.matched
            status = result.status
        elif provider == "enrichlayer" and outcome.status == 404:
            phones, credits, matched, status = [], None, None, CallStatus.NOT_FOUND
        else:
            phones, credits = client.parse_success(outcome.body, exchange)
            matched = None
            status = CallStatus.FOUND if phones else CallStatus.NOT_FOUND
        stored = StoredResponse(request_fingerprint=fp, provider=provider, status=status.value,
                                phones=[(p.number, p.claimed_type) for p in phones], raw=client._scrub(outcome.body),
                                http_status=outcome.status, vendor_credits=credits, matched=matched, received_at=now)
        return stored, phones

    seen: dict[str, list] = {}
    pending: list = []
    counts = dict.fromkeys(order, 0)
    leads = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="prefill-") as tmp, ResponseStore(store_path) as store:
        for lead in staged_leads(leads_path, list_id, Path(tmp)):
            leads += 1
            hints = region_hints(lead.country, lead.domain)
            for provider in order:
                client = clients[provider]
                if client.ineligible_reason(lead) is not None:
                    continue
                fp = request_fingerprint(provider, client.endpoint, client.request_identity(lead))
                phones = seen.get(fp)
                if phones is None:
                    stored, phones = await answer(provider, lead, fp)
                    seen[fp] = phones
                    pending.append(stored)
                    counts[provider] += 1
                    if len(pending) >= CHUNK:
                        store.record_outcome([], pending)
                        pending = []
                if meets_stop_rule(stop_when, phones, hints):
                    break
        if pending:
            store.record_outcome([], pending)
    return {"leads": leads, "responses": counts, "total_responses": sum(counts.values()),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("leads", type=Path)
    parser.add_argument("store", type=Path)
    parser.add_argument("--list", required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--config", type=Path, default=ROOT / "enrichment.yaml")
    args = parser.parse_args()
    out = asyncio.run(prefill(args.leads, args.store, args.list, args.world_size, args.seed, args.config))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
