"""No request is sent twice behind the journal's back, whatever the transport.

aiohttp re-sends an idempotent request (Enrich Layer's GET) by itself when the server drops the connection after
reading it: the vendor would bill two requests for one journal attempt. Against a real server that reads the
request and closes the connection, the journal must hold exactly as many attempts as the server received.
"""

from __future__ import annotations

import socket

import pytest

from enrichment_assets.outcomes import LedgerOutcome
from enrichment_assets.vendors.base import CallStatus, ListJournal
from enrichment_assets.vendors.http import TRANSPORT_KINDS
from enrichment_assets.vendors.registry import provider_spec
from enrichment_assets_tests.vendors.helpers import FOUND_BODY, LEAD, config
from enrichment_assets_tests.wire_vendor import Drop, Reset, Respond, WireVendor

pytestmark = pytest.mark.anyio


def client(provider: str, base_url: str, journal: ListJournal, transport: str, **overrides):
    return provider_spec(provider).client(config(**overrides), "test-key-0000", base_url, journal,
                                          transport=transport, backoff_base=0.001, backoff_max=0.002)


@pytest.mark.parametrize("transport", TRANSPORT_KINDS)
@pytest.mark.parametrize("lost", [Drop(), Reset()], ids=["dropped", "reset"])
async def test_a_get_lost_after_sending_is_not_sent_again_by_the_transport(transport: str, lost) -> None:
    journal = ListJournal()
    with WireVendor([lost, Respond(200, FOUND_BODY["enrichlayer"])]) as vendor:
        async with client("enrichlayer", vendor.base_url, journal, transport) as enrichlayer:
            result = await enrichlayer.lookup(LEAD)
    assert vendor.requests[0].method == "GET"
    assert len(journal.attempts) == vendor.count == 1
    (attempt,) = journal.attempts
    assert attempt.outcome is LedgerOutcome.UNKNOWN and result.status is CallStatus.UNKNOWN


@pytest.mark.parametrize("transport", TRANSPORT_KINDS)
async def test_keep_alive_connections_are_reused_and_every_request_is_journaled(transport: str) -> None:
    journal = ListJournal()
    with WireVendor(Respond(200, FOUND_BODY["enrichlayer"])) as vendor:
        async with client("enrichlayer", vendor.base_url, journal, transport, max_concurrency=1) as enrichlayer:
            results = [await enrichlayer.lookup(LEAD) for _ in range(5)]
    assert all(r.status is CallStatus.FOUND for r in results)
    assert len(journal.attempts) == vendor.count == 5


@pytest.mark.parametrize("transport", TRANSPORT_KINDS)
async def test_a_request_that_never_left_is_asked_again_at_no_cost(transport: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on: every connect is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    journal = ListJournal()
    async with client("leadmagic", f"http://127.0.0.1:{port}", journal, transport, max_retries=2) as leadmagic:
        result = await leadmagic.lookup(LEAD)
    assert len(journal.attempts) == 3  # never sent, so safe to ask again
    assert all(a.outcome is LedgerOutcome.ERROR and a.error.startswith("not sent") for a in journal.attempts)
    assert result.status is CallStatus.ERROR
