"""LeadMagic — Mobile Finder (docs/vendors.md#leadmagic--mobile-finder).

``POST /v1/people/mobile-finder``, ``X-API-Key: <key>``, JSON ``{profile_url, work_email |
personal_email}`` (at least one). Answer ``{profile_url, email, mobile_number,
credits_consumed, message}``: one mobile (the endpoint returns only mobiles, so the claim
is ``"mobile"``) or null; ``credits_consumed`` (5 found, 0 not) is what the vendor
charged and is reported as ``vendor_credits``. Errors: 400, 401, 402 (out of credits),
429 with ``Retry-After``, 500; bodies RFC 9457 ``{errors: [{title, ...}]}`` or ``{message}``.

Work or personal email: the company's own domain (or a subdomain) is ``work_email``; a
free-mail domain (gmail.com, outlook.com, ...) is ``personal_email``; any other domain is
taken as ``work_email``.
"""

from __future__ import annotations

from typing import Any

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.base import PhoneClaim, as_float, email_kind
from enrichment_assets.vendors.errors import ShapeError
from enrichment_assets.vendors.exchange import Exchange, Request
from enrichment_assets.vendors.single_lead import SingleLeadClient


class LeadMagicClient(SingleLeadClient):
    name = "leadmagic"
    default_base_url = "https://api.leadmagic.io"
    default_endpoint = "/v1/people/mobile-finder"
    method = "POST"

    def _headers(self) -> dict[str, str]:
        return {"X-API-Key": self._key.get_secret_value()}

    def ineligible_reason(self, lead: Lead) -> str | None:
        return None if (lead.linkedin_url or lead.email) else "needs a LinkedIn URL or an email"

    def request_identity(self, lead: Lead) -> dict[str, Any]:
        identity: dict[str, Any] = {}
        if lead.linkedin_url:
            identity["profile_url"] = lead.linkedin_url
        kind = email_kind(lead.email, lead.domain)
        if kind is not None:
            identity[f"{kind}_email"] = lead.email
        return identity

    def build_request(self, lead: Lead, identity: dict[str, Any], fingerprint: str) -> Request:
        return Request(method=self.method, fingerprints=[fingerprint], json=dict(identity))

    def _attempt_credits(self, exchange: Exchange) -> float | None:
        if not exchange.ok:
            return None  # errors are not charged
        if isinstance(exchange.body, dict):
            value = as_float(exchange.body.get("credits_consumed"))
            if value is not None:
                return value
        return as_float((exchange.headers or {}).get("x-credits-cost"))

    def parse_success(self, body: Any, exchange: Exchange) -> tuple[list[PhoneClaim], float | None]:
        if not isinstance(body, dict):
            raise ShapeError(f"expected an object, got {type(body).__name__}")
        credits = self._attempt_credits(exchange)
        mobile = body.get("mobile_number")
        if mobile is None or (isinstance(mobile, str) and not mobile.strip()):
            return [], credits
        if not isinstance(mobile, str):
            raise ShapeError(f"'mobile_number' is a {type(mobile).__name__}")
        return [PhoneClaim(mobile, "mobile")], credits
