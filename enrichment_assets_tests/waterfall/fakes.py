"""In-memory vendor clients for engine unit tests (they honour the client protocol and journal every request),
and an engine built on them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers

from enrichment_assets.config import parse_config
from enrichment_assets.leads.model import Lead
from enrichment_assets.outcomes import LedgerOutcome
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.vendors.base import (
    Attempt,
    CallStatus,
    PhoneClaim,
    VendorResult,
    new_attempt_id,
)
from enrichment_assets.waterfall.engine import WaterfallEngine

MOBILE_DE = phonenumbers.format_number(phonenumbers.example_number_for_type("DE", phonenumbers.PhoneNumberType.MOBILE),
                                       phonenumbers.PhoneNumberFormat.E164)
FIXED_DE = phonenumbers.format_number(
    phonenumbers.example_number_for_type("DE", phonenumbers.PhoneNumberType.FIXED_LINE),
    phonenumbers.PhoneNumberFormat.E164)


class FakeClient:
    endpoint = "/fake"

    def __init__(self, name: str, journal, answers: dict[str, list[tuple[str, str | None]]],
                 *, needs: str = "linkedin_url", delay: float = 0.0, status: CallStatus | None = None,
                 vendor_credits: float | None = None, batch: tuple[int, float] | None = None) -> None:
        self.name = name
        self.journal = journal
        self.answers = answers  # linkedin/email -> [(number, claimed type)]
        self.needs = needs
        self.delay = delay
        self.status = status
        self.vendor_credits = vendor_credits
        self.requests = 0
        self.batches: list[int] = []
        if batch is not None:  # a batching vendor (vendors/batching.py): (batch_size, batch_wait_seconds)
            self.batch_size, self.batch_wait_seconds = batch

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def ineligible_reason(self, lead: Lead) -> str | None:
        return None if getattr(lead, self.needs) else f"needs {self.needs}"

    def batch_key(self, lead: Lead) -> str:
        return self.needs

    def request_identity(self, lead: Lead) -> dict:
        return {self.needs: getattr(lead, self.needs)}

    def _attempt(self, fps: list[str]) -> Attempt:
        return Attempt(attempt_id=new_attempt_id(), provider=self.name, endpoint=self.endpoint,
                       request_fingerprints=fps, sent_at=datetime.now(UTC))

    async def _one(self, key: str, attempt: Attempt) -> VendorResult:
        phones = [PhoneClaim(n, t) for n, t in self.answers.get(key, [])]
        status = self.status or (CallStatus.FOUND if phones else CallStatus.NOT_FOUND)
        return VendorResult(provider=self.name, status=status, phones=phones if status is CallStatus.FOUND else [],
                            http_status=attempt.http_status, vendor_credits=self.vendor_credits,
                            matched=bool(phones) if self.name == "crustdata" else None, attempts=[attempt])

    async def lookup(self, lead: Lead) -> VendorResult:
        from enrichment_assets.vendors.base import request_fingerprint

        attempt = self._attempt([request_fingerprint(self.name, self.endpoint, self.request_identity(lead))])
        await self.journal.sent(attempt)
        self.requests += 1
        await asyncio.sleep(self.delay)
        if self.status is CallStatus.OUT_OF_CREDITS:
            attempt.http_status, attempt.outcome = 402, LedgerOutcome.OUT_OF_CREDITS
        else:
            attempt.http_status = 200
        attempt.vendor_credits = self.vendor_credits
        attempt.finished_at = datetime.now(UTC)
        await self.journal.finished(attempt)
        return await self._one(getattr(lead, self.needs), attempt)

    async def lookup_batch(self, leads: list[Lead]) -> list[VendorResult]:
        from enrichment_assets.vendors.base import request_fingerprint

        fps = list(dict.fromkeys(request_fingerprint(self.name, self.endpoint, self.request_identity(lead))
                                 for lead in leads))
        attempt = self._attempt(fps)
        await self.journal.sent(attempt)
        self.requests += 1
        self.batches.append(len(leads))
        await asyncio.sleep(self.delay)
        attempt.http_status = 200
        attempt.finished_at = datetime.now(UTC)
        await self.journal.finished(attempt)
        return [await self._one(getattr(lead, self.needs), attempt) for lead in leads]


class ListSink:
    def __init__(self) -> None:
        self.rows = []

    def add(self, row) -> None:
        self.rows.append(row)

    def by(self, provider: str) -> list:
        return [r for r in self.rows if r.provider == provider]


def leads(n: int) -> list[Lead]:
    return [Lead("l1", f"r{i}", "Ann", f"Lee{i}", "Acme", "acme.de", None,
                 f"https://www.linkedin.com/in/p{i}", "DE") for i in range(n)]


def make_engine(tmp_path: Path, config: dict, fakes: dict, **kw):
    store = ResponseStore(tmp_path / "store.sqlite")
    made: dict[str, FakeClient] = {}
    parsed = parse_config(config)

    def factory(provider: str, journal):
        if provider not in fakes:
            return None
        spec = dict(fakes[provider])
        answers = spec.pop("answers", {})
        if provider == "crustdata":  # batches as the real client does, from its config
            cfg = parsed.provider(provider)
            spec.setdefault("batch", (cfg.batch_size, cfg.batch_wait_seconds))
        made[provider] = FakeClient(provider, journal, answers, **spec)
        return made[provider]

    engine = WaterfallEngine(parsed, factory, store, run_id=kw.pop("run_id", "run1"), list_id="l1", **kw)
    return engine, made, store


def run(engine: WaterfallEngine, items: list[Lead]) -> ListSink:
    sink = ListSink()
    asyncio.run(engine.run(items, sink))
    return sink
