"""What a vendor says is left on the account: one free balance read (docs/vendors.md, "Credit balances").

The run reads each called vendor's balance before its first request and after its last one; the drop is then
compared with what the ledger booked (``enrichment_assets.reconciliation``). Where the balance lives:

- Enrich Layer ``GET /api/v2/credit-balance`` (its client library reads ``{"credit_balance": n}``);
- Crustdata ``GET /user/credits`` -> ``{"credits": n}`` (may be fractional);
- LeadMagic ``GET /v1/credits`` -> ``{"credits": n, ...}``, and an ``X-Credits-Remaining`` header;
- Lantern and Pronto: no documented balance endpoint (``balance_path`` is empty: "unverifiable").

The path is the provider's ``balance_path`` config key. Answers are read defensively: a shape the documents do
not quote gives no figure (the reading says why), never a guess. Reading never raises: a failed read is a reading
without credits. No retries, no journal: a balance read is free and changes nothing.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from enrichment_assets.vendors.base import as_float, utcnow
from enrichment_assets.vendors.client import VendorClient
from enrichment_assets.vendors.errors import vendor_message

#: Body fields that hold the remaining credits, in the order they are tried (top level, then under ``NESTED``).
BALANCE_FIELDS: tuple[str, ...] = ("credits", "credit_balance", "credits_remaining", "remaining_credits")
#: Objects a balance may be nested in (Crustdata's ``/account/credits`` answers ``{"account": {"credits"}}``).
NESTED: tuple[str, ...] = ("account", "data")
#: A header some vendors put on every answer (LeadMagic): the wallet's credits after the request.
REMAINING_HEADER = "x-credits-remaining"

DEFAULT_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class BalanceReading:
    """One balance read: the credits left, or why there is no figure."""

    provider: str
    read_at: datetime
    #: Credits left on the account; ``None`` when the vendor gave no figure this time.
    credits: float | None
    #: Where the figure came from: ``GET <path>``, ``X-Credits-Remaining header``, or ``none``.
    source: str
    #: Why there is no figure (masked); ``None`` when there is one.
    error: str | None = None


def _number(value: Any) -> float | None:
    number = as_float(value)
    return number if number is not None and math.isfinite(number) else None


def credits_in(body: Any, headers: Mapping[str, str] | None = None) -> tuple[float | None, str | None]:
    """The credits left in a balance answer, and which field said so; ``(None, None)`` for an unknown shape."""
    if isinstance(body, Mapping):
        for scope, where in ((body, ""), *((body.get(n), f"{n}.") for n in NESTED)):
            if not isinstance(scope, Mapping):
                continue
            for name in BALANCE_FIELDS:
                number = _number(scope.get(name))
                if number is not None:
                    return number, f"{where}{name}"
    header = _number((headers or {}).get(REMAINING_HEADER))
    if header is not None:
        return header, "X-Credits-Remaining header"
    return None, None


def _shape(body: Any) -> str:
    if isinstance(body, Mapping):
        return f"an object with keys {sorted(str(k) for k in body)[:8]}"
    return "no JSON" if body is None else f"a JSON {type(body).__name__}"


async def read_balance(client: VendorClient, path: str | None, *, transport: httpx.AsyncBaseTransport | None = None,
                       timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> BalanceReading:
    """Read ``client``'s vendor balance at ``path`` with the client's own base URL and auth headers."""
    name = client.name
    if not path:
        return BalanceReading(name, utcnow(), None, "none",
                              f"{name} documents no balance endpoint; set providers.{name}.balance_path if yours "
                              "has one")
    path = path if path.startswith("/") else "/" + path
    source = f"GET {path}"
    try:
        # The client's own headers carry the key exactly as its requests do; nothing else of it is used.
        headers = client._base_headers()
        async with httpx.AsyncClient(base_url=client.base_url, headers=headers, timeout=timeout_seconds,
                                     transport=transport) as http:
            response = await http.get(path)
    except Exception as exc:  # noqa: BLE001 - a balance read must never break a run
        return BalanceReading(name, utcnow(), None, source, client.mask(f"{type(exc).__name__}: {exc}"))
    read_at = utcnow()
    try:
        body = response.json() if response.content.strip() else None
    except ValueError:
        body = None
    if not response.is_success:
        message = vendor_message(body, response.text)
        return BalanceReading(name, read_at, None, source,
                              client.mask(f"HTTP {response.status_code}" + (f": {message}" if message else "")))
    credits, field = credits_in(body, response.headers)
    if credits is None or field is None:
        return BalanceReading(name, read_at, None, source, f"no balance figure in the answer ({_shape(body)})")
    return BalanceReading(name, read_at, credits, f"{source}, {field}" if field.endswith("header") else source)


async def read_balances(clients: Mapping[str, VendorClient], paths: Mapping[str, str | None], *,
                        transport: httpx.AsyncBaseTransport | None = None) -> dict[str, BalanceReading]:
    """One reading per client, in parallel (``paths``: provider -> its ``balance_path``)."""
    names = list(clients)
    readings = await asyncio.gather(*(read_balance(clients[n], paths.get(n), transport=transport) for n in names))
    return dict(zip(names, readings, strict=True))
