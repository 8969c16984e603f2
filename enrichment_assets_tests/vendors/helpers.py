"""Helpers for the vendor client tests: a scripted mock vendor, quick configs, sample leads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx

from enrichment_assets.config import ProviderConfig
from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors import CLIENTS
from enrichment_assets.vendors.base import ListJournal

#: Distinctive, so a leak anywhere is easy to spot.
KEY = "sk_live_ZZTOPSECRET_7f3a9c1e"

LEAD = Lead(
    list_id="list1",
    record_id="r1",
    first_name="Jane",
    last_name="Doe",
    company="Acme",
    domain="acme.io",
    email="jane.doe@acme.io",
    linkedin_url="https://www.linkedin.com/in/jane-doe-4711",
    country="US",
)

#: What a 200 "found" answer looks like for each vendor.
FOUND_BODY: dict[str, Any] = {
    "leadmagic": {"profile_url": LEAD.linkedin_url, "mobile_number": "+1-555-123-4567", "credits_consumed": 5,
                  "message": "Mobile number found."},
    "pronto": {"enrichment_id": "e1", "status": "success", "phones": ["+33612345678"], "phone_status": "valid",
               "custom": {"record_id": "r1"}},
    "enrichlayer": {"numbers": ["+14155550123", "+14155550100"]},
    "lantern": {"success": True, "record_id": "x", "phone": "+14155550123", "processing_time_ms": 12},
    "crustdata": [{"matched_on": LEAD.linkedin_url, "match_type": "professional_network_profile_url",
                   "matches": [{"confidence_score": 1.0,
                                "person_data": {"contact": {"phone_numbers": ["+1-555-0100"]}}}]}],
}
NOT_FOUND_BODY: dict[str, Any] = {
    "leadmagic": {"profile_url": LEAD.linkedin_url, "mobile_number": None, "credits_consumed": 0,
                  "message": "No mobile number found for this contact."},
    "pronto": {"enrichment_id": "e1", "status": "error", "phones": [], "phone_status": "not_found",
               "message": "No data found", "custom": {"record_id": "r1"}},
    "enrichlayer": {"numbers": []},
    "lantern": {"success": True, "record_id": "x", "phone": None, "processing_time_ms": 12},
    "crustdata": [{"matched_on": LEAD.linkedin_url, "match_type": "professional_network_profile_url", "matches": []}],
}


def config(**overrides: Any) -> ProviderConfig:
    """A fast config: no rate limit worth the name, two retries."""
    base: dict[str, Any] = {"rate_limit_per_second": 1000, "burst": 1000, "max_concurrency": 8,
                            "timeout_seconds": 5, "max_retries": 2}
    base.update(overrides)
    return ProviderConfig(**base)


class MockVendor:
    """An ``httpx.MockTransport`` handler that answers from a script and records every request.

    ``responses`` is a list consumed in order (the last one repeats), each an ``httpx.Response``,
    an exception instance to raise, or a callable ``(request) -> Response``.
    """

    def __init__(self, *responses: Any, journal: ListJournal | None = None) -> None:
        self.responses = list(responses) or [httpx.Response(200, json={})]
        self.requests: list[httpx.Request] = []
        self.journal = journal
        self.sent_before_request: list[bool] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.journal is not None:
            sent = [a for kind, a in self.journal.events if kind == "sent"]
            finished = {a.attempt_id for kind, a in self.journal.events if kind == "finished"}
            self.sent_before_request.append(bool(sent) and sent[-1].attempt_id not in finished)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            index = min(len(self.requests) - 1, len(self.responses) - 1)
            answer = self.responses[index]
            if isinstance(answer, BaseException):
                raise answer
            if callable(answer) and not isinstance(answer, httpx.Response):
                answer = answer(request)
            return answer
        finally:
            self.in_flight -= 1

    @property
    def count(self) -> int:
        return len(self.requests)

    def json(self, i: int = -1) -> Any:
        return json.loads(self.requests[i].content)


class SleepRecorder:
    """Stands in for ``asyncio.sleep``: records each wait, waits for nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def make_client(
    provider: str,
    vendor: MockVendor,
    *,
    cfg: ProviderConfig | None = None,
    journal: ListJournal | None = None,
    sleep: Callable | None = None,
    **kwargs: Any,
):
    cls = CLIENTS[provider]
    return cls(
        cfg or config(),
        KEY,
        "https://vendor.test",
        journal,
        transport=httpx.MockTransport(vendor),
        backoff_base=0.001,
        backoff_max=0.005,
        sleep=sleep,
        **kwargs,
    )


async def lookup(client, lead: Lead = LEAD):
    """One lookup whatever the vendor (Crustdata through a batch of one)."""
    if client.name == "crustdata":
        return (await client.lookup_batch([lead]))[0]
    return await client.lookup(lead)
