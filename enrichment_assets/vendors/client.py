"""The machinery every vendor client shares: pooling, pace, concurrency, retries, journal.

A vendor module subclasses :class:`VendorClient` (or :class:`~.single_lead.SingleLeadClient`) and supplies the wire
format: request, auth header, success parsing, its own reading of its error codes. Everything here turns
the HTTP outcome into a typed :class:`~enrichment_assets.vendors.base.VendorResult`; nothing a vendor does
raises to the caller (only a failing journal does, on purpose).

Per request, in order: the provider's stop state (out of credits / unavailable) is checked, a concurrency
slot is taken (``asyncio.Semaphore(max_concurrency)``), the client's pace is waited for (any Retry-After
pause, then a rate-limit token: :mod:`.pace`), the stop state is checked again, the attempt is recorded
as sent, and the request goes out under a total deadline of ``timeout_seconds``.

What came back is read once (:class:`~enrichment_assets.vendors.exchange.ExchangeKind`): an answer; a 429; a
failure before the request left (``NOT_SENT``: nothing billed); a failure the vendor documents as free
(``UNBILLED``, :meth:`VendorClient._unbilled_failure`); or a request sent without a usable answer (``UNKNOWN``:
a timeout after sending, a dropped or reset connection, a 5xx or 408, a 2xx that is not JSON), which the vendor
may have billed. Whether and when it is asked again is the :class:`~enrichment_assets.vendors.retry.RetryPolicy`'s
call (an unknown outcome only where a repeat cannot bill twice: :attr:`VendorClient.repeats_billed_once`); retries
release the slot while they wait. Every 2xx body goes to the journal exactly as it arrived before it is parsed, and
a kept answer can be read again later (:meth:`VendorClient.reread`). What a vendor's error means: :mod:`.errors`;
the key and its masking: :mod:`.api_key`; the provider's stop for the rest of the run: :mod:`.provider_stop`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import LedgerOutcome
from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.vendors.api_key import ApiKey
from enrichment_assets.vendors.base import (
    Attempt,
    AttemptJournal,
    CallStatus,
    NullJournal,
    ReceivedAnswer,
    VendorResult,
    new_attempt_id,
    request_fingerprint,
    utcnow,
)
from enrichment_assets.vendors.errors import error_status, is_transient_status, retry_after_seconds, vendor_message
from enrichment_assets.vendors.exchange import CallOutcome, Exchange, ExchangeKind, Request
from enrichment_assets.vendors.http import build_async_client, reached_vendor, root_cause, tracking_send
from enrichment_assets.vendors.pace import AdaptivePace, Sleep
from enrichment_assets.vendors.provider_stop import ProviderStop
from enrichment_assets.vendors.retry import RetryPolicy

logger = logging.getLogger("enrichment_assets.vendors")

_MAX_RAW_TEXT = 10_000

HttpClientFactory = Callable[..., httpx.AsyncClient]


class VendorClient:
    """Base of the vendor clients (see the module docstring for what happens per request)."""

    #: Provider name as used everywhere (config keys, tables).
    name: ClassVar[str]
    #: The vendor's real base URL, used when ``base_url`` is not given.
    default_base_url: ClassVar[str]
    default_endpoint: ClassVar[str]
    method: ClassVar[str] = "POST"
    #: Raised when the reading of the vendor's answers changes: answers kept because an older parser could not
    #: read them are read again (never bought again).
    parser_version: ClassVar[int] = 1

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
            backoff_base, backoff_max, max_rate_limit_retries, max_retry_after: the
                :class:`~enrichment_assets.vendors.retry.RetryPolicy` besides ``config.max_retries``.
            sleep: the coroutine used for every wait (tests pass a recorder).
        """
        if not api_key:
            raise ValueError(f"{self.name}: an API key is required")
        self.config = config
        self._key = ApiKey(api_key)
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.journal: AttemptJournal = journal if journal is not None else NullJournal()
        self._transport = transport
        self._http_client_factory = http_client_factory or build_async_client
        self.retry_policy = RetryPolicy.for_provider(
            config, repeats_billed_once=self.repeats_billed_once, backoff_base=backoff_base,
            backoff_max=backoff_max, max_rate_limit_retries=max_rate_limit_retries, max_retry_after=max_retry_after)
        self._sleep: Sleep = sleep or asyncio.sleep
        self._pace = AdaptivePace(config)
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._client: httpx.AsyncClient | None = None
        self._provider_stop = ProviderStop(self.name)

    @property
    def repeats_billed_once(self) -> bool:
        """Whether the vendor bills a repeated question once (it de-duplicates by an id we send): then a request
        whose outcome is unknown may be asked again at once, and a later answer settles it at no extra cost."""
        return False

    @property
    def current_rate(self) -> float:
        """Requests per second this client currently allows itself (lower than configured after 429s)."""
        return self._pace.rate

    # ------------------------------------------------------------------ config

    @classmethod
    def config_problems(cls, config: ProviderConfig) -> list[str]:
        """What in the provider's config this vendor cannot work with (the config file is refused, naming it)."""
        return []

    # ------------------------------------------------------------------ identity

    @property
    def endpoint(self) -> str:
        return self.default_endpoint

    def __repr__(self) -> str:
        state = f", stopped={self.stopped.value!r}" if self.stopped else ""
        return (f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, "
                f"endpoint={self.endpoint!r}{state})")

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
        return self._provider_stop.status

    def _stop(self, status: CallStatus, reason: str) -> None:
        self._provider_stop.stop(status, reason)

    def _short_circuit(self) -> VendorResult:
        return self._provider_stop.result()

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

    async def __aenter__(self):
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ masking

    def mask(self, text: str) -> str:
        return self._key.mask(text)

    def _scrub(self, value: Any) -> Any:
        return self._key.scrub(value)

    # ------------------------------------------------------------------ one HTTP attempt

    def _unbilled_failure(self, exchange: Exchange) -> bool:
        """Whether the vendor documents this failed answer (a 5xx, a 408) as never billed, so that asking again
        cannot pay twice. Default: no; a vendor module whose document says so widens it (Enrich Layer)."""
        return False

    def _attempt_credits(self, exchange: Exchange) -> float | None:
        """What the vendor says this attempt cost (recorded on the Attempt before ``finished``)."""
        return None

    async def _attempt_once(self, request: Request) -> Exchange:
        if self.stopped is not None:
            return Exchange(attempt=None, kind=ExchangeKind.STOPPED, stopped=self.stopped)
        await self.open()
        assert self._client is not None
        async with self._semaphore:
            await self._pace.wait_turn(self._sleep)
            if self.stopped is not None:
                return Exchange(attempt=None, kind=ExchangeKind.STOPPED, stopped=self.stopped)
            attempt = Attempt(
                attempt_id=new_attempt_id(),
                provider=self.name,
                endpoint=self.endpoint,
                request_fingerprints=list(request.fingerprints),
                sent_at=utcnow(),
            )
            await self.journal.sent(attempt)
            exchange = Exchange(attempt=attempt)
            with tracking_send() as progress:
                try:
                    async with asyncio.timeout(self.config.timeout_seconds):
                        # The body is read inside the deadline: headers and then a stall is a timeout too.
                        response = await self._client.request(
                            request.method, self.endpoint, params=request.params, json=request.json,
                            extensions={"trace": progress.httpcore_trace},
                        )
                except (TimeoutError, httpx.TimeoutException) as exc:
                    self._failed(exchange, reached_vendor(progress, exc),
                                 f"timeout after {self.config.timeout_seconds:g}s ({type(root_cause(exc)).__name__})")
                except httpx.TransportError as exc:
                    cause = root_cause(exc)
                    self._failed(exchange, reached_vendor(progress, exc), f"{type(cause).__name__}: {cause}")
                except Exception as exc:  # noqa: BLE001 - nothing a vendor does may crash the caller
                    exchange.kind = ExchangeKind.DONE
                    exchange.failure = self.mask(f"request failed: {type(exc).__name__}: {exc}")
                else:
                    self._read_response(exchange, response, request)
            attempt.finished_at = utcnow()
            attempt.http_status = exchange.status_code
            attempt.error = self._attempt_error(exchange)
            attempt.outcome = self._attempt_outcome(exchange)
            if exchange.status_code is not None:
                try:
                    attempt.vendor_credits = self._attempt_credits(exchange)
                except Exception:  # noqa: BLE001 - a strange body is dealt with when parsed
                    attempt.vendor_credits = None
            await self.journal.finished(attempt)
        return exchange

    def _failed(self, exchange: Exchange, reached: bool, what: str) -> None:
        """No response: never sent (safe to ask again) or sent with its outcome unknown."""
        exchange.kind = ExchangeKind.UNKNOWN if reached else ExchangeKind.NOT_SENT
        exchange.failure = self.mask(what if reached else f"not sent: {what}")

    def _read_response(self, exchange: Exchange, response: httpx.Response, request: Request) -> None:
        exchange.read(response)
        if exchange.ok and exchange.attempt is not None:
            exchange.attempt.answer = exchange.as_received(request, self._key)
        if response.status_code == 429:
            self._pace.slow_down()
            exchange.kind = ExchangeKind.RATE_LIMITED
            exchange.retry_after = retry_after_seconds(exchange.headers, exchange.json_or_none)
            if exchange.retry_after is not None and not self.retry_policy.retry_after_too_long(exchange):
                self._pace.pause(exchange.retry_after)
        elif is_transient_status(exchange.status_code):
            exchange.kind = ExchangeKind.UNBILLED if self._unbilled_failure(exchange) else ExchangeKind.UNKNOWN
        elif exchange.ok and not exchange.has_json:
            # Truncated or garbled in transit: the vendor did the work and may have billed it; kept as received.
            exchange.kind = ExchangeKind.UNKNOWN
        else:
            exchange.kind = ExchangeKind.DONE
            if exchange.ok:
                self._pace.speed_up()

    def _attempt_error(self, exchange: Exchange) -> str | None:
        if exchange.failure:
            return exchange.failure
        if exchange.ok:
            return None if exchange.has_json else "malformed JSON in response (kept as received)"
        return self._http_error(exchange)

    def _attempt_outcome(self, exchange: Exchange) -> LedgerOutcome | None:
        """The attempt's ledger outcome, by the same reading of the response as its result's status.

        ``None`` for a 2xx JSON answer: its outcome depends on what the answer says, and the caller settles it.
        """
        if exchange.kind is ExchangeKind.RATE_LIMITED:
            return LedgerOutcome.RATE_LIMITED
        if exchange.kind is ExchangeKind.UNKNOWN:
            return LedgerOutcome.UNKNOWN  # sent, no usable answer: may have been billed
        if exchange.ok and exchange.has_json:
            return None
        if exchange.kind is ExchangeKind.DONE and exchange.status_code is not None:
            message = vendor_message(exchange.json_or_none, exchange.text)
            return self._error_status(exchange, message).ledger_outcome
        return LedgerOutcome.ERROR  # never sent, or a failure the vendor documents as free

    def _http_error(self, exchange: Exchange) -> str:
        """``HTTP <code>: <the vendor's message>``, masked."""
        message = vendor_message(exchange.json_or_none, exchange.text)
        return self.mask(f"HTTP {exchange.status_code}" + (f": {message}" if message else ""))

    # ------------------------------------------------------------------ retries

    async def _execute(self, request: Request) -> CallOutcome:
        def before_sleep(last: Exchange, next_attempt: int) -> None:
            pause = last.kind is ExchangeKind.RATE_LIMITED and last.retry_after
            logger.info("%s: %s, retrying (attempt %d)%s", self.name, last.failure or f"HTTP {last.status_code}",
                        next_attempt, f" after {last.retry_after:g}s (Retry-After)" if pause else "")

        history = await self.retry_policy.run(lambda: self._attempt_once(request), sleep=self._sleep,
                                              before_sleep=before_sleep)
        return CallOutcome(final=history[-1], attempts=[e.attempt for e in history if e.attempt is not None])

    # ------------------------------------------------------------------ outcome -> result

    def _error_status(self, exchange: Exchange, message: str) -> CallStatus:
        """Map a final non-2xx, non-retried response to a status; vendors refine this."""
        return error_status(exchange.status_code, exchange.json_or_none, message)

    def _failure_result(self, outcome: CallOutcome) -> VendorResult | None:
        """The result for an outcome that is not a parsable 2xx response; ``None`` when it is one."""
        final, attempts = outcome.final, outcome.attempts
        if final.kind is ExchangeKind.STOPPED:
            assert final.stopped is not None
            return self._provider_stop.result(attempts)
        raw = self._scrub(final.body if final.has_json else (final.text[:_MAX_RAW_TEXT] or None))
        failed = {"provider": self.name, "status": CallStatus.ERROR, "http_status": final.status_code, "raw": raw,
                      "attempts": attempts}
        if final.kind in (ExchangeKind.RATE_LIMITED, ExchangeKind.NOT_SENT, ExchangeKind.UNBILLED,
                          ExchangeKind.UNKNOWN):
            last = final.failure or self._attempt_error(final) or "no response"
            if final.ok and not final.has_json:
                last = f"malformed JSON in HTTP {final.status_code} response (kept as received)"
            why = self.retry_policy.gave_up_because(final, len(attempts))
            status = CallStatus.UNKNOWN if final.kind is ExchangeKind.UNKNOWN else CallStatus.ERROR
            return VendorResult(**{**failed, "status": status}, error=self.mask(f"{why}: {last}"))
        if final.status_code is None:
            return VendorResult(provider=self.name, status=CallStatus.ERROR, error=final.failure or "request failed",
                                attempts=attempts)
        if final.ok:
            return None
        status = self._error_status(final, vendor_message(final.json_or_none, final.text))
        error = self._http_error(final)
        if status.stops_provider:
            self._stop(status, error)
        return VendorResult(**{**failed, "status": status}, error=None if status is CallStatus.NOT_FOUND else error)

    def _unreadable(self, final: Exchange, attempts: list[Attempt], problem: str, raw: Any) -> VendorResult:
        """A paid 2xx answer this client cannot read: kept as received (the journal has it) and read again once
        the parser changes (``parser_version``), never bought again. The lead is pending meanwhile."""
        return VendorResult(
            provider=self.name,
            status=CallStatus.ERROR,
            http_status=final.status_code,
            raw=self._scrub(raw),
            error=self.mask(f"unexpected response shape: {problem} (answer kept, read again after a parser fix "
                            f"and never bought again; parser v{self.parser_version})"),
            attempts=list(attempts),
            unread=True,
        )

    # ------------------------------------------------------------------ kept answers

    def read_answer(self, request: Request, final: Exchange) -> list[VendorResult]:  # pragma: no cover - abstract
        """Read a kept 2xx JSON answer to ``request``: one result per request fingerprint, in order."""
        raise NotImplementedError

    def reread(self, answer: ReceivedAnswer, fingerprints: list[str]) -> list[VendorResult] | None:
        """A kept answer read again with today's parser; ``None`` when it is not JSON (nothing in it to read)."""
        final = Exchange.kept(answer)
        if not final.has_json:
            return None
        return self.read_answer(Request.kept(answer, fingerprints, self.method), final)
