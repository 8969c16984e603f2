"""Building the pooled ``httpx.AsyncClient`` a vendor client uses, with a selectable transport.

httpx stays the API everywhere; what moves the bytes is chosen here:

- ``"aiohttp"``: ``httpx_aiohttp.AiohttpTransport`` (aiohttp's connection pool and parser);
- ``"httpx"``: httpx's own transport (httpcore).

The default is picked by ``benchmarks/transport_overhead.py`` (results in
``benchmarks/results/transport_overhead.json``): on this 2-core machine, with 64
requests in flight, the aiohttp transport did several times the requests per
second of stock httpx at a fraction of the client CPU per call (see the
benchmark's output), so the vendors' rate limits, not this process, set the pace.

Two things every paid request needs from the transport, whichever it is:

- **No automatic re-send.** aiohttp sends an idempotent request (a GET: Enrich Layer) a second time, on its
  own, when the server drops the connection after the request went out (``ClientSession._request`` retries
  ``IDEMPOTENT_METHODS`` on ``ServerDisconnectedError`` / ``ClientOSError``). The vendor would bill twice for
  one journal attempt. :func:`_no_resend` (an aiohttp client middleware) turns such a failure into
  :class:`SentRequestLost`, which aiohttp does not retry; the client decides what happens next.
- **Did the request reach the vendor?** A failure before the request was sent (connect error or timeout, no
  pooled connection) cannot have been billed; one after may have been. :func:`tracking_send` records, for the
  request made inside it, whether the transport started writing it (aiohttp's ``on_request_headers_sent``
  trace, httpcore's ``send_request_headers`` trace event). A transport that reports nothing (a mock in tests)
  leaves the answer to the exception type.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import httpx

TransportKind = Literal["aiohttp", "httpx"]
TRANSPORT_KINDS: tuple[str, ...] = ("aiohttp", "httpx")

#: Chosen by the numbers in benchmarks/results/transport_overhead.json.
DEFAULT_TRANSPORT: TransportKind = "aiohttp"

#: How long an idle keep-alive connection is kept in the pool. Below the idle timeout of common servers (uvicorn
#: 5 s, nginx 75 s, AWS ALB 60 s): a connection the server is closing just as a request goes out on it loses the
#: request, and a lost paid request is an ``unknown`` one.
KEEPALIVE_EXPIRY_SECONDS = 4.0


@dataclass(slots=True)
class SendProgress:
    """Whether the request made inside :func:`tracking_send` started to go out on the wire."""

    #: The transport reports its progress (aiohttp and httpcore do; a mock transport does not).
    reported: bool = False
    #: The transport started writing the request: from here on the vendor may have received it.
    sent: bool = False

    async def httpcore_trace(self, event_name: str, info: dict[str, Any]) -> None:
        self.reported = True
        if event_name.endswith("send_request_headers.started"):
            self.sent = True


_PROGRESS: contextvars.ContextVar[SendProgress | None] = contextvars.ContextVar("send_progress", default=None)

#: httpx exceptions raised before anything was sent.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@contextlib.contextmanager
def tracking_send() -> Iterator[SendProgress]:
    """Track the one request made inside the block (``SendProgress.sent`` once it started to go out)."""
    progress = SendProgress()
    token = _PROGRESS.set(progress)
    try:
        yield progress
    finally:
        _PROGRESS.reset(token)


def reached_vendor(progress: SendProgress, exc: BaseException) -> bool:
    """Whether a request that failed with ``exc`` may have reached the vendor (and been billed)."""
    if progress.reported:
        return progress.sent
    # A transport that reports nothing: only a connect-phase error proves the request never left.
    return not isinstance(exc, _NEVER_SENT)


def root_cause(exc: BaseException) -> BaseException:
    """The innermost cause of a (re-raised, mapped) exception: what actually went wrong on the wire."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def pool_limits(max_concurrency: int) -> httpx.Limits:
    """One connection per request in flight, all kept alive between requests."""
    n = max(1, int(max_concurrency))
    return httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS)


class SentRequestLost(aiohttp.ClientConnectionError):
    """The connection failed after the request was sent: aiohttp must not send it again by itself."""


async def _no_resend(request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
    """aiohttp client middleware: a connection lost after sending is never re-sent by aiohttp itself.

    aiohttp retries an idempotent request once on ``ServerDisconnectedError`` / ``ClientOSError``; the same
    failure raised as :class:`SentRequestLost` (neither of those) goes straight to the caller.
    """
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # the connection could not be made: nothing was sent, and aiohttp does not retry it either
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise SentRequestLost(f"{type(exc).__name__}: {exc}") from exc


async def _mark_reported(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    progress = _PROGRESS.get()
    if progress is not None:
        progress.reported = True


async def _mark_sent(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    progress = _PROGRESS.get()
    if progress is not None:
        progress.sent = True


def _aiohttp_session_factory(limits: httpx.Limits) -> Callable[[], aiohttp.ClientSession]:
    """Builds the session lazily (it needs the running loop): pooled, traced, never re-sending."""
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_mark_reported)
    trace.on_request_headers_sent.append(_mark_sent)

    def make_session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=limits.max_connections or 100,
                                         keepalive_timeout=limits.keepalive_expiry,
                                         ssl=httpx.create_ssl_context(trust_env=False))
        return aiohttp.ClientSession(connector=connector, trace_configs=[trace], middlewares=(_no_resend,))

    return make_session


def build_transport(kind: str | None, max_concurrency: int) -> httpx.AsyncBaseTransport:
    """A fresh transport of the given kind (``None`` means :data:`DEFAULT_TRANSPORT`)."""
    kind = kind or DEFAULT_TRANSPORT
    limits = pool_limits(max_concurrency)
    if kind == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport(limits=limits, trust_env=False, client=_aiohttp_session_factory(limits))
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    raise ValueError(f"unknown HTTP transport {kind!r}; choose one of {TRANSPORT_KINDS}")


def build_async_client(
    *,
    base_url: str,
    timeout_seconds: float,
    max_concurrency: int,
    headers: dict[str, str] | None = None,
    transport: str | httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The pooled, keep-alive ``httpx.AsyncClient`` for one vendor.

    ``transport`` is a kind (``"aiohttp"`` / ``"httpx"``; ``None`` for the default) or a ready
    transport instance (``httpx.MockTransport`` in tests).
    """
    if transport is None or isinstance(transport, str):
        transport = build_transport(transport, max_concurrency)
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers or {},
        timeout=httpx.Timeout(timeout_seconds),
        limits=pool_limits(max_concurrency),
        transport=transport,
        trust_env=False,
        follow_redirects=False,
    )
