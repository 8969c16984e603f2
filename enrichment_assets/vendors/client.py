"""The machinery every vendor client shares: pooling, rate limit, concurrency, retries, journal.

A vendor module subclasses :class:`VendorClient` and supplies the wire format (request,
auth header, success parsing, its own error bodies). Everything here turns the HTTP
outcome into a typed :class:`~enrichment_assets.vendors.base.VendorResult`; nothing a
vendor does raises to the caller (only a failing journal does, on purpose).

Per request, in order: the provider's stop state (out of credits / unavailable) is
checked, a concurrency slot is taken (``asyncio.Semaphore(max_concurrency)``), any
pause a 429 asked for is waited out (and the client's own pace is cut, then restored step by step
as answers come back without 429s), a rate-limit token is taken (``aiolimiter``: a leaky
bucket of ``effective_burst`` that drips ``rate_limit_per_second``), the stop state is
checked again, the attempt is recorded as sent, and the request goes out under a total
deadline of ``timeout_seconds``. Retries (tenacity) release the slot while they wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_result

from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.leads.model import Lead
from enrichment_assets.masking import mask_sensitive, scrub_secrets
from enrichment_assets.vendors.base import (
    Attempt,
    AttemptJournal,
    CallStatus,
    NullJournal,
    PhoneClaim,
    VendorResult,
    new_attempt_id,
    request_fingerprint,
    utcnow,
)
from enrichment_assets.vendors.http import build_async_client

logger = logging.getLogger("enrichment_assets.vendors")

_NO_JSON = object()
#: A 2xx whose body is not JSON is asked again this many times before it is the record's error.
MALFORMED_RETRIES = 1
_MAX_RAW_TEXT = 10_000
_MAX_MESSAGE = 300

HttpClientFactory = Callable[..., httpx.AsyncClient]
Sleep = Callable[[float], Awaitable[None]]

_CREDIT_PROBLEM = re.compile(
    r"(insufficient|not enough|out of|no remaining|no|exhausted|zero|depleted)\s+(\w+\s+){0,2}credits?"
    r"|credits?\s+(\w+\s+){0,3}(insufficient|exhausted|exceeded|depleted|required|balance|limit|remaining)"
    r"|payment required|insufficient (funds|balance)|top up|add credits|billing",
    re.IGNORECASE,
)


def looks_like_credit_problem(message: str | None) -> bool:
    return bool(message) and bool(_CREDIT_PROBLEM.search(message))


class ShapeError(ValueError):
    """A 2xx response whose JSON is not the shape the vendor documents."""


class _MaskingFilter(logging.Filter):
    """Masks what httpx / httpcore log about requests (URLs carry LinkedIn URLs in Enrich Layer's query)."""

    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging module's business
            return True
        masked = mask_sensitive(message, tuple(self.secrets))
        if masked != message:
            record.msg, record.args = masked, None
        return True


_MASKING_FILTER = _MaskingFilter()


def _install_log_masking(secret: str) -> None:
    _MaskingFilter.secrets.add(secret)
    for name in ("httpx", "httpcore", "httpx_aiohttp", "aiohttp.client"):
        lg = logging.getLogger(name)
        if _MASKING_FILTER not in lg.filters:
            lg.addFilter(_MASKING_FILTER)


class StopProvider(Exception):
    """Raised by a vendor's success parser when a 2xx answer says the provider cannot go on."""

    def __init__(self, status: CallStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Secret:
    """Holds an API key; its repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('•••')"

    __str__ = __repr__


@dataclass(slots=True)
class Request:
    """One HTTP request a client wants to make (relative to ``endpoint``)."""

    method: str
    fingerprints: list[str]
    params: dict[str, str] | None = None
    json: Any = None


@dataclass(slots=True)
class Exchange:
    """What one attempt produced: a response, an error, or nothing (stopped before sending)."""

    attempt: Attempt | None
    #: done | rate_limited | transient | stopped
    kind: str = "done"
    status_code: int | None = None
    headers: httpx.Headers | None = None
    text: str = ""
    body: Any = _NO_JSON
    #: masked description of a transport error / timeout
    failure: str | None = None
    retry_after: float | None = None
    stopped: CallStatus | None = None

    @property
    def has_json(self) -> bool:
        return self.body is not _NO_JSON

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(slots=True)
class CallOutcome:
    final: Exchange
    attempts: list[Attempt] = field(default_factory=list)


def parse_retry_after(value: Any) -> float | None:
    """Seconds from a ``Retry-After`` value: delta seconds (int or float) or an HTTP date."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return max(0.0, float(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def vendor_message(body: Any, text: str = "") -> str:
    """The human part of a vendor's error body, whatever its shape (unmasked: mask before use).

    Understands ``{"error": ...}``, ``{"message": ...}``, Enrich Layer's ``{"description": ...}``, RFC 9457 ``{"errors": [{"title", "detail",
    "code"}]}``, FastAPI ``{"detail": [{"loc", "msg"}]}`` and ``{"detail": "..."}``.
    """
    parts: list[str] = []
    if isinstance(body, dict):
        for key in ("error", "message", "title"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
            elif isinstance(value, dict):
                inner = value.get("message") or value.get("title")
                if isinstance(inner, str):
                    parts.append(inner.strip())
        errors = body.get("errors")
        if isinstance(errors, list):
            for item in errors[:3]:
                if isinstance(item, dict):
                    bits = [str(item[k]) for k in ("title", "detail", "code") if item.get(k)]
                    if bits:
                        parts.append(" - ".join(dict.fromkeys(bits)))
                elif isinstance(item, str):
                    parts.append(item)
        detail = body.get("detail")
        if isinstance(detail, str):
            parts.append(detail)
        elif isinstance(detail, list):
            for item in detail[:3]:
                if isinstance(item, dict):
                    loc = ".".join(str(x) for x in item.get("loc") or [] if x != "body")
                    msg = str(item.get("msg") or item.get("type") or "invalid")
                    parts.append(f"{loc}: {msg}" if loc else msg)
        details = body.get("details")
        if isinstance(details, str) and details.strip():
            parts.append(details.strip())
        description = body.get("description")  # Enrich Layer: {"code", "description", "name"}
        if not parts and isinstance(description, str) and description.strip():
            parts.append(description.strip())
    elif isinstance(body, str):
        parts.append(body)
    if not parts and text:
        parts.append(" ".join(text.split())[:200])
    return "; ".join(dict.fromkeys(parts))


class VendorClient:
    """Base of the five vendor clients (see the module docstring for what happens per request)."""

    #: Provider name as used everywhere (config keys, tables).
    name: ClassVar[str]
    #: The vendor's real base URL, used when ``base_url`` is not given.
    default_base_url: ClassVar[str]
    default_endpoint: ClassVar[str]
    method: ClassVar[str] = "POST"

    def __init__(
        self,
        config: ProviderConfig,
        api_key: str,
        base_url: str | None = None,
        journal: AttemptJournal | None = None,
        *,
        transport: str | httpx.AsyncBaseTransport | None = None,
        http_client_factory: HttpClientFactory | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_rate_limit_retries: int = 10,
        max_retry_after: float = 300.0,
        sleep: Sleep | None = None,
    ) -> None:
        """
        Args:
            config: the provider's validated config (rate limit, concurrency, timeout, retries, ...).
            api_key: the vendor key; never logged, never in ``repr``, errors or ``raw``.
            base_url: where the vendor lives (the sandbox's URL in sandbox mode); default: the real one.
            journal: told synchronously before each HTTP attempt and after it ends.
            transport: ``"aiohttp"`` / ``"httpx"`` / ``None`` (default) or a transport instance
                (``httpx.MockTransport`` in tests).
            http_client_factory: builds the ``httpx.AsyncClient``; default
                :func:`enrichment_assets.vendors.http.build_async_client` (same keyword arguments).
            backoff_base, backoff_max: exponential backoff with jitter for 5xx/timeouts/429s
                without a Retry-After: ``min(max, base * 2**n) + uniform(0, base)`` seconds.
            max_rate_limit_retries: how many 429s one lookup may wait out before it is an ERROR
                (separate from ``config.max_retries``, which bounds 5xx/timeout retries).
            max_retry_after: a 429 asking for a longer wait than this is an ERROR at once.
            sleep: the coroutine used for every wait (tests pass a recorder).
        """
        if not api_key:
            raise ValueError(f"{self.name}: an API key is required")
        self.config = config
        self._key = _Secret(api_key)
        _install_log_masking(api_key)
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.journal: AttemptJournal = journal if journal is not None else NullJournal()
        self._transport = transport
        self._http_client_factory = http_client_factory or build_async_client
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_rate_limit_retries = max_rate_limit_retries
        self.max_retry_after = max_retry_after
        self._sleep: Sleep = sleep or asyncio.sleep
        self._configured_rate = config.rate_limit_per_second
        self._rate = self._configured_rate
        self._rate_cut_at = 0.0
        self._successes_since_change = 0
        self._limiter = self._build_limiter(self._rate)
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._client: httpx.AsyncClient | None = None
        self._stop_status: CallStatus | None = None
        self._stop_reason: str | None = None
        self._pause_until = 0.0
        #: HTTP requests sent by this client (all attempts).
        self.requests_sent = 0

    # ------------------------------------------------------------------ pace

    def _build_limiter(self, rate: float) -> AsyncLimiter:
        burst = max(1, int(round(self.config.effective_burst * rate / self.config.rate_limit_per_second)))
        return AsyncLimiter(burst, burst / rate)

    @property
    def current_rate(self) -> float:
        """Requests per second this client currently allows itself (lower than configured after 429s)."""
        return self._rate

    def _slow_down(self) -> None:
        """A 429 means the vendor's real limit is below ours: cut our pace (at most once a second)."""
        now = time.monotonic()
        if now - self._rate_cut_at < 1.0:
            return
        self._rate_cut_at = now
        self._successes_since_change = 0
        self._rate = max(self._configured_rate / 20, self._rate * 0.6)
        self._limiter = self._build_limiter(self._rate)

    def _speed_up(self) -> None:
        """After about a second's worth of answers without a 429, creep back towards the configured pace."""
        if self._rate >= self._configured_rate:
            return
        self._successes_since_change += 1
        if self._successes_since_change >= max(5.0, self._rate):
            self._successes_since_change = 0
            self._rate = min(self._configured_rate, self._rate * 1.2)
            self._limiter = self._build_limiter(self._rate)

    # ------------------------------------------------------------------ identity

    @property
    def endpoint(self) -> str:
        return self.default_endpoint

    def __repr__(self) -> str:
        state = f", stopped={self._stop_status.value!r}" if self._stop_status else ""
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, endpoint={self.endpoint!r}{state})"

    __str__ = __repr__

    def ineligible_reason(self, lead: Lead) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def request_identity(self, lead: Lead) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def fingerprint(self, lead: Lead) -> str:
        """``request_fingerprint(name, endpoint, request_identity(lead))``."""
        return request_fingerprint(self.name, self.endpoint, self.request_identity(lead))

    # ------------------------------------------------------------------ state

    @property
    def stopped(self) -> CallStatus | None:
        """``OUT_OF_CREDITS`` / ``UNAVAILABLE`` once the provider is unusable for this run, else ``None``."""
        return self._stop_status

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    def _stop(self, status: CallStatus, reason: str) -> None:
        if self._stop_status is not None:
            return
        self._stop_status = status
        self._stop_reason = reason
        if status is CallStatus.UNAVAILABLE:
            logger.error("%s: provider unavailable for this run, no further requests: %s", self.name, reason)
        else:
            logger.warning("%s: out of credits, no further requests this run: %s", self.name, reason)

    def _short_circuit(self) -> VendorResult:
        assert self._stop_status is not None
        return VendorResult(
            provider=self.name,
            status=self._stop_status,
            error=f"not sent: provider {self._stop_status.value} earlier in this run ({self._stop_reason})",
        )

    def _ineligible(self, reason: str) -> VendorResult:
        return VendorResult(provider=self.name, status=CallStatus.ERROR, error=f"ineligible: {reason}")

    # ------------------------------------------------------------------ lifecycle

    def _headers(self) -> dict[str, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _base_headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "User-Agent": "enrichment_assets/0.1", **self._headers()}

    async def open(self) -> None:
        if self._client is None:
            self._client = self._http_client_factory(
                base_url=self.base_url,
                timeout_seconds=self.config.timeout_seconds,
                max_concurrency=self.config.max_concurrency,
                headers=self._base_headers(),
                transport=self._transport,
            )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self):  # noqa: ANN204
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ masking

    def mask(self, text: str) -> str:
        masked = mask_sensitive(text, (self._key.get(),))
        return masked if len(masked) <= _MAX_MESSAGE else masked[: _MAX_MESSAGE - 1] + "…"

    def _scrub(self, value: Any) -> Any:
        return scrub_secrets(value, (self._key.get(),))

    # ------------------------------------------------------------------ one HTTP attempt

    def _retry_after(self, exchange: Exchange) -> float | None:
        """Seconds a 429 asks to wait: ``Retry-After`` header, else body ``retry_after``, else a reset header."""
        headers = exchange.headers or httpx.Headers()
        value = parse_retry_after(headers.get("retry-after"))
        if value is not None:
            return value
        if isinstance(exchange.body, dict):
            value = parse_retry_after(exchange.body.get("retry_after"))
            if value is not None:
                return value
        for name in ("ratelimit-reset", "x-ratelimit-reset"):
            value = parse_retry_after(headers.get(name))
            if value is not None:
                # Some vendors send an epoch timestamp here rather than a delta.
                return max(0.0, value - time.time()) if value > 1_000_000_000 else value
        return None

    def _is_transient(self, exchange: Exchange) -> bool:
        """5xx and 408 are retried; a vendor may widen this."""
        code = exchange.status_code or 0
        return code >= 500 or code == 408

    def _attempt_credits(self, exchange: Exchange) -> float | None:
        """What the vendor says this attempt cost (recorded on the Attempt before ``finished``)."""
        return None

    async def _attempt_once(self, request: Request) -> Exchange:
        if self._stop_status is not None:
            return Exchange(attempt=None, kind="stopped", stopped=self._stop_status)
        await self.open()
        assert self._client is not None
        async with self._semaphore:
            delay = self._pause_until - time.monotonic()
            if delay > 0:
                await self._sleep(delay)
            await self._limiter.acquire()
            if self._stop_status is not None:
                return Exchange(attempt=None, kind="stopped", stopped=self._stop_status)
            attempt = Attempt(
                attempt_id=new_attempt_id(),
                provider=self.name,
                endpoint=self.endpoint,
                request_fingerprints=list(request.fingerprints),
                sent_at=utcnow(),
            )
            self.journal.sent(attempt)
            self.requests_sent += 1
            exchange = Exchange(attempt=attempt)
            try:
                async with asyncio.timeout(self.config.timeout_seconds):
                    response = await self._client.request(
                        request.method, self.endpoint, params=request.params, json=request.json
                    )
            except (TimeoutError, httpx.TimeoutException) as exc:
                exchange.kind = "transient"
                exchange.failure = self.mask(f"timeout after {self.config.timeout_seconds:g}s ({type(exc).__name__})")
            except httpx.TransportError as exc:
                exchange.kind = "transient"
                exchange.failure = self.mask(f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001 - nothing a vendor does may crash the caller
                exchange.kind = "done"
                exchange.failure = self.mask(f"request failed: {type(exc).__name__}: {exc}")
            else:
                self._read_response(exchange, response)
            attempt.finished_at = utcnow()
            attempt.http_status = exchange.status_code
            attempt.error = self._attempt_error(exchange)
            if exchange.status_code is not None:
                try:
                    attempt.vendor_credits = self._attempt_credits(exchange)
                except Exception:  # noqa: BLE001 - a strange body is dealt with when parsed
                    attempt.vendor_credits = None
            self.journal.finished(attempt)
        return exchange

    def _read_response(self, exchange: Exchange, response: httpx.Response) -> None:
        exchange.status_code = response.status_code
        exchange.headers = response.headers
        content = response.content
        exchange.text = content.decode("utf-8", errors="replace")
        if content.strip():
            try:
                exchange.body = json.loads(content)
            except ValueError:
                exchange.body = _NO_JSON
        if response.status_code == 429:
            self._slow_down()
            exchange.kind = "rate_limited"
            exchange.retry_after = self._retry_after(exchange)
            if exchange.retry_after is not None and exchange.retry_after <= self.max_retry_after:
                self._pause_until = max(self._pause_until, time.monotonic() + exchange.retry_after)
        elif self._is_transient(exchange):
            exchange.kind = "transient"
        elif 200 <= response.status_code < 300 and not exchange.has_json:
            # Truncated or garbled in transit: asked once more (the vendor may or may not have charged for
            # it, as it would for the rerun that is the alternative), then it is the record's error.
            exchange.kind = "malformed"
        else:
            exchange.kind = "done"
            if 200 <= response.status_code < 300:
                self._speed_up()

    def _attempt_error(self, exchange: Exchange) -> str | None:
        if exchange.failure:
            return exchange.failure
        if exchange.ok:
            return None if exchange.has_json else "malformed JSON in response"
        message = vendor_message(exchange.body if exchange.has_json else None, exchange.text)
        return self.mask(f"HTTP {exchange.status_code}" + (f": {message}" if message else ""))

    # ------------------------------------------------------------------ retries

    async def _execute(self, request: Request) -> CallOutcome:
        exchanges: list[Exchange] = []

        async def once() -> Exchange:
            exchange = await self._attempt_once(request)
            exchanges.append(exchange)
            return exchange

        def should_retry(exchange: Exchange) -> bool:
            if exchange.kind == "malformed":
                return sum(e.kind == "malformed" for e in exchanges) <= MALFORMED_RETRIES
            return exchange.kind in ("rate_limited", "transient")

        def stop(state: RetryCallState) -> bool:
            last = exchanges[-1]
            if last.kind == "malformed":
                return sum(e.kind == "malformed" for e in exchanges) > MALFORMED_RETRIES
            if last.kind == "rate_limited":
                if last.retry_after is not None and last.retry_after > self.max_retry_after:
                    return True
                return sum(e.kind == "rate_limited" for e in exchanges) > self.max_rate_limit_retries
            return sum(e.kind == "transient" for e in exchanges) > self.config.max_retries

        def wait(state: RetryCallState) -> float:
            last = exchanges[-1]
            if last.kind == "rate_limited" and last.retry_after is not None:
                return 0.0  # the shared pause (set when the 429 arrived) is waited out before the next send
            n = sum(e.kind in ("rate_limited", "transient") for e in exchanges)
            return min(self.backoff_max, self.backoff_base * (2 ** (n - 1))) + random.uniform(0, self.backoff_base)

        def before_sleep(state: RetryCallState) -> None:
            last = exchanges[-1]
            what = last.failure or f"HTTP {last.status_code}"
            logger.info(
                "%s: %s, retrying (attempt %d)%s",
                self.name,
                what,
                len(exchanges) + 1,
                f" after {last.retry_after:g}s (Retry-After)" if last.kind == "rate_limited" and last.retry_after else "",
            )

        retrying = AsyncRetrying(
            retry=retry_if_result(should_retry),
            stop=stop,
            wait=wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
            reraise=True,
        )
        final = await retrying(once)
        return CallOutcome(final=final, attempts=[e.attempt for e in exchanges if e.attempt is not None])

    # ------------------------------------------------------------------ outcome -> result

    def _error_status(self, exchange: Exchange, message: str) -> CallStatus:
        """Map a final non-2xx, non-retryable response to a status; vendors refine this."""
        code = exchange.status_code or 0
        credit_fields = isinstance(exchange.body, dict) and (
            exchange.body.get("credits_required") is not None or exchange.body.get("credits_remaining") is not None
        )
        if code == 402:
            return CallStatus.OUT_OF_CREDITS
        if code == 401:
            return CallStatus.UNAVAILABLE
        if code == 403:
            return CallStatus.OUT_OF_CREDITS if (credit_fields or looks_like_credit_problem(message)) else CallStatus.UNAVAILABLE
        if code in (405, 410):
            return CallStatus.UNAVAILABLE  # the endpoint is gone or wrong: every record would fail the same way
        if code in (400, 422) and (credit_fields or looks_like_credit_problem(message)):
            return CallStatus.OUT_OF_CREDITS
        return CallStatus.ERROR

    def _failure_result(self, outcome: CallOutcome) -> VendorResult | None:
        """The result for an outcome that is not a parsable 2xx response; ``None`` when it is one."""
        final, attempts = outcome.final, outcome.attempts
        if final.kind == "stopped":
            assert final.stopped is not None
            return VendorResult(
                provider=self.name,
                status=final.stopped,
                error=f"not sent: provider {final.stopped.value} earlier in this run ({self._stop_reason})",
                attempts=attempts,
            )
        raw = self._scrub(final.body if final.has_json else (final.text[:_MAX_RAW_TEXT] or None))
        if final.kind in ("rate_limited", "transient"):
            last = final.failure or self._attempt_error(final) or "no response"
            if final.kind == "rate_limited" and final.retry_after is not None and final.retry_after > self.max_retry_after:
                why = f"rate limited, Retry-After {final.retry_after:g}s is over the {self.max_retry_after:g}s cap"
            else:
                why = f"gave up after {len(attempts)} attempts"
            return VendorResult(
                provider=self.name,
                status=CallStatus.ERROR,
                http_status=final.status_code,
                raw=raw,
                error=self.mask(f"{why}: {last}"),
                attempts=attempts,
            )
        if final.status_code is None:
            return VendorResult(
                provider=self.name,
                status=CallStatus.ERROR,
                error=final.failure or "request failed",
                attempts=attempts,
            )
        if final.ok:
            if not final.has_json:
                return VendorResult(
                    provider=self.name,
                    status=CallStatus.ERROR,
                    http_status=final.status_code,
                    raw=raw,
                    error=f"malformed JSON in HTTP {final.status_code} response",
                    attempts=attempts,
                )
            return None
        message = vendor_message(final.body if final.has_json else None, final.text)
        status = self._error_status(final, message)
        error = self.mask(f"HTTP {final.status_code}" + (f": {message}" if message else ""))
        if status.stops_provider:
            self._stop(status, error)
        return VendorResult(
            provider=self.name,
            status=status,
            http_status=final.status_code,
            raw=raw,
            error=None if status is CallStatus.NOT_FOUND else error,
            attempts=attempts,
        )

    def _shape_error(self, outcome: CallOutcome, problem: str, raw: Any) -> VendorResult:
        return VendorResult(
            provider=self.name,
            status=CallStatus.ERROR,
            http_status=outcome.final.status_code,
            raw=self._scrub(raw),
            error=self.mask(f"unexpected response shape: {problem}"),
            attempts=outcome.attempts,
        )


class SingleLeadClient(VendorClient):
    """A vendor that answers one lead per request (all but Crustdata)."""

    def build_request(self, lead: Lead, identity: dict[str, Any], fingerprint: str) -> Request:  # pragma: no cover
        raise NotImplementedError

    def parse_success(self, body: Any, exchange: Exchange) -> tuple[list[PhoneClaim], float | None]:  # pragma: no cover
        """Phones and vendor-reported credits from a 2xx JSON body; raise :class:`ShapeError` on a wrong shape."""
        raise NotImplementedError

    def count_emails(self, body: Any) -> tuple[int, int]:
        """(work emails, personal emails) a 2xx body returned, for vendors that price them."""
        return 0, 0

    async def lookup(self, lead: Lead) -> VendorResult:
        """One lookup: a typed result, never an exception (except from a failing journal or cancellation)."""
        reason = self.ineligible_reason(lead)
        if reason is not None:
            return self._ineligible(reason)
        if self._stop_status is not None:
            return self._short_circuit()
        identity = self.request_identity(lead)
        fingerprint = request_fingerprint(self.name, self.endpoint, identity)
        outcome = await self._execute(self.build_request(lead, identity, fingerprint))
        failed = self._failure_result(outcome)
        if failed is not None:
            return failed
        body = outcome.final.body
        try:
            phones, credits = self.parse_success(body, outcome.final)
        except ShapeError as exc:
            return self._shape_error(outcome, str(exc), body)
        except StopProvider as exc:
            error = self.mask(exc.message)
            self._stop(exc.status, error)
            return VendorResult(
                provider=self.name,
                status=exc.status,
                http_status=outcome.final.status_code,
                raw=self._scrub(body),
                error=error,
                attempts=outcome.attempts,
            )
        emails, personal_emails = self.count_emails(body)
        return VendorResult(
            provider=self.name,
            status=CallStatus.FOUND if phones else CallStatus.NOT_FOUND,
            phones=phones,
            vendor_credits=credits,
            emails_found=emails,
            personal_emails_found=personal_emails,
            http_status=outcome.final.status_code,
            raw=self._scrub(body),
            attempts=outcome.attempts,
        )


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values (a field the lead does not have is not sent)."""
    return {k: v for k, v in values.items() if v is not None}
