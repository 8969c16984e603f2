"""LeadMagic, simulated: ``POST /v1/people/mobile-finder`` and ``GET /v1/credits``."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from enrichment_assets.sandbox.state import VendorState
from enrichment_assets.sandbox.vendor_api import EMAIL, Ctx, Outcome, Reject, VendorAPI, text_or_none
from enrichment_assets.sandbox.world import dashed, linkedin_slug


class LeadMagicAPI(VendorAPI):
    """Mobiles only, dashed; 5 credits when found, 0 otherwise; 402 when the balance is below 5."""

    name = "leadmagic"
    key_header = "x-api-key"   # header names are case-insensitive
    paths = ("/v1/people/mobile-finder",)
    balance_path = "/v1/credits"
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

    def balance_body(self, credits: int) -> Any:
        return {"credits": credits, "is_frozen": False, "credits_frozen": 0, "credits_liquid": credits,
                "credit_freeze_message": None, "credit_freeze_plan_hint": None}

    def balance_headers(self, response: Response, credits: int) -> None:
        response.headers["X-Credits-Remaining"] = str(credits)

    async def parse(self, request: Request, ctx: Ctx) -> dict[str, str | None]:
        bad = lambda msg: Reject(self.error(400, "bad_request", msg, ctx))  # noqa: E731
        body = await self.json_body(request)
        if not isinstance(body, dict):
            raise bad("Request body must be a JSON object.")
        fields = {k: body.get(k) for k in ("profile_url", "work_email", "personal_email")}
        for key, value in fields.items():
            if value is not None and not isinstance(value, str):
                raise bad(f"{key} must be a string.")
        clean = {k: text_or_none(v) for k, v in fields.items()}
        if not any(clean.values()):
            raise bad("You must provide at least one identifier: profile_url, work_email, or personal_email.")
        if clean["profile_url"] and linkedin_slug(clean["profile_url"]) is None:
            raise bad("Invalid profile_url: expected a profile URL or username.")
        for key in ("work_email", "personal_email"):
            if clean[key] and not EMAIL.match(clean[key]):
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
