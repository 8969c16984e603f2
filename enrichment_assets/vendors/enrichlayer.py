"""Enrich Layer — Personal Contact Number API (docs/vendors.md#enrich-layer--personal-contact-number).

``GET /api/v2/contact-api/personal-contact?profile_url=<linkedin>&page_size=<n>``,
``Authorization: Bearer <key>``. Answer: ``{"numbers": [...]}`` in storage order, no line
type (switchboards and office lines included). 1 credit per number returned (repeats included), so
``page_size`` caps the cost (config, default 3; 0 means "all"). Errors are never charged:
403 is out of credits, 404 profile not found, 410 deprecated, 503 enrichment failed (retry):
so a 5xx is asked again at once, while a timeout (the answer may have been billed) is not.
"""

from __future__ import annotations

from typing import Any

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.base import CallStatus, PhoneClaim, dedupe_exact
from enrichment_assets.vendors.errors import ShapeError
from enrichment_assets.vendors.exchange import Exchange, Request
from enrichment_assets.vendors.single_lead import SingleLeadClient

DEFAULT_PAGE_SIZE = 3


class EnrichLayerClient(SingleLeadClient):
    name = "enrichlayer"
    default_base_url = "https://enrichlayer.com"
    default_endpoint = "/api/v2/contact-api/personal-contact"
    method = "GET"

    @property
    def page_size(self) -> int:
        return self.config.page_size if self.config.page_size is not None else DEFAULT_PAGE_SIZE

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key.get_secret_value()}"}

    def ineligible_reason(self, lead: Lead) -> str | None:
        return None if lead.linkedin_url else "no LinkedIn URL"

    def request_identity(self, lead: Lead) -> dict[str, Any]:
        # page_size changes both the answer (how many numbers) and its cost.
        return {"profile_url": lead.linkedin_url, "page_size": self.page_size}

    def build_request(self, lead: Lead, identity: dict[str, Any], fingerprint: str) -> Request:
        return Request(
            method=self.method,
            fingerprints=[fingerprint],
            params={"profile_url": identity["profile_url"], "page_size": str(identity["page_size"])},
        )

    def _unbilled_failure(self, exchange: Exchange) -> bool:
        # Documented: only a 2xx with data is charged; every error (5xx and 503 "enrichment failed" included) is
        # free, so a failed answer may be asked again at once.
        return not exchange.ok

    def _error_status(self, exchange: Exchange, message: str) -> CallStatus:
        if exchange.status_code == 404:
            return CallStatus.NOT_FOUND
        if exchange.status_code == 403:
            return CallStatus.OUT_OF_CREDITS  # documented: 403 is "out of credits" for this vendor
        return super()._error_status(exchange, message)

    def count_billed_numbers(self, body: Any) -> int | None:
        # Billed per number returned, repeats included (the phones read drop exact repeats).
        numbers = body.get("numbers") if isinstance(body, dict) else None
        if not isinstance(numbers, list):
            return None
        return sum(1 for item in numbers if (isinstance(item, str) and item.strip()) or isinstance(item, dict))

    def parse_success(self, body: Any, exchange: Exchange) -> tuple[list[PhoneClaim], float | None]:
        if not isinstance(body, dict):
            raise ShapeError(f"expected an object, got {type(body).__name__}")
        if "numbers" not in body:
            raise ShapeError("no 'numbers' field")
        numbers = body["numbers"]
        if numbers is None:
            numbers = []
        if not isinstance(numbers, list):
            raise ShapeError("'numbers' is not a list")
        claims: list[PhoneClaim] = []
        for item in numbers:
            if isinstance(item, str):
                if item.strip():
                    claims.append(PhoneClaim(item, None))
            elif isinstance(item, dict) and isinstance(item.get("number"), str):
                claims.append(PhoneClaim(item["number"], None))
            elif item is not None:
                raise ShapeError(f"a number is a {type(item).__name__}")
        # The vendor does not report what it charged: None (the price rule is 1 credit per number).
        return dedupe_exact(claims), None
