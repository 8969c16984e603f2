"""Enrich Layer, simulated: ``GET /api/v2/contact-api/personal-contact`` and its credit balance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from enrichment_assets.sandbox.state import VendorState
from enrichment_assets.sandbox.vendor_api import Ctx, Outcome, Reject, VendorAPI
from enrichment_assets.sandbox.world import is_linkedin_profile_url


@dataclass(frozen=True)
class _EnrichLayerQuery:
    profile_url: str
    page_size: int


class EnrichLayerAPI(VendorAPI):
    """Numbers in storage order (switchboard, office, then mobile), 1 credit per number returned.

    An unknown profile (not in the world, or not in Enrich Layer's index) is
    404 "Person not found"; a known profile without numbers is 200
    ``{"numbers": []}`` at 0 credits. 403 "Not enough credits" when the
    request's worst case (``page_size`` numbers, or all numbers the profile
    has for ``page_size=0``, at least one) exceeds the balance, so at zero
    balance every call 403s.
    """

    name = "enrichlayer"
    paths = ("/api/v2/contact-api/personal-contact",)
    method = "GET"
    balance_path = "/api/v2/credit-balance"
    _NAMES: ClassVar[dict[int, str]] = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}

    def error(self, status: int, code: str, message: str, ctx: Ctx, **extra: Any) -> Response:
        descriptions = {"unauthorized": "Invalid API Key", "insufficient_credits": "Not enough credits",
                        "rate_limited": "Rate limited. Please retry.",
                        "internal_error": "There is an error with our API. Please contact us for assistance",
                        "unavailable": "Enrichment failed, please retry."}
        body = {"code": status, "description": descriptions.get(code, message),
                "name": self._NAMES.get(status, "Error")}
        return JSONResponse(body, status)

    async def parse(self, request: Request, ctx: Ctx) -> _EnrichLayerQuery:
        params = request.query_params
        profile_url = params.get("profile_url", "").strip()
        if not profile_url:
            raise Reject(self.error(400, "invalid_request", "Missing required parameter: profile_url", ctx))
        if not is_linkedin_profile_url(profile_url):
            raise Reject(self.error(400, "invalid_request",
                                    "Invalid profile_url: expected a LinkedIn profile URL "
                                    "(https://www.linkedin.com/in/<id>)", ctx))
        raw_size = params.get("page_size", "0").strip() or "0"
        if not raw_size.isdigit():
            raise Reject(self.error(400, "invalid_request", "page_size must be a non-negative integer", ctx))
        return _EnrichLayerQuery(profile_url, int(raw_size))

    def lookup(self, parsed: _EnrichLayerQuery, vs: VendorState, ctx: Ctx) -> Outcome:
        person = self.world.person_by_linkedin(parsed.profile_url)
        known = self.world.knowledge(self.name, person) if person else None
        if known is None or not known.profile:
            return Outcome({"code": 404, "description": "Person not found", "name": "Not Found"}, status=404)
        numbers = [p.e164 for p in known.phones]
        if numbers and self.world.draw(self.name, "repeat", person) < vs.config.repeated_number_share:
            numbers.insert(1, numbers[0])  # stored twice: returned and billed twice
        if parsed.page_size:
            numbers = numbers[: parsed.page_size]
        return Outcome({"numbers": numbers}, credits=len(numbers) * vs.config.price_per_number,
                       found=bool(numbers))

    def balance_body(self, credits: int) -> Any:
        return {"credit_balance": credits}

    def required_credits(self, parsed: _EnrichLayerQuery, outcome: Outcome, vs: VendorState) -> int:
        count = parsed.page_size or len(outcome.body.get("numbers", ()))
        return max(1, count) * vs.config.price_per_number
