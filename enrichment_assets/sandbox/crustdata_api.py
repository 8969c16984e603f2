"""Crustdata, simulated: ``POST /person/contact/enrich`` (batches of up to 25) and ``GET /user/credits``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from enrichment_assets.sandbox.config import CRUSTDATA_API_VERSION, CRUSTDATA_FIELDS
from enrichment_assets.sandbox.state import VendorState
from enrichment_assets.sandbox.vendor_api import EMAIL, Ctx, Outcome, Reject, VendorAPI
from enrichment_assets.sandbox.world import dashed, is_linkedin_profile_url


@dataclass(frozen=True)
class _CrustdataQuery:
    match_type: str
    identifiers: tuple[str, ...]
    fields: tuple[str, ...]


class CrustdataAPI(VendorAPI):
    """Batch of up to 25 profile URLs or business emails; one result per identifier, in order.

    Price per matched identifier: ``price_per_match`` (1) + each requested
    sub-field (phone 2, personal emails 2, business emails 1, websites 1;
    ``contact`` = all four), at most 7; unmatched identifiers are free. A batch
    whose worst case exceeds the balance is 403 ``insufficient_credits``,
    nothing charged; without contact access every call is 403
    ``permission_denied``. Every response carries ``x-ratelimit-*`` headers.
    """

    name = "crustdata"
    paths = ("/person/contact/enrich",)
    balance_path = "/user/credits"
    _TYPES: ClassVar[dict[str, str]] = {"professional_network_profile_urls": "professional_network_profile_url",
              "business_emails": "business_email"}

    def error(self, status: int, code: str, message: str, ctx: Ctx, **extra: Any) -> Response:
        error_type = {"unauthorized": "unauthorized", "rate_limited": "rate_limited",
                      "insufficient_credits": "insufficient_credits", "internal_error": "internal_error",
                      "unavailable": "internal_error", "no_access": "permission_denied"}.get(code, "invalid_request")
        metadata = {k: v for k, v in extra.items() if v is not None}
        if code == "insufficient_credits":
            message = (f"Insufficient credits: this request may cost up to {extra.get('credits_required')} "
                       f"credits, {extra.get('credits_remaining')} remaining.")
        return JSONResponse({"error": {"type": error_type, "message": message, "metadata": metadata}}, status)

    def balance_unauthorized(self, key: str | None) -> Response:
        # The credits page documents its own 401 body.
        return JSONResponse({"message": "Invalid API key in request" if key else "Missing API key in request"}, 401)

    def extra_headers(self, vs: VendorState, ctx: Ctx, response: Response, charged: int | None) -> None:
        decision = ctx.decision
        if decision is None or decision.limit is None:
            return
        response.headers["x-ratelimit-limit"] = str(decision.limit)
        response.headers["x-ratelimit-remaining"] = str(decision.remaining)
        response.headers["x-ratelimit-reset"] = str(decision.reset)

    async def parse(self, request: Request, ctx: Ctx) -> _CrustdataQuery:
        bad = lambda msg, **meta: Reject(self.error(400, "invalid_request", msg, ctx, **meta))  # noqa: E731
        version = request.headers.get("x-api-version")
        if version != CRUSTDATA_API_VERSION:
            raise bad(f"Missing or unsupported x-api-version header: use '{CRUSTDATA_API_VERSION}'.")
        if not self.state.config.vendors.crustdata.contact_access:
            raise Reject(self.error(403, "no_access",
                                    "Permission denied: your plan does not include contact enrich access.", ctx))
        body = await self.json_body(request)
        if not isinstance(body, dict):
            raise bad("Request body must be a JSON object.")
        present = [k for k in self._TYPES if body.get(k) is not None]
        if len(present) != 1:
            raise bad("Provide exactly one of professional_network_profile_urls or business_emails.")
        key = present[0]
        identifiers = body[key]
        if not isinstance(identifiers, list) or not identifiers:
            raise bad(f"{key} must be a non-empty array of strings.")
        if len(identifiers) > 25:
            raise bad(f"{key} accepts at most 25 identifiers per request, got {len(identifiers)}.")
        for ident in identifiers:
            if not isinstance(ident, str) or not ident.strip():
                raise bad(f"Malformed identifier in {key}: {ident!r}")
            if key == "business_emails" and not EMAIL.match(ident.strip()):
                raise bad(f"Malformed business email: {ident!r}")
            if key == "professional_network_profile_urls" and not is_linkedin_profile_url(ident):
                raise bad(f"Malformed profile URL: {ident!r}")
        fields = body.get("fields", ["contact"])
        if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
            raise bad("fields must be a non-empty array of strings.", valid_fields=["contact", *CRUSTDATA_FIELDS])
        invalid = [f for f in fields if f != "contact" and f not in CRUSTDATA_FIELDS]
        if invalid:
            raise bad(f"Invalid field(s) for this endpoint: {', '.join(invalid)}. "
                      "This endpoint only returns contact fields.",
                      invalid_fields=invalid, valid_fields=["contact", *CRUSTDATA_FIELDS])
        resolved = CRUSTDATA_FIELDS if "contact" in fields else tuple(f for f in CRUSTDATA_FIELDS if f in fields)
        return _CrustdataQuery(self._TYPES[key], tuple(identifiers), resolved)

    def _profile_price(self, fields: tuple[str, ...], vs: VendorState) -> int:
        cfg = vs.config
        return min(cfg.max_credits_per_profile,
                   cfg.price_per_match + sum(cfg.price_per_field.get(f, 0) for f in fields))

    def required_credits(self, parsed: _CrustdataQuery, outcome: Outcome, vs: VendorState) -> int:
        return len(parsed.identifiers) * self._profile_price(parsed.fields, vs)

    def lookup(self, parsed: _CrustdataQuery, vs: VendorState, ctx: Ctx) -> Outcome:
        world = self.world
        price = self._profile_price(parsed.fields, vs)
        results, credits, found = [], 0, False
        for ident in parsed.identifiers:
            matches = []
            if parsed.match_type == "business_email":
                person = world.person_by_email(ident)
                known = world.knowledge(self.name, person) if person else None
                if known is not None and known.work_email != ident.strip().lower():
                    known = None  # only a business email Crustdata has on file matches
            else:
                person = world.person_by_linkedin(ident)
                known = world.knowledge(self.name, person) if person else None
            if person is not None and known is not None and known.profile:
                contact: dict[str, Any] = {}
                if "contact.business_emails" in parsed.fields:
                    contact["business_emails"] = ([{"email": known.work_email, "status": known.work_email_status}]
                                                  if known.work_email else [])
                if "contact.personal_emails" in parsed.fields:
                    contact["personal_emails"] = ([{"email": known.personal_email,
                                                    "status": known.personal_email_status}]
                                                  if known.personal_email else [])
                if "contact.phone_numbers" in parsed.fields:
                    contact["phone_numbers"] = [dashed(p.e164) for p in known.phones]
                    found = found or bool(known.phones)
                if "contact.websites" in parsed.fields:
                    contact["websites"] = list(known.websites)
                matches.append({
                    "confidence_score": 1.0 if parsed.match_type != "business_email" else 0.95,
                    "person_data": {"contact": contact, "crustdata_person_id": world.crustdata_person_id(person)},
                })
                credits += price
            results.append({"matched_on": ident, "match_type": parsed.match_type, "matches": matches})
        return Outcome(results, credits=credits, found=found)
