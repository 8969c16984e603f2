"""Shared machinery of the reliability suite: a recording sandbox, lead files, configs, CLI runs, table reads.

The sandbox runs in the test process (``SandboxServer`` on a free port) and the
real ``enrich`` CLI runs in a subprocess with every ``<V>_BASE_URL`` pointing at
it. A small ASGI middleware records every vendor request the sandbox receives
(provider, request content, HTTP status) and, through a context variable, the
credits the sandbox charged for it, so a test can compare what the vendors
billed, request by request, with what the pipeline's ledger says.
"""

from __future__ import annotations

import contextvars
import csv
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import duckdb
import pytest
import yaml

from enrichment_assets.config import load_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.sandbox.app import VENDOR_PATHS
from enrichment_assets.sandbox.sample_data import sample_people
from enrichment_assets.sandbox.server import SandboxServer
from enrichment_assets.sandbox.state import SandboxConfig, SandboxState
from enrichment_assets.sandbox.world import Person, World
from enrichment_assets.settings import PROVIDERS
from enrichment_assets.vendors import CLIENTS
from enrichment_assets.vendors.base import canonical_json, request_fingerprint
from enrichment_assets_tests.conftest import REPO_ROOT

VENDOR_PREFIXES = ("LEADMAGIC", "ENRICHLAYER", "CRUSTDATA", "LANTERN", "PRONTO")
PATH_TO_VENDOR = {path: vendor for vendor, paths in VENDOR_PATHS.items() for path in paths}

# One world for the whole suite (building it is cheap, but keep it shared).
WORLD = World(7, World.DEFAULT_SIZE)


# --------------------------------------------------------------------------- recording sandbox

_current: contextvars.ContextVar[dict | None] = contextvars.ContextVar("sandbox_request", default=None)


@dataclass
class SandboxRequest:
    """One vendor request as the sandbox saw it."""

    seq: int
    provider: str
    method: str
    path: str
    params: dict[str, str]
    body: Any
    started: float
    status: int | None = None
    charged: bool = False
    credits: int = 0
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.status is not None


class _Recorder:
    """ASGI middleware: buffers the body, records the request, its status and (via ``charge``) its credits."""

    def __init__(self, app, log: list[SandboxRequest], lock: threading.Lock) -> None:  # noqa: ANN001
        self.app = app
        self.log = log
        self.lock = lock

    async def __call__(self, scope, receive, send):  # noqa: ANN001, ANN204
        provider = PATH_TO_VENDOR.get(scope.get("path", "")) if scope["type"] == "http" else None
        if provider is None:
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        replayed = False

        async def replay():  # noqa: ANN202
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        with self.lock:
            entry = SandboxRequest(seq=len(self.log), provider=provider, method=scope["method"], path=scope["path"],
                                   params=params, body=body, started=time.monotonic())
            self.log.append(entry)
        _current.set(entry)  # type: ignore[arg-type]

        async def recording_send(message):  # noqa: ANN001, ANN202
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                entry.finished = time.monotonic()
            await send(message)

        try:
            await self.app(scope, replay, recording_send)
        finally:
            if entry.status is None:
                entry.status = -1
                entry.finished = time.monotonic()


class RecordingSandbox:
    """``SandboxServer`` in this process with every vendor request and charge recorded."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.state = SandboxState(config or SandboxConfig(), world=WORLD)
        self.requests: list[SandboxRequest] = []
        self._lock = threading.Lock()
        original_charge = self.state.charge

        def charge(vendor: str, credits: int) -> bool:
            ok = original_charge(vendor, credits)
            entry = _current.get()
            if ok and entry is not None:
                entry.charged = True
                entry.credits += credits
            return ok

        self.state.charge = charge  # type: ignore[method-assign]
        self.server = SandboxServer(state=self.state)

    def start(self) -> RecordingSandbox:
        import enrichment_assets.sandbox.server as server_module

        with pytest.MonkeyPatch.context() as mp:  # only while this server builds its app
            original = server_module.create_app
            mp.setattr(server_module, "create_app",
                       lambda state: _Recorder(original(state), self.requests, self._lock))
            self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def patch(self, patch: dict[str, Any]) -> None:
        self.state.patch_config(patch)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def snapshot(self) -> list[SandboxRequest]:
        with self._lock:
            return list(self.requests)

    def in_flight(self) -> int:
        return sum(1 for r in self.snapshot() if not r.done)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every request the sandbox received has been answered (a dead client's included)."""
        deadline = time.monotonic() + timeout
        while self.in_flight():
            if time.monotonic() > deadline:
                raise AssertionError(f"sandbox still has {self.in_flight()} requests in flight after {timeout}s")
            time.sleep(0.05)

    def credits_by_provider(self) -> dict[str, float]:
        return {p: float(v["credits_charged"]) for p, v in self.stats()["vendors"].items()}

    def requests_by_provider(self) -> dict[str, int]:
        return {p: int(v["requests"]) for p, v in self.stats()["vendors"].items()}


def fast_sandbox_config(p50: float = 0.0, p95: float = 0.0, **vendor_overrides: dict[str, Any]) -> SandboxConfig:
    """Sandbox config for tests: optional latency, Crustdata's 15/minute window lifted so runs stay short."""
    patch: dict[str, Any] = {"vendors": {}}
    for name in PROVIDERS:
        patch["vendors"][name] = {"latency": {"p50": p50, "p95": p95 if p95 else p50}}
    patch["vendors"]["crustdata"]["rate_limit"] = {"window_limit": 1000, "window_seconds": 60}
    for name, extra in vendor_overrides.items():
        patch["vendors"][name] = _merge(patch["vendors"][name], extra)
    return SandboxConfig.model_validate(patch)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture
def make_sandbox():  # noqa: ANN201
    """Factory fixture: ``make_sandbox(config)`` starts a recording sandbox, stopped after the test."""
    started: list[RecordingSandbox] = []

    def factory(config: SandboxConfig | None = None) -> RecordingSandbox:
        sandbox = RecordingSandbox(config).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()


# --------------------------------------------------------------------------- config and leads

#: Test config: the documented defaults, with Crustdata fast enough for a test (small batches, short linger).
BASE_CONFIG: dict[str, Any] = {
    "waterfall": {"order": ["leadmagic", "pronto", "enrichlayer", "lantern", "crustdata"], "stop_when": "mobile"},
    "cache_ttl_days": 90,
    "providers": {
        "leadmagic": {"pricing": {"per_found": 5}},
        "pronto": {"pricing": {"per_found": 10, "per_email": 1, "per_personal_email": 1}},
        "enrichlayer": {"page_size": 3, "pricing": {"per_number": 1}},
        "lantern": {"pricing": {"per_found": 1}},
        "crustdata": {"rate_limit_per_second": 20, "burst": 5, "max_concurrency": 4, "batch_size": 10,
                      "batch_wait_seconds": 0.2, "fields": ["contact.phone_numbers"],
                      "pricing": {"per_match": 1, "per_field": {"contact.phone_numbers": 2}}},
    },
}


def write_config(path: Path, **provider_overrides: dict[str, Any]) -> Path:
    """Write BASE_CONFIG with per-provider overrides (validated by the product's strict loader)."""
    data = json.loads(json.dumps(BASE_CONFIG))
    for name, extra in provider_overrides.items():
        if name == "waterfall":
            data["waterfall"].update(extra)
        else:
            data["providers"][name] = _merge(data["providers"].get(name, {}), extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load_config(path)  # a typo here is the test's bug: fail loudly now
    return path


LEAD_HEADER = ("record_id", "first_name", "last_name", "company", "website", "email", "linkedin_url", "country")


def lead_row(record_id: str, person: Person) -> list[str]:
    return [record_id, person.first_name, person.last_name, person.company, person.domain, person.work_email,
            person.linkedin_url, person.country]


def write_leads(path: Path, n: int, seed: int = 11, prefix: str = "L") -> list[Person]:
    """A clean CSV of ``n`` sandbox-world people (colleagues included); returns them in file order."""
    people = sample_people(WORLD, n, seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LEAD_HEADER)
        for i, person in enumerate(people):
            writer.writerow(lead_row(f"{prefix}{i + 1:05d}", person))
    return people


# --------------------------------------------------------------------------- CLI

def vendor_env(base_url: str) -> dict[str, str]:
    return {f"{v}_BASE_URL": base_url for v in VENDOR_PREFIXES}


def prepare_env(cli_env: dict[str, str], sandbox: RecordingSandbox, config: Path, **extra: str) -> dict[str, str]:
    env = {**cli_env, **vendor_env(sandbox.base_url), "ENRICHMENT_CONFIG": str(config), **extra}
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def enrich_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "enrichment_assets.cli", *args]


def run_enrich(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(enrich_cmd(*args), env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def start_enrich(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start ``enrich`` in its own process group, output to ``log_path``."""
    handle = log_path.open("wb")
    try:
        return subprocess.Popen(enrich_cmd(*args), env=env, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        handle.close()


def sigkill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of a process started by ``start_enrich`` (only ours)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def no_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" not in text


# --------------------------------------------------------------------------- tables

def query(db: str | Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def response_store_path(db: str | Path) -> Path:
    db = Path(db)
    return db.with_name(db.stem + ".responses.sqlite")


def journal_rows(db: str | Path) -> list[dict[str, Any]]:
    with sqlite3.connect(str(response_store_path(db))) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM attempts ORDER BY rowid")]


def ledger_by_provider(db: str | Path) -> dict[str, dict[str, float]]:
    rows = query(db, "SELECT provider, count(*), coalesce(sum(credits), 0), "
                     "count(*) FILTER (WHERE outcome = 'unknown'), "
                     "coalesce(sum(worst_case_credits) FILTER (WHERE outcome = 'unknown'), 0) "
                     "FROM credit_ledger GROUP BY provider")
    out = {p: {"rows": 0, "credits": 0.0, "unknown": 0, "unknown_worst_case": 0.0} for p in PROVIDERS}
    for provider, n, credits, unknown, worst in rows:
        out[provider] = {"rows": n, "credits": float(credits), "unknown": unknown, "unknown_worst_case": float(worst)}
    return out


def leads_from_db(db: str | Path, list_id: str | None = None) -> list[Lead]:
    sql = ("SELECT list_id, record_id, first_name, last_name, company, domain, email, linkedin_url, country, "
           "fingerprint FROM raw_leads")
    rows = query(db, sql + (" WHERE list_id = ?" if list_id else ""), [list_id] if list_id else [])
    return [Lead(*row) for row in rows]


# --------------------------------------------------------------------------- request fingerprints

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


def jitter(rng: random.Random, low: float, high: float) -> float:
    return rng.uniform(low, high)
