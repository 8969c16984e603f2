"""Pronto, simulated: ``POST /v2/contacts/single_enrich`` (alias ``/v2/contacts/sync_single_enrich``); no balance
endpoint (Pronto documents none)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from enrichment_assets.sandbox.state import VendorState
from enrichment_assets.sandbox.vendor_api import (
    MISSING,
    Ctx,
    Outcome,
    Reject,
    VendorAPI,
    text_or_none,
)
from enrichment_assets.sandbox.world import Person, linkedin_slug

PRONTO_CONSENT_MESSAGE = ("You can't use the personal email enrichment feature without consenting with our "
                          "terms of use")
_ENRICHMENT_TYPES = ("phone", "email", "personal_email")


class ProntoAPI(VendorAPI):
    """Synchronous single enrichment; at most ``max_concurrency`` (5) processed at once, the rest queue.

    ``phones`` is, per person (deterministically), either a list of E.164
    strings or a list of ``{"number", "type"}`` objects (``mobile`` /
    ``landline``). Price: ``price_per_phone`` (10) when a phone is found,
    ``price_per_email`` (1) per work email, ``price_per_personal_email`` (1).
    Out of credits (balance below the worst case of the requested types): 402
    by default, 422 with ``out_of_credits_status: 422``. Validation errors are
    422 ``{"message": ...}``; a body that is not JSON is 400.
    """

    name = "pronto"
    key_header = "x-api-key"
    paths = ("/v2/contacts/single_enrich", "/v2/contacts/sync_single_enrich")

    def error(self, status: int, code: str, message: str, ctx: Ctx, **extra: Any) -> Response:
        messages = {"unauthorized": "Unauthorized: invalid or missing API key",
                    "rate_limited": "Too many requests",
                    "insufficient_credits": "Insufficient credits",
                    "internal_error": "Internal server error",
                    "unavailable": "Service unavailable"}
        body: dict[str, Any] = {"message": messages.get(code, message)}
        if code == "insufficient_credits":
            body.update(credits_required=extra.get("credits_required"),
                        credits_remaining=extra.get("credits_remaining"))
        return JSONResponse(body, status)

    async def parse(self, request: Request, ctx: Ctx) -> dict[str, Any]:
        invalid = lambda msg: Reject(self.error(422, "invalid_request", msg, ctx))  # noqa: E731
        body = await self.json_body(request)
        if body is MISSING:
            raise Reject(self.error(400, "invalid_request", "Invalid JSON body", ctx))
        if not isinstance(body, dict):
            raise invalid("Request body must be a JSON object")
        for key in ("firstname", "lastname"):
            if not text_or_none(body.get(key)):
                raise invalid(f"{key} is required")
        types = body.get("enrichment_type")
        if (not isinstance(types, list) or not 1 <= len(types) <= 3
                or not all(isinstance(t, str) and t in _ENRICHMENT_TYPES for t in types)
                or len(set(types)) != len(types)):
            raise invalid("enrichment_type must be an array of 1 to 3 distinct values among "
                          "'phone', 'email', 'personal_email'")
        for key in ("company_name", "domain", "linkedin_url", "webhook_url"):
            if body.get(key) is not None and not isinstance(body.get(key), str):
                raise invalid(f"{key} must be a string")
        if ("phone" in types or "personal_email" in types) and not text_or_none(body.get("linkedin_url")):
            raise invalid("linkedin_url is required when enrichment_type includes 'phone' or 'personal_email'")
        if text_or_none(body.get("linkedin_url")) and linkedin_slug(body["linkedin_url"]) is None:
            raise invalid("linkedin_url is not a valid LinkedIn profile URL")
        webhook = text_or_none(body.get("webhook_url"))
        if webhook and not webhook.lower().startswith(("http://", "https://")):
            raise invalid("webhook_url must be an http(s) URL")
        codes = body.get("phone_country_codes")
        if codes is not None and (not isinstance(codes, list) or not all(
                isinstance(c, str) and re.fullmatch(r"[A-Za-z]{2}", c) for c in codes)):
            raise invalid("phone_country_codes must be an array of ISO 3166-1 alpha-2 codes")
        custom = body.get("custom")
        if custom is not None and not isinstance(custom, dict):
            raise invalid("custom must be an object")
        if "personal_email" in types and not self.state.config.vendors.pronto.personal_email_consent:
            raise invalid(PRONTO_CONSENT_MESSAGE)
        return body

    def required_credits(self, parsed: dict[str, Any], outcome: Outcome, vs: VendorState) -> int:
        cfg = vs.config
        prices = {"phone": cfg.price_per_phone, "email": cfg.price_per_email,
                  "personal_email": cfg.price_per_personal_email}
        return sum(prices[t] for t in parsed["enrichment_type"])

    def _find(self, body: dict[str, Any]) -> Person | None:
        world = self.world
        if text_or_none(body.get("linkedin_url")):
            return world.person_by_linkedin(body["linkedin_url"])
        first, last = text_or_none(body.get("firstname")), text_or_none(body.get("lastname"))
        return (world.person_by_name_domain(first, last, text_or_none(body.get("domain")))
                or world.person_by_name_company(first, last, text_or_none(body.get("company_name"))))

    def lookup(self, parsed: dict[str, Any], vs: VendorState, ctx: Ctx) -> Outcome:
        cfg = vs.config
        types = parsed["enrichment_type"]
        person = self._find(parsed)
        known = self.world.knowledge(self.name, person) if person else None
        body: dict[str, Any] = {
            "enrichment_id": str(uuid.uuid4()),
            "first_name": text_or_none(parsed.get("firstname")),
            "last_name": text_or_none(parsed.get("lastname")),
            "linkedin_profile_url": person.linkedin_url if person else text_or_none(parsed.get("linkedin_url")),
            "status": "error",
            "email": None,
            "email_status": "N/A",
            "phones": [],
            "phone_status": "not_found",
            "custom": parsed.get("custom") or {},
        }
        credits = 0
        if "personal_email" in types:
            body["personal_email"], body["personal_email_status"] = None, "N/A"
        if known is not None:
            if "phone" in types:
                countries = {c.upper() for c in parsed.get("phone_country_codes") or ()}
                phones = [p for p in known.phones if not countries or person.country in countries]
                if phones:
                    body["phones"] = ([{"number": p.e164, "type": "mobile" if p.kind == "mobile" else "landline"}
                                       for p in phones] if known.phone_objects else [p.e164 for p in phones])
                    body["phone_status"] = "valid"
                    credits += cfg.price_per_phone
            if "email" in types and known.work_email:
                body["email"], body["email_status"] = known.work_email, known.work_email_status
                credits += cfg.price_per_email
            if "personal_email" in types and known.personal_email:
                body["personal_email"] = known.personal_email
                body["personal_email_status"] = known.personal_email_status
                credits += cfg.price_per_personal_email
        if credits:
            body["status"] = "success"
        else:
            body["message"] = "No data found for this contact"
        return Outcome(body, credits=credits, found=body["phone_status"] == "valid")
