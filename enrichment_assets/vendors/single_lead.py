"""A vendor that answers one lead per request: build the request, send it, read the answer.

The vendor module supplies ``build_request`` and ``parse_success`` (and ``count_emails`` when it prices
emails); everything else, retries and failures included, is :class:`~enrichment_assets.vendors.client.VendorClient`'s.
"""

from __future__ import annotations

from typing import Any

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.base import CallStatus, PhoneClaim, VendorResult, request_fingerprint
from enrichment_assets.vendors.client import VendorClient
from enrichment_assets.vendors.errors import ShapeError, StopProvider
from enrichment_assets.vendors.exchange import Exchange, Request


class SingleLeadClient(VendorClient):
    """A vendor that answers one lead per request (all but the batching ones)."""

    def build_request(self, lead: Lead, identity: dict[str, Any], fingerprint: str) -> Request:  # pragma: no cover
        raise NotImplementedError

    def parse_success(self, body: Any, exchange: Exchange) -> tuple[list[PhoneClaim], float | None]:  # pragma: no cover
        """Phones and vendor-reported credits from a 2xx JSON body; raise :class:`ShapeError` on a wrong shape."""
        raise NotImplementedError

    def count_emails(self, body: Any) -> tuple[int, int]:
        """(work emails, personal emails) a 2xx body returned, for vendors that price them."""
        return 0, 0

    def count_billed_numbers(self, body: Any) -> int | None:
        """The numbers a 2xx body holds as the vendor bills them (repeats included), for vendors that bill each
        number; ``None``: the phones read are what is priced."""
        return None

    async def lookup(self, lead: Lead) -> VendorResult:
        """One lookup: a typed result, never an exception (except from a failing journal or cancellation)."""
        reason = self.ineligible_reason(lead)
        if reason is not None:
            return self._ineligible(reason)
        if self.stopped is not None:
            return self._short_circuit()
        identity = self.request_identity(lead)
        fingerprint = request_fingerprint(self.name, self.endpoint, identity)
        outcome = await self._execute(self.build_request(lead, identity, fingerprint))
        failed = self._failure_result(outcome)
        if failed is not None:
            return failed
        return self._read(outcome.final, outcome.attempts, live=True)

    def read_answer(self, request: Request, final: Exchange) -> list[VendorResult]:
        """A kept 2xx JSON answer read again (after a parser change): one result, for the request's fingerprint."""
        return [self._read(final, [], live=False)]

    def _read(self, final: Exchange, attempts: list, *, live: bool) -> VendorResult:
        body = final.body
        answered = {"provider": self.name, "http_status": final.status_code, "raw": self._scrub(body),
                        "attempts": attempts}
        try:
            phones, credits = self.parse_success(body, final)
        except ShapeError as exc:
            return self._unreadable(final, attempts, str(exc), body)
        except StopProvider as exc:
            error = self.mask(exc.message)
            if not live:  # an old answer saying the account was out of credits then: not an answer to keep
                return VendorResult(**answered, status=CallStatus.ERROR, error=error)
            self._stop(exc.status, error)
            return VendorResult(**answered, status=exc.status, error=error)
        emails, personal_emails = self.count_emails(body)
        return VendorResult(**answered, status=CallStatus.FOUND if phones else CallStatus.NOT_FOUND, phones=phones,
                            vendor_credits=credits, emails_found=emails, personal_emails_found=personal_emails,
                            numbers_billed=self.count_billed_numbers(body))
