"""The shapes of one HTTP conversation with a vendor: the request a client wants sent, and what came back."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from enrichment_assets.vendors.api_key import ApiKey
from enrichment_assets.vendors.base import Attempt, CallStatus, ReceivedAnswer


class ExchangeKind(StrEnum):
    """What one attempt produced, as far as asking again and paying are concerned (``RetryPolicy`` decides)."""

    #: A response to act on as it is (any status the vendor meant), or a failure that asking again cannot fix.
    DONE = "done"
    #: 429: the vendor did not do the work; its Retry-After says when to ask again.
    RATE_LIMITED = "rate_limited"
    #: The request never reached the vendor (connect error or timeout, no connection from the pool): nothing
    #: was done or billed, so asking again is safe.
    NOT_SENT = "not_sent"
    #: The vendor answered with a failure its document says is never billed (Enrich Layer's 5xx): safe to ask
    #: again.
    UNBILLED = "unbilled"
    #: Sent, and whether the vendor did the work (and billed it) is unknown: a timeout after sending, a dropped
    #: connection, a 5xx or 408, a 2xx that is not JSON. Asked again in the run only where a repeat cannot bill
    #: twice (the provider's ``retry_unknown``).
    UNKNOWN = "unknown"
    #: Not sent: the provider stopped (out of credits, unavailable) before this attempt's turn came.
    STOPPED = "stopped"


#: ``Exchange.body`` when the response had no JSON body (``None`` is a JSON value).
NO_JSON: Any = object()


@dataclass(slots=True)
class Request:
    """One HTTP request a client wants to make (relative to its ``endpoint``)."""

    method: str
    #: The request fingerprints this request answers (one; or one per identifier of a batch).
    fingerprints: list[str]
    params: dict[str, str] | None = None
    json: Any = None

    def as_sent(self) -> dict[str, Any]:
        """What was asked, as JSON (kept with a paid answer so that the answer can be read again later)."""
        return {"method": self.method, "params": self.params, "json": self.json}

    @classmethod
    def kept(cls, answer: ReceivedAnswer, fingerprints: list[str], default_method: str) -> Request:
        """The request a kept answer answered, from what was kept with it (``as_sent``)."""
        sent = answer.request or {}
        return cls(method=str(sent.get("method") or default_method), fingerprints=list(fingerprints),
                   params=sent.get("params"), json=sent.get("json"))


@dataclass(slots=True)
class Exchange:
    """What one attempt produced: a response, an error, or nothing (stopped before sending)."""

    attempt: Attempt | None
    kind: ExchangeKind = ExchangeKind.DONE
    status_code: int | None = None
    headers: httpx.Headers | None = None
    #: The body exactly as received (a paid 2xx is stored so, before it is parsed).
    content: bytes = b""
    text: str = ""
    body: Any = NO_JSON
    #: Masked description of a transport error or timeout.
    failure: str | None = None
    #: Seconds a 429 asked to wait (``None``: it did not say).
    retry_after: float | None = None
    stopped: CallStatus | None = None

    @property
    def has_json(self) -> bool:
        return self.body is not NO_JSON

    @property
    def json_or_none(self) -> Any:
        """The JSON body, ``None`` when there is none."""
        return self.body if self.has_json else None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def as_received(self, request: Request, key: ApiKey) -> ReceivedAnswer:
        """A 2xx answer as it arrived (the API key removed should the vendor echo it), with what was asked."""
        headers = {k: v for k, v in (self.headers or {}).items() if k.lower() != "set-cookie"}
        return ReceivedAnswer(request=key.scrub(request.as_sent()), http_status=self.status_code or 0,
                              headers=key.scrub(headers), content=key.redact(self.content))

    def read(self, response: httpx.Response) -> None:
        """Take the response's status, headers and body as received; ``body`` is its JSON, if it is JSON."""
        self.status_code = response.status_code
        self.headers = response.headers
        self._take_content(response.content)

    @classmethod
    def kept(cls, answer: ReceivedAnswer) -> Exchange:
        """A kept answer as the exchange that received it (no attempt: nothing is sent again)."""
        exchange = cls(attempt=None, status_code=answer.http_status, headers=httpx.Headers(answer.headers))
        exchange._take_content(answer.content)
        return exchange

    def _take_content(self, content: bytes) -> None:
        self.content = content
        self.text = content.decode("utf-8", errors="replace")
        if content.strip():
            with contextlib.suppress(ValueError):
                self.body = json.loads(content)


@dataclass(slots=True)
class CallOutcome:
    """The last exchange of one request and every attempt it took."""

    final: Exchange
    attempts: list[Attempt] = field(default_factory=list)
