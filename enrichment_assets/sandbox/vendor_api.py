"""The request pipeline every simulated vendor shares: auth, rate limits, faults, charges, balance reads.

Every vendor request goes through the same steps (``VendorAPI.endpoint``); a vendor module
(``enrichlayer_api.py``, ``lantern_api.py``, ...) supplies only its paths, parsing, lookup, prices and formats:

1. count it; authenticate (401 in the vendor's error format, never charged);
2. rate limit (429 with ``Retry-After``, never charged, not counted in the window);
3. parse and validate (400 / 422 in the vendor's format);
4. draw the fault for this request (seeded, one draw per request that got here);
5. wait for a concurrency slot (Pronto: 5), then sleep the drawn latency;
6. injected faults answer here (500 / 503 / hang-then-500; never charged);
7. look the person up in the world (pure), then check the request's worst-case cost against
   the balance (out-of-credits error, nothing charged);
8. a malformed-200 fault answers a truncated body (not charged); otherwise charge the
   documented price and answer;
9. a charged answer may be withheld (``withhold_rate``): billed, then held ``withhold_seconds``
   before it is sent, past the client's timeout (``injected.withheld``, ``withheld_credits``).

A vendor that de-duplicates by an id the caller sends (``repeat_key``; Lantern's ``record_id``) answers a
repeat with the same answer again, not charged (``repeats_not_charged``).

Balance reads (``VendorAPI.balance``, at ``balance_path``) are free, never rate limited or charged, and counted as
``balance_reads``, not ``requests``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from enrichment_assets.sandbox.rate_limit import RateDecision
from enrichment_assets.sandbox.state import SandboxState, VendorState

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: What ``VendorAPI.json_body`` returns for a body that is not JSON.
MISSING = object()


class Reject(Exception):
    """Raised while parsing a request: answer ``response`` (already in the vendor's format)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class Ctx:
    request_id: str
    started: float
    decision: RateDecision | None = None


@dataclass
class Outcome:
    """The answer to a valid request, before charging."""

    body: Any
    credits: int = 0
    found: bool = False
    status: int = 200


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def text_or_none(value: Any) -> str | None:
    """A non-empty stripped string, else None (vendors treat ``""`` and non-strings as absent)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


class VendorAPI:
    """The request pipeline shared by all vendors; subclasses supply auth, parsing, lookup and formats."""

    name = ""
    key_header: str | None = None   # the header carrying the API key; None: "Authorization: Bearer <key>"
    #: The documented paths of the lookup endpoint (all on the sandbox's one origin), and its HTTP method.
    paths: tuple[str, ...] = ()
    method = "POST"
    #: The free balance read (GET), for a vendor that documents one; None: no balance endpoint.
    balance_path: str | None = None

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # -- hooks ---------------------------------------------------------------

    def api_key(self, request: Request) -> str | None:
        if self.key_header is None:
            return bearer_token(request)
        return (request.headers.get(self.key_header) or "").strip() or None

    async def parse(self, request: Request, ctx: Ctx) -> Any:
        raise NotImplementedError

    def lookup(self, parsed: Any, vs: VendorState, ctx: Ctx) -> Outcome:
        """The answer and its price (pure: nothing is charged or counted here)."""
        raise NotImplementedError

    def required_credits(self, parsed: Any, outcome: Outcome, vs: VendorState) -> int:
        """Worst-case cost of the request; a balance below it gets the out-of-credits error."""
        raise NotImplementedError

    def repeat_key(self, parsed: Any) -> str | None:
        """For a vendor that de-duplicates by an id the caller sends: that id (a repeat is answered, not charged)."""
        return None

    def error(self, status: int, code: str, message: str, ctx: Ctx, **extra: Any) -> Response:
        raise NotImplementedError

    def out_of_credits(self, required: int, vs: VendorState, ctx: Ctx) -> Response:
        return self.error(vs.config.out_of_credits_status, "insufficient_credits", "Insufficient credits", ctx,
                          credits_required=required, credits_remaining=vs.balance)

    def rate_limited(self, decision: RateDecision, ctx: Ctx) -> Response:
        return self.error(429, "rate_limited", "Rate limit exceeded", ctx, retry_after=decision.retry_after)

    def extra_headers(self, vs: VendorState, ctx: Ctx, response: Response, charged: int | None) -> None:
        """Headers every response of this vendor carries (rate-limit and credit headers)."""

    def balance_body(self, credits: int) -> Any:
        """The balance endpoint's answer in the vendor's documented shape."""
        return {"credits": credits}

    def balance_unauthorized(self, key: str | None) -> Response:
        """The balance endpoint's 401 (a bad or missing key)."""
        ctx = Ctx(self.state.next_request_id(self.name), time.perf_counter())
        return self.error(401, "unauthorized", "Invalid or missing API key", ctx)

    def balance_headers(self, response: Response, credits: int) -> None:
        """Headers the balance endpoint's answer carries."""

    # -- pipeline --------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        vs = self.state.vendor(self.name)
        counters = vs.counters
        counters["requests"] += 1
        counters["in_flight"] += 1
        counters["max_in_flight"] = max(counters["max_in_flight"], counters["in_flight"])
        ctx = Ctx(self.state.next_request_id(self.name), time.perf_counter())
        charged: int | None = None
        try:
            response, charged = await self._handle(request, vs, ctx)
        finally:
            vs.counters["in_flight"] -= 1
        self.extra_headers(vs, ctx, response, charged)
        with self.state.lock:  # stats() may be copying this dict from another thread
            by_status = vs.counters["by_status"]
            by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
        return response

    @staticmethod
    def key_accepted(key: str | None, vs: VendorState) -> bool:
        """A key is given and, when the sandbox is configured with one, it is that key."""
        expected = vs.config.api_key
        return bool(key) and (expected is None or hmac.compare_digest(key.encode(), expected.encode()))

    async def balance(self, request: Request) -> Response:
        """The vendor's free balance read: its own auth, its documented shape, the sandbox's live balance."""
        state, vendor = self.state, self.name
        vs = state.vendor(vendor)
        with state.lock:
            vs.counters["balance_reads"] += 1
        key = self.api_key(request)
        if not self.key_accepted(key, vs):
            return self.balance_unauthorized(key)
        credits = state.reported_balance(vendor)
        response = JSONResponse(self.balance_body(credits))
        self.balance_headers(response, credits)
        return response

    async def _handle(self, request: Request, vs: VendorState, ctx: Ctx) -> tuple[Response, int | None]:
        if not self.key_accepted(self.api_key(request), vs):
            return self.error(401, "unauthorized", "Invalid or missing API key", ctx), None

        decision = ctx.decision = vs.limiter.check()
        if not decision.allowed:
            vs.counters["rate_limited"] += 1
            response = self.rate_limited(decision, ctx)
            if vs.config.retry_after_header:
                response.headers["Retry-After"] = str(decision.retry_after)
            return response, None

        try:
            parsed = await self.parse(request, ctx)
        except Reject as reject:
            return reject.response, None

        fault = vs.draw_fault()
        gate = vs.gate
        async with gate if gate is not None else contextlib.nullcontext():
            vs.counters["processing"] += 1
            vs.counters["max_processing"] = max(vs.counters["max_processing"], vs.counters["processing"])
            try:
                return await self._process(parsed, vs, ctx, fault)
            finally:
                vs.counters["processing"] -= 1

    async def _process(self, parsed: Any, vs: VendorState, ctx: Ctx,
                       fault: str | None) -> tuple[Response, int | None]:
        delay = vs.draw_latency()
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None:
            vs.counters["injected"][fault] += 1
        if fault == "hang":
            await asyncio.sleep(vs.config.faults.hang_seconds)
            return self.error(500, "internal_error", "Internal server error", ctx), None
        if fault == "error":
            return self.error(500, "internal_error", "Internal server error", ctx), None
        if fault == "unavailable":
            return self.error(503, "unavailable", "Enrichment failed, please retry", ctx), None

        # No await from here on: the balance check and the charge are atomic on the event loop.
        repeat = self.repeat_key(parsed)
        if repeat is not None and repeat in vs.answered:
            vs.counters["repeats_not_charged"] += 1
            body, status = vs.answered[repeat]
            return JSONResponse(body, status), 0
        outcome = self.lookup(parsed, vs, ctx)
        required = self.required_credits(parsed, outcome, vs)
        if not vs.can_afford(required):
            return self.out_of_credits(required, vs, ctx), None
        if fault == "malformed":
            text = json.dumps(outcome.body)
            return Response(text[: max(1, len(text) // 2)], 200, media_type="application/json"), None
        if not self.state.charge(self.name, outcome.credits):  # pragma: no cover - guarded by required
            return self.out_of_credits(outcome.credits, vs, ctx), None
        if outcome.found:
            vs.counters["found"] += 1
        if repeat is not None:
            vs.answered[repeat] = (outcome.body, outcome.status)
        if outcome.credits and vs.draw_withhold():
            vs.counters["injected"]["withheld"] += 1
            vs.counters["withheld_credits"] += outcome.credits
            await asyncio.sleep(vs.config.faults.withhold_seconds)
        return JSONResponse(outcome.body, outcome.status), outcome.credits

    # -- helpers -------------------------------------------------------------------

    @staticmethod
    async def json_body(request: Request) -> Any:
        """The parsed JSON body, or ``MISSING`` when it is not JSON."""
        raw = await request.body()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return MISSING

    @property
    def world(self):
        return self.state.world
