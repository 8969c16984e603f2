"""Building the pooled ``httpx.AsyncClient`` a vendor client uses, with a selectable transport.

httpx stays the API everywhere; what moves the bytes is chosen here:

- ``"aiohttp"``: ``httpx_aiohttp.AiohttpTransport`` (aiohttp's connection pool and parser);
- ``"httpx"``: httpx's own transport (httpcore).

The default is picked by ``benchmarks/transport_overhead.py`` (results in
``benchmarks/results/transport_overhead.json``): on this 2-core machine, with 64
requests in flight, the aiohttp transport did several times the requests per
second of stock httpx at a fraction of the client CPU per call (see the
benchmark's output), so the vendors' rate limits, not this process, set the pace.
"""

from __future__ import annotations

from typing import Literal

import httpx

TransportKind = Literal["aiohttp", "httpx"]
TRANSPORT_KINDS: tuple[str, ...] = ("aiohttp", "httpx")

#: Chosen by the numbers in benchmarks/results/transport_overhead.json.
DEFAULT_TRANSPORT: TransportKind = "aiohttp"

#: How long an idle keep-alive connection is kept in the pool.
KEEPALIVE_EXPIRY_SECONDS = 30.0


def pool_limits(max_concurrency: int) -> httpx.Limits:
    """One connection per request in flight, all kept alive between requests."""
    n = max(1, int(max_concurrency))
    return httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS)


def build_transport(kind: str | None, max_concurrency: int) -> httpx.AsyncBaseTransport:
    """A fresh transport of the given kind (``None`` means :data:`DEFAULT_TRANSPORT`)."""
    kind = kind or DEFAULT_TRANSPORT
    limits = pool_limits(max_concurrency)
    if kind == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport(limits=limits, trust_env=False)
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
