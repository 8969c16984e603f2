"""Lantern, simulated: ``POST /v1/enrich/phone`` (de-duplicated by ``record_id``) and a stand-in balance read."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from enrichment_assets.sandbox.state import VendorState
from enrichment_assets.sandbox.vendor_api import MISSING, Ctx, Outcome, Reject, VendorAPI, text_or_none
from enrichment_assets.sandbox.world import Person


class LanternAPI(VendorAPI):
    """Cascade name+company/domain, then linkedin_id (a slug), then email; one phone (E.164) or null.

    The document's order: name + company first, so of two namesakes at one company (the world has some) the one
    on file first answers for both. The LinkedIn fallback matches only a profile Lantern has on file (~80%).

    Price: ``price_per_call`` (0) + ``price_per_found`` (1) when a phone is
    found. Insufficient credit is a 400 carrying ``credits_required`` and
    ``credits_remaining``. Validation errors are FastAPI-style 422s.
    """

    name = "lantern"
    paths = ("/v1/enrich/phone",)
    # Not in Lantern's documents: a stand-in that only a config with providers.lantern.balance_path reads (the field
    # its error bodies carry), to exercise the balance check for a vendor whose account gives you a balance endpoint
    # the public documents do not. One sandbox host serves every vendor: LeadMagic has /v1/credits.
    balance_path = "/v1/enrich/credits"

    def error(self, status: int, code: str, message: str, ctx: Ctx, **extra: Any) -> Response:
        details = {
            "unauthorized": "Provide a valid API key as 'Authorization: Bearer <key>'.",
            "rate_limited": "Too many requests; wait retry_after seconds.",
            "insufficient_credits": "Your account does not have enough credits for this request.",
        }.get(code)
        body = {"success": False, "error": message, "details": details, "request_id": ctx.request_id,
                "credits_required": extra.get("credits_required"),
                "credits_remaining": extra.get("credits_remaining"),
                "retry_after": extra.get("retry_after")}
        return JSONResponse(body, status)

    @staticmethod
    def _unprocessable(*errors: dict[str, Any]) -> Reject:
        return Reject(JSONResponse({"detail": list(errors)}, 422))

    async def parse(self, request: Request, ctx: Ctx) -> dict[str, Any]:
        body = await self.json_body(request)
        if body is MISSING:
            raise self._unprocessable({"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"})
        if not isinstance(body, dict):
            raise self._unprocessable({"type": "model_attributes_type", "loc": ["body"],
                                       "msg": "Input should be a valid dictionary or object to extract fields from"})
        record_id = body.get("record_id", MISSING)
        if record_id is MISSING or record_id is None:
            raise self._unprocessable({"type": "missing", "loc": ["body", "record_id"], "msg": "Field required"})
        if not isinstance(record_id, str):
            raise self._unprocessable({"type": "string_type", "loc": ["body", "record_id"],
                                       "msg": "Input should be a valid string"})
        if not record_id.strip():
            raise self._unprocessable({"type": "string_too_short", "loc": ["body", "record_id"],
                                       "msg": "String should have at least 1 character"})
        has_name = text_or_none(body.get("first_name")) and text_or_none(body.get("last_name")) and (
            text_or_none(body.get("company")) or text_or_none(body.get("domain")))
        if not (has_name or text_or_none(body.get("linkedin_id")) or text_or_none(body.get("email"))):
            raise self._unprocessable({
                "type": "value_error", "loc": ["body"],
                "msg": "Value error, Must provide at least one of: first_name + last_name + company (or domain), "
                       "linkedin_id, or email"})
        return body

    def balance_body(self, credits: int) -> Any:
        return {"success": True, "credits_remaining": credits}

    def required_credits(self, parsed: dict[str, Any], outcome: Outcome, vs: VendorState) -> int:
        return vs.config.price_per_call + vs.config.price_per_found

    def repeat_key(self, parsed: dict[str, Any]) -> str | None:
        # "record_id: used for caching and duplicate detection" (the vendor's document).
        return parsed["record_id"]

    def _find(self, body: dict[str, Any]) -> Person | None:
        world = self.world
        first, last = text_or_none(body.get("first_name")), text_or_none(body.get("last_name"))
        company, domain = text_or_none(body.get("company")), text_or_none(body.get("domain"))
        if first and last and (company or domain):
            person = None
            if company:
                person = world.person_by_name_company(first, last, company)
                if person is None and ("." in company and " " not in company):  # "company" may be a website
                    person = world.person_by_name_domain(first, last, company)
            if person is None and domain:
                person = world.person_by_name_domain(first, last, domain)
            if person is not None:
                return person
        slug = text_or_none(body.get("linkedin_id"))
        if slug:
            # A slug, as documented; a full URL is not a slug and matches nothing. Only a profile Lantern has on
            # file matches (knowledge.linkedin_slug: ~80% of people).
            person = world.person_by_slug(slug)
            if person is not None and world.knowledge(self.name, person).linkedin_slug == person.linkedin_slug:
                return person
        email = text_or_none(body.get("email"))
        return world.person_by_email(email) if email else None

    def lookup(self, parsed: dict[str, Any], vs: VendorState, ctx: Ctx) -> Outcome:
        person = self._find(parsed)
        phone = email = slug = None
        if person is not None:
            known = self.world.knowledge(self.name, person)
            phone = known.phones[0].e164 if known.phones else None
            email, slug = known.work_email, known.linkedin_slug
        found = phone is not None
        credits = vs.config.price_per_call + (vs.config.price_per_found if found else 0)
        echo = lambda key: parsed.get(key) if parsed.get(key) not in ("", None) else None  # noqa: E731
        body = {
            "success": True,
            "record_id": parsed["record_id"],
            "first_name": echo("first_name"),
            "last_name": echo("last_name"),
            "company": echo("company"),
            "email": echo("email") or email,
            "linkedin_id": echo("linkedin_id") or slug,
            "phone": phone,
            "processing_time_ms": int((time.perf_counter() - ctx.started) * 1000),
        }
        return Outcome(body, credits=credits, found=found)
