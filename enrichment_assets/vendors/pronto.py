"""Pronto — synchronous single contact enrichment (docs/vendors.md#pronto--synchronous-single-contact-enrichment).

``POST /v2/contacts/single_enrich`` (config ``path``; older docs say
``/v2/contacts/sync_single_enrich``), ``X-API-KEY: <key>``, JSON ``{firstname, lastname,
company_name, domain, linkedin_url, enrichment_type: [...], custom: {record_id}}``.
``phone`` and ``personal_email`` need ``linkedin_url``. The fingerprint reads names and company without
case, punctuation or legal form (``vendors/identity.py``). ``personal_email`` needs the
account's consent (else the vendor answers 422): it is sent only when config
``personal_email_consent`` is true, otherwise dropped from ``enrichment_type``.

Answer: ``{enrichment_id, status: success|error, phones, phone_status, custom, ...}``;
``phones`` are E.164 strings or ``{"number", "type"}`` objects (both accepted; an object's
``type`` becomes the claimed type). A 422 saying credits are short stops the provider.

A 422 refusing personal-email enrichment for want of the account's consent (the whole request is refused, its
phone part too) turns ``personal_email`` off for the rest of the run, says so once in the log, and the lead is
asked again without it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from enrichment_assets.leads.model import Lead
from enrichment_assets.vendors.base import (
    CallStatus,
    PhoneClaim,
    VendorResult,
    as_float,
    compact,
    dedupe_exact,
    request_fingerprint,
)
from enrichment_assets.vendors.client import logger
from enrichment_assets.vendors.errors import ShapeError, StopProvider, looks_like_credit_problem, vendor_message
from enrichment_assets.vendors.exchange import Exchange, Request
from enrichment_assets.vendors.identity import company_key, domain_key, name_key
from enrichment_assets.vendors.single_lead import SingleLeadClient

DEFAULT_PATH = "/v2/contacts/single_enrich"
#: Words of the 422 the document quotes when personal_email is asked without the account's consent.
CONSENT_WORDS = ("personal email", "consent")


class ProntoClient(SingleLeadClient):
    name = "pronto"
    default_base_url = "https://api.prontohq.com"
    default_endpoint = DEFAULT_PATH
    method = "POST"

    @property
    def endpoint(self) -> str:
        path = self.config.path or DEFAULT_PATH
        return path if path.startswith("/") else "/" + path

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The vendor refused personal_email for want of consent during this run (config said there was).
        self.consent_refused = False
        #: The vendor answered a request with personal_email: consent is real, requests may go in parallel.
        self._consent_seen = False
        #: Until then, one request with personal_email at a time: a refusal costs one request, not one per lead.
        self._consent_probe = asyncio.Lock()

    @property
    def enrichment_types(self) -> list[str]:
        """``enrichment_type`` as sent: config order, ``personal_email`` only with consent."""
        wanted = list(self.config.enrichment_type or ["phone"])
        if not self.config.personal_email_consent or self.consent_refused:
            wanted = [t for t in wanted if t != "personal_email"]
        return list(dict.fromkeys(wanted))

    async def lookup(self, lead: Lead) -> VendorResult:
        if "personal_email" not in self.enrichment_types or self._consent_seen:
            return await self._lookup_once(lead)
        async with self._consent_probe:
            return await self._lookup_once(lead)

    async def _lookup_once(self, lead: Lead) -> VendorResult:
        asked_personal_email = "personal_email" in self.enrichment_types
        result = await super().lookup(lead)
        if not (asked_personal_email and self._refuses_consent(result)):
            if asked_personal_email and result.http_status is not None and 200 <= result.http_status < 300:
                self._consent_seen = True
            return result
        if not self.consent_refused:
            self.consent_refused = True
            logger.warning("%s: the account has not consented to personal-email enrichment (HTTP 422): personal_email "
                           "is no longer asked for in this run, and the leads it refused are asked again without it. "
                           "Consent in Pronto's account settings, or set providers.pronto.personal_email_consent: "
                           "false", self.name)
        again = await super().lookup(lead)
        return dataclasses.replace(again, attempts=[*result.attempts, *again.attempts])

    @staticmethod
    def _refuses_consent(result: VendorResult) -> bool:
        if result.http_status != 422 or result.status is not CallStatus.ERROR:
            return False
        message = vendor_message(result.raw if isinstance(result.raw, dict) else None,
                                 result.raw if isinstance(result.raw, str) else "").lower()
        return all(word in message for word in CONSENT_WORDS)

    def _headers(self) -> dict[str, str]:
        return {"X-API-KEY": self._key.get_secret_value()}

    def ineligible_reason(self, lead: Lead) -> str | None:
        types = self.enrichment_types
        if not types:
            return "no enrichment type left to request (personal_email needs personal_email_consent)"
        missing = [f for f in ("first_name", "last_name") if not getattr(lead, f)]
        if ({"phone", "personal_email"} & set(types)) and not lead.linkedin_url:
            missing.append("linkedin_url")
        return f"missing {', '.join(missing)}" if missing else None

    def request_identity(self, lead: Lead) -> dict[str, Any]:
        # Everything sent except ``custom`` (echoed back, not part of the question), in the form the vendor's
        # matching reads it: names and company without case, punctuation or legal form (vendors/identity.py).
        return {
            **compact(
                {
                    "firstname": name_key(lead.first_name),
                    "lastname": name_key(lead.last_name),
                    "company_name": company_key(lead.company),
                    "domain": domain_key(lead.domain),
                    "linkedin_url": lead.linkedin_url,
                }
            ),
            "enrichment_type": sorted(self.enrichment_types),
        }

    def legacy_fingerprints(self, lead: Lead) -> list[str]:
        """The fingerprint this question had before its identity was normalized: answers stored under it are
        still this question's answers."""
        legacy = {**compact({"firstname": lead.first_name, "lastname": lead.last_name, "company_name": lead.company,
                             "domain": lead.domain, "linkedin_url": lead.linkedin_url}),
                  "enrichment_type": sorted(self.enrichment_types)}
        return [request_fingerprint(self.name, self.endpoint, legacy)]

    def build_request(self, lead: Lead, identity: dict[str, Any], fingerprint: str) -> Request:
        # The lead's own text is sent; the normalized identity only decides what counts as the same question.
        body: dict[str, Any] = compact({"firstname": lead.first_name, "lastname": lead.last_name,
                                        "company_name": lead.company, "domain": lead.domain,
                                        "linkedin_url": lead.linkedin_url})
        body["enrichment_type"] = self.enrichment_types
        body["custom"] = {"record_id": lead.record_id}
        return Request(method=self.method, fingerprints=[fingerprint], json=body)

    def _attempt_credits(self, exchange: Exchange) -> float | None:
        # The documented answer has no cost field; take one if the vendor sends it.
        if exchange.ok and isinstance(exchange.body, dict):
            for key in ("credits_consumed", "credits_used", "credits_charged"):
                value = as_float(exchange.body.get(key))
                if value is not None:
                    return value
        return None

    def count_emails(self, body: Any) -> tuple[int, int]:
        if not isinstance(body, dict):
            return 0, 0
        def present(key: str) -> int:
            value = body.get(key)
            return int(isinstance(value, str) and bool(value.strip()))
        return present("email"), present("personal_email")

    def parse_success(self, body: Any, exchange: Exchange) -> tuple[list[PhoneClaim], float | None]:
        if not isinstance(body, dict):
            raise ShapeError(f"expected an object, got {type(body).__name__}")
        phones = body.get("phones")
        if phones is None:
            phones = []
        if not isinstance(phones, list):
            raise ShapeError("'phones' is not a list")
        claims: list[PhoneClaim] = []
        for item in phones:
            if isinstance(item, str):
                if item.strip():
                    claims.append(PhoneClaim(item, None))
            elif isinstance(item, dict):
                number = item.get("number") or item.get("phone") or item.get("e164")
                if not isinstance(number, str):
                    raise ShapeError("a phone object has no 'number'")
                kind = item.get("type")
                claims.append(PhoneClaim(number, kind if isinstance(kind, str) and kind else None))
            elif item is not None:
                raise ShapeError(f"a phone is a {type(item).__name__}")
        if not claims and body.get("status") == "error" and looks_like_credit_problem(vendor_message(body)):
            raise StopProvider(CallStatus.OUT_OF_CREDITS, "status=error: " + vendor_message(body))
        return dedupe_exact(claims), self._attempt_credits(exchange)
