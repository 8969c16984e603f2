"""One Starlette app serving the five vendor APIs at their documented paths, plus control endpoints.

Every vendor request goes through the same pipeline (``VendorAPI.endpoint``):

1. count it; authenticate (401 in the vendor's error format, never charged);
2. rate limit (429 with ``Retry-After``, never charged, not counted in the window);
3. parse and validate (400 / 422 in the vendor's format);
4. draw the fault for this request (seeded, one draw per request that got here);
5. wait for a concurrency slot (Pronto: 5), then sleep the drawn latency;
6. injected faults answer here (500 / 503 / hang-then-500; never charged);
7. look the person up in the world (pure), then check the request's worst-case cost against
   the balance (out-of-credits error, nothing charged);
8. a malformed-200 fault answers a truncated body (not charged); otherwise charge the
   documented price and answer;
9. a charged answer may be withheld (``withhold_rate``): billed, then held ``withhold_seconds``
   before it is sent, past the client's timeout (``injected.withheld``, ``withheld_credits``).

Lantern de-duplicates by ``record_id``: a request repeating a ``record_id`` it answered gets the
same answer again, not charged (``repeats_not_charged``).

Balance endpoints (free, never rate limited or charged, in the vendors' documented shapes; counted as
``balance_reads``, not ``requests``): Enrich Layer ``GET /api/v2/credit-balance`` -> ``{"credit_balance": n}``,
Crustdata ``GET /user/credits`` -> ``{"credits": n}``, LeadMagic ``GET /v1/credits`` -> ``{"credits": n, ...}``
with ``X-Credits-Remaining``. Lantern and Pronto document none; for Lantern the sandbox serves a stand-in,
``GET /v1/enrich/credits`` -> ``{"credits_remaining": n}`` (the field its error bodies carry), that only a config with
``providers.lantern.balance_path`` set reads: the way to exercise the check for a vendor whose account gives you
a balance endpoint the public documents do not.

Control endpoints: ``GET /_sandbox/stats``, ``GET|POST /_sandbox/config``,
``POST /_sandbox/reset`` (``{"config": true}`` also restores the initial config
and balances), ``GET /_sandbox/health``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from enrichment_assets.sandbox.state import (
    CRUSTDATA_API_VERSION,
    CRUSTDATA_FIELDS,
    RateDecision,
    SandboxState,
    VendorState,
)
from enrichment_assets.sandbox.world import Person, dashed, is_linkedin_profile_url, linkedin_slug

# Paths each vendor is served at (all on the sandbox's one origin).
VENDOR_PATHS: dict[str, tuple[str, ...]] = {
    "enrichlayer": ("/api/v2/contact-api/personal-contact",),
    "lantern": ("/v1/enrich/phone",),
    "crustdata": ("/person/contact/enrich",),
    "leadmagic": ("/v1/people/mobile-finder",),
    "pronto": ("/v2/contacts/single_enrich", "/v2/contacts/sync_single_enrich"),
}

#: Balance endpoints (GET), per vendor that documents one, and Lantern's stand-in (not in its documents).
BALANCE_PATHS: dict[str, str] = {
    "enrichlayer": "/api/v2/credit-balance",
    "crustdata": "/user/credits",
    "leadmagic": "/v1/credits",
    "lantern": "/v1/enrich/credits",  # one sandbox host serves every vendor: LeadMagic has /v1/credits
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MISSING = object()


class Reject(Exception):
    """Raised while parsing a request: answer ``response`` (already in the vendor's format)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class Ctx:
    request_id: str
    started: float
    decision: RateDecision | None = None


@dataclass
class Outcome:
    """The answer to a valid request, before charging."""

    body: Any
    credits: int = 0
    found: bool = False
    status: int = 200


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _text(value: Any) -> str | None:
    """A non-empty stripped string, else None (vendors treat ``""`` and non-strings as absent)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


class VendorAPI:
    """The request pipeline shared by all vendors; subclasses supply auth, parsing, lookup and formats."""

    name = ""
    key_header: str | None = None   # the header carrying the API key; None: "Authorization: Bearer <key>"

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # -- hooks ---------------------------------------------------------------

    def api_key(self, request: Request) -> str | None:
        if self.key_header is None:
            return _bearer(request)
        return (request.headers.get(self.key_header) or "").strip() or None

    async def parse(self, request: Request, ctx: Ctx) -> Any:
        raise NotImplementedError

    def lookup(self, parsed: Any, vs: VendorState, ctx: Ctx) -> Outcome:
        """The answer and its price (pure: nothing is charged or counted here)."""
        raise NotImplementedError

    def required_credits(self, parsed: Any, outcome: Outcome, vs: VendorState) -> int:
        """Worst-case cost of the request; a balance below it gets the out-of-credits error."""
        raise NotImplementedError

    def repeat_key(self, parsed: Any) -> str | None:
        """For a vendor that de-duplicates by an id the caller sends: that id (a repeat is answered, not charged)."""
        return None

    def error(self, status: int, code: str, message: str, ctx: Ctx, **extra: Any) -> Response:
        raise NotImplementedError

    def out_of_credits(self, required: int, vs: VendorState, ctx: Ctx) -> Response:
        return self.error(vs.config.out_of_credits_status, "insufficient_credits", "Insufficient credits", ctx,
                          credits_required=required, credits_remaining=vs.balance)

    def rate_limited(self, decision: RateDecision, ctx: Ctx) -> Response:
        return self.error(429, "rate_limited", "Rate limit exceeded", ctx, retry_after=decision.retry_after)

    def extra_headers(self, vs: VendorState, ctx: Ctx, response: Response, charged: int | None) -> None:
        """Headers every response of this vendor carries (rate-limit and credit headers)."""

    # -- pipeline --------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        vs = self.state.vendor(self.name)
        counters = vs.counters
        counters["requests"] += 1
        counters["in_flight"] += 1
        counters["max_in_flight"] = max(counters["max_in_flight"], counters["in_flight"])
        ctx = Ctx(self.state.next_request_id(self.name), time.perf_counter())
        charged: int | None = None
        try:
            response, charged = await self._handle(request, vs, ctx)
        finally:
            vs.counters["in_flight"] -= 1
        self.extra_headers(vs, ctx, response, charged)
        with self.state.lock:  # stats() may be copying this dict from another thread
            by_status = vs.counters["by_status"]
            by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
        return response

    async def _handle(self, request: Request, vs: VendorState, ctx: Ctx) -> tuple[Response, int | None]:
        key = self.api_key(request)
        expected = vs.config.api_key
        if not key or (expected is not None and not hmac.compare_digest(key.encode(), expected.encode())):
            return self.error(401, "unauthorized", "Invalid or missing API key", ctx), None

        decision = ctx.decision = vs.limiter.check()
        if not decision.allowed:
            vs.counters["rate_limited"] += 1
            response = self.rate_limited(decision, ctx)
            if vs.config.retry_after_header:
                response.headers["Retry-After"] = str(decision.retry_after)
            return response, None

        try:
            parsed = await self.parse(request, ctx)
        except Reject as reject:
            return reject.response, None

        fault = vs.draw_fault()
        gate = vs.gate
        async with gate if gate is not None else contextlib.nullcontext():
            vs.counters["processing"] += 1
            vs.counters["max_processing"] = max(vs.counters["max_processing"], vs.counters["processing"])
            try:
                return await self._process(parsed, vs, ctx, fault)
            finally:
                vs.counters["processing"] -= 1

    async def _process(self, parsed: Any, vs: VendorState, ctx: Ctx,
                       fault: str | None) -> tuple[Response, int | None]:
        delay = vs.draw_latency()
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None:
            vs.counters["injected"][fault] += 1
        if fault == "hang":
            await asyncio.sleep(vs.config.faults.hang_seconds)
            return self.error(500, "internal_error", "Internal server error", ctx), None
        if fault == "error":
            return self.error(500, "internal_error", "Internal server error", ctx), None
        if fault == "unavailable":
            return self.error(503, "unavailable", "Enrichment failed, please retry", ctx), None

        # No await from here on: the balance check and the charge are atomic on the event loop.
        repeat = self.repeat_key(parsed)
        if repeat is not None and repeat in vs.answered:
            vs.counters["repeats_not_charged"] += 1
            body, status = vs.answered[repeat]
            return JSONResponse(body, status), 0
        outcome = self.lookup(parsed, vs, ctx)
        required = self.required_credits(parsed, outcome, vs)
        if not vs.can_afford(required):
            return self.out_of_credits(required, vs, ctx), None
        if fault == "malformed":
            text = json.dumps(outcome.body)
            return Response(text[: max(1, len(text) // 2)], 200, media_type="application/json"), None
        if not self.state.charge(self.name, outcome.credits):  # pragma: no cover - guarded by required
            return self.out_of_credits(outcome.credits, vs, ctx), None
        if outcome.found:
            vs.counters["found"] += 1
        if repeat is not None:
            vs.answered[repeat] = (outcome.body, outcome.status)
        if outcome.credits and vs.draw_withhold():
            vs.counters["injected"]["withheld"] += 1
            vs.counters["withheld_credits"] += outcome.credits
            await asyncio.sleep(vs.config.faults.withhold_seconds)
        return JSONResponse(outcome.body, outcome.status), outcome.credits

    # -- helpers -------------------------------------------------------------------

    @staticmethod
    async def json_body(request: Request) -> Any:
        """The parsed JSON body, or ``_MISSING`` when it is not JSON."""
        raw = await request.body()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _MISSING

    @property
    def world(self):
        return self.state.world


# ---------------------------------------------------------------------------
# Enrich Layer: GET /api/v2/contact-api/personal-contact
# ---------------------------------------------------------------------------


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

    def required_credits(self, parsed: _EnrichLayerQuery, outcome: Outcome, vs: VendorState) -> int:
        count = parsed.page_size or len(outcome.body.get("numbers", ()))
        return max(1, count) * vs.config.price_per_number


# ---------------------------------------------------------------------------
# Lantern: POST /v1/enrich/phone
# ---------------------------------------------------------------------------


class LanternAPI(VendorAPI):
    """Cascade name+company/domain, then linkedin_id (a slug), then email; one phone (E.164) or null.

    The document's order: name + company first, so of two namesakes at one company (the world has some) the one
    on file first answers for both. The LinkedIn fallback matches only a profile Lantern has on file (~80%).

    Price: ``price_per_call`` (0) + ``price_per_found`` (1) when a phone is
    found. Insufficient credit is a 400 carrying ``credits_required`` and
    ``credits_remaining``. Validation errors are FastAPI-style 422s.
    """

    name = "lantern"

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
        if body is _MISSING:
            raise self._unprocessable({"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"})
        if not isinstance(body, dict):
            raise self._unprocessable({"type": "model_attributes_type", "loc": ["body"],
                                       "msg": "Input should be a valid dictionary or object to extract fields from"})
        record_id = body.get("record_id", _MISSING)
        if record_id is _MISSING or record_id is None:
            raise self._unprocessable({"type": "missing", "loc": ["body", "record_id"], "msg": "Field required"})
        if not isinstance(record_id, str):
            raise self._unprocessable({"type": "string_type", "loc": ["body", "record_id"],
                                       "msg": "Input should be a valid string"})
        if not record_id.strip():
            raise self._unprocessable({"type": "string_too_short", "loc": ["body", "record_id"],
                                       "msg": "String should have at least 1 character"})
        has_name = _text(body.get("first_name")) and _text(body.get("last_name")) and (
            _text(body.get("company")) or _text(body.get("domain")))
        if not (has_name or _text(body.get("linkedin_id")) or _text(body.get("email"))):
            raise self._unprocessable({
                "type": "value_error", "loc": ["body"],
                "msg": "Value error, Must provide at least one of: first_name + last_name + company (or domain), "
                       "linkedin_id, or email"})
        return body

    def required_credits(self, parsed: dict[str, Any], outcome: Outcome, vs: VendorState) -> int:
        return vs.config.price_per_call + vs.config.price_per_found

    def repeat_key(self, parsed: dict[str, Any]) -> str | None:
        # "record_id: used for caching and duplicate detection" (the vendor's document).
        return parsed["record_id"]

    def _find(self, body: dict[str, Any]) -> Person | None:
        world = self.world
        first, last = _text(body.get("first_name")), _text(body.get("last_name"))
        company, domain = _text(body.get("company")), _text(body.get("domain"))
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
        slug = _text(body.get("linkedin_id"))
        if slug:
            # A slug, as documented; a full URL is not a slug and matches nothing. Only a profile Lantern has on
            # file matches (knowledge.linkedin_slug: ~80% of people).
            person = world.person_by_slug(slug)
            if person is not None and world.knowledge(self.name, person).linkedin_slug == person.linkedin_slug:
                return person
        email = _text(body.get("email"))
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


# ---------------------------------------------------------------------------
# Crustdata: POST /person/contact/enrich
# ---------------------------------------------------------------------------


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
            if key == "business_emails" and not _EMAIL.match(ident.strip()):
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


# ---------------------------------------------------------------------------
# LeadMagic: POST /v1/people/mobile-finder
# ---------------------------------------------------------------------------


class LeadMagicAPI(VendorAPI):
    """Mobiles only, dashed; 5 credits when found, 0 otherwise; 402 when the balance is below 5."""

    name = "leadmagic"
    key_header = "x-api-key"   # header names are case-insensitive
    FOUND = "Mobile number found."
    NOT_FOUND = "No mobile number found for this contact."
    _TITLES: ClassVar[dict[int, str]] = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
                                         429: "Too Many Requests", 500: "Internal Server Error",
                                         503: "Service Unavailable"}

    def error(self, status: int, code: str, message: str, ctx: Ctx, **extra: Any) -> Response:
        messages = {"insufficient_credits": "Insufficient credits. Add credits at https://app.leadmagic.io/billing.",
                    "unauthorized": "Missing or invalid API key.",
                    "rate_limited": "Rate limit exceeded. Check the Retry-After header for when to retry.",
                    "internal_error": "Internal server error. Wait 30 seconds and retry."}
        text = messages.get(code, message)
        slug = code.replace("_", "-")
        body = {
            "success": False,
            "message": text,
            "errors": [{"type": f"https://docs.leadmagic.io/errors/{slug}", "title": self._TITLES.get(status, "Error"),
                        "status": status, "code": code, "docs": f"https://docs.leadmagic.io/errors#{slug}"}],
            "meta": {"request_id": ctx.request_id},
        }
        return JSONResponse(body, status)

    def extra_headers(self, vs: VendorState, ctx: Ctx, response: Response, charged: int | None) -> None:
        decision = ctx.decision
        if decision is not None and decision.limit is not None:
            response.headers["RateLimit-Limit"] = str(decision.limit)
            response.headers["RateLimit-Remaining"] = str(decision.remaining)
            response.headers["RateLimit-Reset"] = str(decision.reset)
        if charged is not None:
            response.headers["X-Credits-Cost"] = str(charged)
        if vs.balance is not None:
            response.headers["X-Credits-Remaining"] = str(vs.balance)

    async def parse(self, request: Request, ctx: Ctx) -> dict[str, str | None]:
        bad = lambda msg: Reject(self.error(400, "bad_request", msg, ctx))  # noqa: E731
        body = await self.json_body(request)
        if not isinstance(body, dict):
            raise bad("Request body must be a JSON object.")
        fields = {k: body.get(k) for k in ("profile_url", "work_email", "personal_email")}
        for key, value in fields.items():
            if value is not None and not isinstance(value, str):
                raise bad(f"{key} must be a string.")
        clean = {k: _text(v) for k, v in fields.items()}
        if not any(clean.values()):
            raise bad("You must provide at least one identifier: profile_url, work_email, or personal_email.")
        if clean["profile_url"] and linkedin_slug(clean["profile_url"]) is None:
            raise bad("Invalid profile_url: expected a profile URL or username.")
        for key in ("work_email", "personal_email"):
            if clean[key] and not _EMAIL.match(clean[key]):
                raise bad(f"Invalid {key} format.")
        return clean

    def required_credits(self, parsed: dict[str, str | None], outcome: Outcome, vs: VendorState) -> int:
        return vs.config.price_per_found

    def lookup(self, parsed: dict[str, str | None], vs: VendorState, ctx: Ctx) -> Outcome:
        world = self.world
        person = (world.person_by_linkedin(parsed["profile_url"]) if parsed["profile_url"] else None) \
            or world.person_by_email(parsed["work_email"]) or world.person_by_email(parsed["personal_email"])
        mobile = world.knowledge(self.name, person).mobile if person else None
        credits = vs.config.price_per_found if mobile else 0
        body = {
            "profile_url": parsed["profile_url"],
            "email": parsed["work_email"] or parsed["personal_email"],
            "mobile_number": dashed(mobile) if mobile else None,
            "credits_consumed": credits,
            "message": self.FOUND if mobile else self.NOT_FOUND,
        }
        return Outcome(body, credits=credits, found=mobile is not None)


# ---------------------------------------------------------------------------
# Pronto: POST /v2/contacts/single_enrich (alias /v2/contacts/sync_single_enrich)
# ---------------------------------------------------------------------------

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
        if body is _MISSING:
            raise Reject(self.error(400, "invalid_request", "Invalid JSON body", ctx))
        if not isinstance(body, dict):
            raise invalid("Request body must be a JSON object")
        for key in ("firstname", "lastname"):
            if not _text(body.get(key)):
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
        if ("phone" in types or "personal_email" in types) and not _text(body.get("linkedin_url")):
            raise invalid("linkedin_url is required when enrichment_type includes 'phone' or 'personal_email'")
        if _text(body.get("linkedin_url")) and linkedin_slug(body["linkedin_url"]) is None:
            raise invalid("linkedin_url is not a valid LinkedIn profile URL")
        webhook = _text(body.get("webhook_url"))
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
        if _text(body.get("linkedin_url")):
            return world.person_by_linkedin(body["linkedin_url"])
        first, last = _text(body.get("firstname")), _text(body.get("lastname"))
        return (world.person_by_name_domain(first, last, _text(body.get("domain")))
                or world.person_by_name_company(first, last, _text(body.get("company_name"))))

    def lookup(self, parsed: dict[str, Any], vs: VendorState, ctx: Ctx) -> Outcome:
        cfg = vs.config
        types = parsed["enrichment_type"]
        person = self._find(parsed)
        known = self.world.knowledge(self.name, person) if person else None
        body: dict[str, Any] = {
            "enrichment_id": str(uuid.uuid4()),
            "first_name": _text(parsed.get("firstname")),
            "last_name": _text(parsed.get("lastname")),
            "linkedin_profile_url": person.linkedin_url if person else _text(parsed.get("linkedin_url")),
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


def _balance_body(vendor: str, credits: int) -> Any:
    if vendor == "enrichlayer":
        return {"credit_balance": credits}
    if vendor == "leadmagic":
        return {"credits": credits, "is_frozen": False, "credits_frozen": 0, "credits_liquid": credits,
                "credit_freeze_message": None, "credit_freeze_plan_hint": None}
    if vendor == "lantern":
        return {"success": True, "credits_remaining": credits}
    return {"credits": credits}


def balance_endpoint(api: VendorAPI):
    """The vendor's free balance read: its own auth, its documented shape, the sandbox's live balance."""

    async def endpoint(request: Request) -> Response:
        state, vendor = api.state, api.name
        vs = state.vendor(vendor)
        with state.lock:
            vs.counters["balance_reads"] += 1
        key = api.api_key(request)
        expected = vs.config.api_key
        if not key or (expected is not None and not hmac.compare_digest(key.encode(), expected.encode())):
            if vendor == "crustdata":  # the credits page documents its own 401 body
                return JSONResponse({"message": "Invalid API key in request" if key else
                                     "Missing API key in request"}, 401)
            return api.error(401, "unauthorized", "Invalid or missing API key",
                             Ctx(state.next_request_id(vendor), time.perf_counter()))
        credits = state.reported_balance(vendor)
        response = JSONResponse(_balance_body(vendor, credits))
        if vendor == "leadmagic":
            response.headers["X-Credits-Remaining"] = str(credits)
        return response

    return endpoint


VENDOR_APIS: dict[str, type[VendorAPI]] = {
    cls.name: cls for cls in (EnrichLayerAPI, LanternAPI, CrustdataAPI, LeadMagicAPI, ProntoAPI)
}

# ---------------------------------------------------------------------------
# App and control endpoints
# ---------------------------------------------------------------------------


def create_app(state: SandboxState) -> Starlette:
    """The sandbox ASGI app over ``state`` (``app.state.sandbox`` is the state)."""

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def get_config(request: Request) -> Response:
        return JSONResponse(state.config.public_dump())

    async def patch_config(request: Request) -> Response:
        try:
            patch = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, 400)
        if not isinstance(patch, dict):
            return JSONResponse({"error": "body must be a JSON object"}, 400)
        try:
            config = state.patch_config(patch)
        except ValidationError as exc:
            errors = [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            return JSONResponse({"error": "invalid config", "errors": errors}, 400)
        return JSONResponse(config.public_dump())

    async def reset(request: Request) -> Response:
        raw = await request.body()
        try:
            options = json.loads(raw) if raw.strip() else {}
        except ValueError:
            options = {}
        flag = request.query_params.get("config", "").lower() in ("1", "true", "yes")
        state.reset(restore_config=flag or bool(isinstance(options, dict) and options.get("config")))
        return JSONResponse(state.stats())

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "world_size": len(state.world)})

    async def index(request: Request) -> Response:
        return JSONResponse({"sandbox": "enrichment_assets vendor sandbox",
                             "vendors": {k: list(v) for k, v in VENDOR_PATHS.items()}})

    routes = [Route("/", index), Route("/_sandbox/health", health), Route("/_sandbox/stats", stats),
              Route("/_sandbox/config", get_config, methods=["GET"]),
              Route("/_sandbox/config", patch_config, methods=["POST", "PATCH"]),
              Route("/_sandbox/reset", reset, methods=["POST"])]
    for vendor, paths in VENDOR_PATHS.items():
        api = VENDOR_APIS[vendor](state)
        method = "GET" if vendor == "enrichlayer" else "POST"
        routes.extend(Route(path, api.endpoint, methods=[method]) for path in paths)
        if vendor in BALANCE_PATHS:
            routes.append(Route(BALANCE_PATHS[vendor], balance_endpoint(api), methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return app
