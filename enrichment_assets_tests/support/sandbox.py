"""A sandbox in the test process that records every vendor request and the credits it charged.

``SandboxServer`` on a free port, with a small ASGI middleware that records every vendor request the
sandbox receives (provider, request content, HTTP status) and, through a context variable, the credits the
sandbox charged for it, so a test can compare what the vendors billed, request by request, with what the
pipeline's ledger says.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import pytest

from enrichment_assets.sandbox.app import VENDOR_PATHS
from enrichment_assets.sandbox.config import SandboxConfig
from enrichment_assets.sandbox.rate_limit import RateLimiter
from enrichment_assets.sandbox.server import SandboxServer
from enrichment_assets.sandbox.state import SandboxState
from enrichment_assets.sandbox.world import World
from enrichment_assets.settings import PROVIDERS

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

    def __init__(self, app, log: list[SandboxRequest], lock: threading.Lock) -> None:
        self.app = app
        self.log = log
        self.lock = lock

    async def __call__(self, scope, receive, send):
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

        async def replay():
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

        async def recording_send(message):
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

    def tick_rate_limit(self, vendor: str, seconds_per_request: float) -> None:
        """Give the vendor's rate limiter a clock that moves ``seconds_per_request`` per request it sees.

        The vendor then sees requests arrive at that pace however fast or slow this machine sends them: which
        requests get a 429 depends on their count, not on timing, so a loaded machine changes nothing.
        """
        ticks = [0.0]

        def clock() -> float:
            ticks[0] += seconds_per_request
            return ticks[0]

        state = self.state.vendor(vendor)
        state.limiter = RateLimiter(state.config.rate_limit, clock=clock)

    def snapshot(self) -> list[SandboxRequest]:
        with self._lock:
            return list(self.requests)

    def in_flight(self) -> int:
        return sum(1 for r in self.snapshot() if not r.done)

    def in_flight_across(self, kill: Callable[[], None], grace: float = 0.25) -> list[SandboxRequest]:
        """Call ``kill`` (which kills a client) and return the requests on the wire when it struck.

        Those not answered when the kill began, and those the sandbox read up to ``grace`` seconds after it
        ended: a request the client wrote just before it died is read (and answered, and charged) after. A
        snapshot taken before the kill would miss the requests sent between the snapshot and the kill.
        """
        began = time.monotonic()
        kill()
        ended = time.monotonic()
        time.sleep(grace)
        return [r for r in self.snapshot()
                if r.started <= ended + grace and (r.finished is None or r.finished >= began)]

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


def fast_sandbox_config(p50: float = 0.0, p95: float = 0.0, *, limits: bool = True,
                        **vendor_overrides: dict[str, Any]) -> SandboxConfig:
    """Sandbox config for tests: optional latency, Crustdata's 15/minute window lifted so runs stay short.

    ``limits=False`` turns every vendor's rate limit off (for tests that are not about pacing; pair it with
    ``write_config(fast_clients=True)``).
    """
    patch: dict[str, Any] = {"vendors": {}}
    for name in PROVIDERS:
        patch["vendors"][name] = {"latency": {"p50": p50, "p95": p95 if p95 else p50}}
        if not limits:
            patch["vendors"][name]["rate_limit"] = {"enabled": False}
    if limits:
        patch["vendors"]["crustdata"]["rate_limit"] = {"window_limit": 1000, "window_seconds": 60}
    for name, extra in vendor_overrides.items():
        patch["vendors"][name] = _merge(patch["vendors"][name], extra)
    return SandboxConfig.model_validate(patch)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
