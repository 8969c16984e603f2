"""Request by request: what the sandbox answered and charged against what the ledger recorded."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enrichment_assets.config import load_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.settings import PROVIDERS
from enrichment_assets.vendors import CLIENTS
from enrichment_assets.vendors.base import canonical_json, request_fingerprint
from enrichment_assets_tests.support.sandbox import RecordingSandbox, SandboxRequest
from enrichment_assets_tests.support.tables import leads_from_db, query


def _single_key(provider: str, params: dict[str, Any] | None, body: Any) -> str:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("record_id", "custom")}
    return canonical_json({"provider": provider, "params": params or {}, "body": body})


def sandbox_request_fingerprints(config_path: Path, leads: Iterable[Lead]) -> dict[str, str]:
    """Map "request as the sandbox sees it" -> the product's request fingerprint, for single-lead vendors.

    Built with the product's own clients (``request_identity`` + ``build_request``) over the stored leads.
    """
    config = load_config(config_path)
    clients = {p: CLIENTS[p](config.provider(p), "test-key-0000", "http://127.0.0.1:9") for p in PROVIDERS
               if p != "crustdata"}
    out: dict[str, str] = {}
    for lead in leads:
        for provider, client in clients.items():
            if client.ineligible_reason(lead) is not None:
                continue
            identity = client.request_identity(lead)
            fp = client.fingerprint(lead)
            request = client.build_request(lead, identity, fp)
            out[_single_key(provider, request.params, request.json)] = fp
    return out


def crustdata_fingerprints(config_path: Path, body: Any) -> list[str]:
    config = load_config(config_path)
    client = CLIENTS["crustdata"](config.provider("crustdata"), "test-key-0000", "http://127.0.0.1:9")
    fps: list[str] = []
    if isinstance(body, dict):
        for id_type in ("professional_network_profile_urls", "business_emails"):
            for value in body.get(id_type) or []:
                fps.append(request_fingerprint("crustdata", client.endpoint, client._identity(id_type, value)))
    return list(dict.fromkeys(fps))


def fingerprints_of(entry: SandboxRequest, mapping: dict[str, str], config_path: Path) -> list[str]:
    if entry.provider == "crustdata":
        return crustdata_fingerprints(config_path, entry.body)
    fp = mapping.get(_single_key(entry.provider, entry.params if entry.method == "GET" else None,
                                 entry.body if entry.method != "GET" else None))
    return [fp] if fp else []


@dataclass
class FingerprintAccount:
    """Per request fingerprint: what the sandbox answered and charged vs what the ledger recorded."""

    sandbox_answers: int = 0        # 200 answers the sandbox charged for (0-credit answers included)
    sandbox_credits: float = 0.0
    ledger_paid: int = 0            # ledger rows with outcome found / not_found
    ledger_unknown: int = 0
    ledger_credits: float = 0.0
    providers: set[str] = field(default_factory=set)


def account_by_fingerprint(db: str | Path, sandbox: RecordingSandbox, config_path: Path,
                           list_id: str | None = None) -> dict[str, FingerprintAccount]:
    mapping = sandbox_request_fingerprints(config_path, leads_from_db(db, list_id))
    accounts: dict[str, FingerprintAccount] = defaultdict(FingerprintAccount)
    unmapped = []
    for entry in sandbox.snapshot():
        if not entry.charged:
            continue
        fps = fingerprints_of(entry, mapping, config_path)
        if not fps:
            unmapped.append(entry)
            continue
        if entry.provider == "crustdata":
            # A batch is charged as a whole: attribute it to the batch's first identifier, count each once.
            for fp in fps:
                accounts[fp].sandbox_answers += 1
                accounts[fp].providers.add("crustdata")
            accounts[fps[0]].sandbox_credits += entry.credits
        else:
            accounts[fps[0]].sandbox_answers += 1
            accounts[fps[0]].sandbox_credits += entry.credits
            accounts[fps[0]].providers.add(entry.provider)
    assert not unmapped, f"{len(unmapped)} charged sandbox requests match no lead's request: {unmapped[:2]}"
    for outcome, credits, fps, provider in query(
            db, "SELECT outcome, credits, request_fingerprints, provider FROM credit_ledger"):
        fps = list(fps or [])
        if not fps:
            continue
        if outcome in ("found", "not_found"):
            for fp in fps:
                accounts[fp].ledger_paid += 1
                accounts[fp].providers.add(provider)
            accounts[fps[0]].ledger_credits += credits
        elif outcome == "unknown":
            for fp in fps:
                accounts[fp].ledger_unknown += 1
                accounts[fp].providers.add(provider)
    return dict(accounts)


def duplicates(values: Iterable[str]) -> dict[str, int]:
    return {k: n for k, n in Counter(values).items() if n > 1}
