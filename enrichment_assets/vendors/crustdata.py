"""Crustdata — Person Contact Enrich (docs/vendors.md#crustdata--person-contact-enrich).

``POST /person/contact/enrich``, ``Authorization: Bearer <key>``, ``x-api-version: 2025-11-01``,
JSON ``{"professional_network_profile_urls": [...] | "business_emails": [...], "fields": [...]}``
with up to 25 identifiers of ONE kind. Answer: an array, one element per identifier,
``{matched_on, match_type, matches: [{confidence_score, person_data: {contact: {phone_numbers}}}]}``;
an unmatched identifier has ``matches: []``. Phone numbers come with dashes (``+1-555-0100``)
and are kept exactly as written. The vendor does not report credits: ``vendor_credits`` is
``None`` and the engine prices a result by rule (``per_match`` + ``per_field`` when ``matched``).
403 is both "no contact-enrich access" (unavailable) and "insufficient credits": the body decides.

Identifier: the LinkedIn URL; a lead without one but with a business email (any domain that
is not free mail) is looked up by ``business_emails``. A batch never mixes the two kinds, and
an identifier repeated inside one call is sent once (every lead asking for it gets the answer).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from enrichment_assets.leads.model import Lead
from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.vendors.base import (
    Attempt,
    CallStatus,
    PhoneClaim,
    VendorResult,
    dedupe_exact,
    email_kind,
    request_fingerprint,
)
from enrichment_assets.vendors.client import VendorClient, logger
from enrichment_assets.vendors.errors import looks_like_credit_problem
from enrichment_assets.vendors.exchange import Exchange, ExchangeKind, Request

API_VERSION = "2025-11-01"
MAX_BATCH = 25
URLS = "professional_network_profile_urls"
EMAILS = "business_emails"
DEFAULT_FIELDS = ["contact.phone_numbers"]
#: The contact sub-fields of this endpoint; ``contact`` asks for all of them (and is priced as all of them).
CONTACT = "contact"
CONTACT_FIELDS: tuple[str, ...] = (
    "contact.phone_numbers", "contact.personal_emails", "contact.business_emails", "contact.websites",
)


def priced_fields(fields: list[str] | None) -> list[str]:
    """The sub-fields a request for ``fields`` pays for: ``contact`` is every contact sub-field, each counted once."""
    expanded: list[str] = []
    for name in fields or DEFAULT_FIELDS:
        expanded.extend(CONTACT_FIELDS if name == CONTACT else (name,))
    return list(dict.fromkeys(expanded))


def fields_problems(fields: list[str] | None, per_field: dict[str, float]) -> list[str]:
    """Why ``fields`` cannot be priced with ``per_field`` (empty when it can): a field this endpoint does not
    return (the vendor answers 400), or a requested field without a price (it would be booked at 0)."""
    problems = []
    unknown = [f for f in (fields or []) if f != CONTACT and f not in CONTACT_FIELDS]
    if unknown:
        problems.append(f"fields {unknown} are not contact fields of this endpoint; valid: "
                        f"{[CONTACT, *CONTACT_FIELDS]}")
    unpriced = [f for f in priced_fields(fields) if f in CONTACT_FIELDS and f not in per_field]
    if unpriced:
        asked = ", ".join(fields or DEFAULT_FIELDS)
        problems.append(f"pricing.per_field has no price for {unpriced} (asked for by fields: [{asked}]); "
                        "give each its price in credits")
    return problems
#: How long a partial batch waits for company (config ``batch_wait_seconds``): few requests a minute are allowed.
DEFAULT_BATCH_WAIT_SECONDS = 5.0


def _match_key(id_type: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    if id_type == URLS:
        for prefix in ("https://", "http://"):
            if v.startswith(prefix):
                v = v[len(prefix):]
        if v.startswith("www."):
            v = v[4:]
        v = v.rstrip("/")
    return v


class CrustdataClient(VendorClient):
    name = "crustdata"
    default_base_url = "https://api.crustdata.com"
    default_endpoint = "/person/contact/enrich"
    method = "POST"

    # ------------------------------------------------------------------ batching (vendors/batching.py)

    @property
    def batch_size(self) -> int:
        return max(1, min(MAX_BATCH, self.config.batch_size or MAX_BATCH))

    @property
    def batch_wait_seconds(self) -> float:
        wait = self.config.batch_wait_seconds
        return DEFAULT_BATCH_WAIT_SECONDS if wait is None else wait

    def batch_key(self, lead: Lead) -> str:
        """The identifier kind: a request never mixes LinkedIn URLs and business emails."""
        ident = self.identifier(lead)
        return ident[0] if ident else ""

    @classmethod
    def config_problems(cls, config: ProviderConfig) -> list[str]:
        return fields_problems(config.fields, config.pricing.per_field)

    @property
    def fields(self) -> list[str]:
        return list(dict.fromkeys(self.config.fields or DEFAULT_FIELDS))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key.get_secret_value()}", "x-api-version": API_VERSION}

    # ------------------------------------------------------------------ identity

    def identifier(self, lead: Lead) -> tuple[str, str] | None:
        """``(identifier kind, value)``: the LinkedIn URL, else a business email; ``None`` if neither."""
        if lead.linkedin_url:
            return URLS, lead.linkedin_url
        if lead.email and email_kind(lead.email, lead.domain) == "work":
            return EMAILS, lead.email.strip().lower()
        return None

    def ineligible_reason(self, lead: Lead) -> str | None:
        return None if self.identifier(lead) else "needs a LinkedIn URL or a business email"

    def _identity(self, id_type: str, value: str) -> dict[str, Any]:
        # fields change both the answer and its cost.
        return {"identifier_type": id_type, "identifier": value, "fields": sorted(self.fields)}

    def request_identity(self, lead: Lead) -> dict[str, Any]:
        ident = self.identifier(lead)
        if ident is None:
            raise ValueError(f"{self.name}: lead {lead.record_id!r} has no usable identifier")
        return self._identity(*ident)

    # ------------------------------------------------------------------ calls

    async def lookup(self, lead: Lead) -> VendorResult:
        """One lead, as a batch of one."""
        return (await self.lookup_batch([lead]))[0]

    async def lookup_batch(self, leads: list[Lead]) -> list[VendorResult]:
        """Results aligned with ``leads``; HTTP requests of at most ``batch_size`` distinct identifiers of one kind."""
        results: list[VendorResult | None] = [None] * len(leads)
        groups: dict[str, dict[str, list[int]]] = {}
        for i, lead in enumerate(leads):
            ident = self.identifier(lead)
            if ident is None:
                results[i] = self._ineligible("needs a LinkedIn URL or a business email")
            elif self.stopped is not None:
                results[i] = self._short_circuit()
            else:
                groups.setdefault(ident[0], {}).setdefault(ident[1], []).append(i)
        jobs: list[tuple[str, list[str]]] = []
        for id_type, by_value in groups.items():
            values = list(by_value)
            for start in range(0, len(values), self.batch_size):
                jobs.append((id_type, values[start : start + self.batch_size]))
        answers = await asyncio.gather(*(self._run_chunk(id_type, values) for id_type, values in jobs))
        for (id_type, values), answer in zip(jobs, answers, strict=True):
            for value in values:
                for n, i in enumerate(groups[id_type][value]):
                    result = answer[value]
                    results[i] = result if n == 0 else dataclasses.replace(
                        result, phones=list(result.phones), attempts=list(result.attempts)
                    )
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _error_status(self, exchange: Exchange, message: str) -> CallStatus:
        if exchange.status_code == 403:
            # Both "no contact-enrich access" and "insufficient credits" are 403s: read the body.
            return CallStatus.OUT_OF_CREDITS if looks_like_credit_problem(message) else CallStatus.UNAVAILABLE
        return super()._error_status(exchange, message)

    async def _run_chunk(self, id_type: str, values: list[str], earlier: tuple[Attempt, ...] = ()
                         ) -> dict[str, VendorResult]:
        """Ask for ``values`` in one request. A 400 is the vendor refusing the whole request for a malformed
        identifier (nothing charged): the request is split in halves, and so on, until the identifiers it refuses
        alone are found; only they end with its error. ``earlier``: the refused requests that led here."""
        fingerprints = [request_fingerprint(self.name, self.endpoint, self._identity(id_type, v)) for v in values]
        request = Request(method=self.method, fingerprints=fingerprints, json={id_type: values, "fields": self.fields})
        outcome = await self._execute(request)
        outcome.attempts = [*earlier, *outcome.attempts]
        final = outcome.final
        if len(values) > 1 and final.kind is ExchangeKind.DONE and final.status_code == 400:
            half = len(values) // 2
            logger.info("%s: HTTP 400 for a request of %d identifiers: asking again in halves to find the ones it "
                        "refuses", self.name, len(values))
            left, right = await asyncio.gather(self._run_chunk(id_type, values[:half], tuple(outcome.attempts)),
                                               self._run_chunk(id_type, values[half:], tuple(outcome.attempts)))
            return {**left, **right}
        failed = self._failure_result(outcome)
        if failed is not None:
            return {v: dataclasses.replace(failed, attempts=list(failed.attempts)) for v in values}
        results = self._read_chunk(id_type, values, outcome.final, outcome.attempts)
        return dict(zip(values, results, strict=True))

    def read_answer(self, request: Request, final: Exchange) -> list[VendorResult]:
        """A kept batch answer read again: one result per identifier of the request, in its order."""
        sent = request.json if isinstance(request.json, dict) else {}
        id_type = URLS if URLS in sent else EMAILS
        values = [v for v in sent.get(id_type) or [] if isinstance(v, str)]
        if len(values) != len(request.fingerprints):
            problem = "the kept request does not name one identifier per fingerprint"
            return [self._unreadable(final, [], problem, None) for _ in request.fingerprints]
        return self._read_chunk(id_type, values, final, [])

    def _read_chunk(self, id_type: str, values: list[str], final: Exchange, attempts: list) -> list[VendorResult]:
        """One result per identifier: its element of the answer (matched back by ``matched_on``)."""
        body = final.body
        if not isinstance(body, list):
            return [self._unreadable(final, attempts, f"expected an array, got {type(body).__name__}", body)
                    for _ in values]
        by_key: dict[str, Any] = {}
        for element in body:
            if isinstance(element, dict):
                key = _match_key(id_type, element.get("matched_on"))
                if key is not None:
                    by_key.setdefault(key, element)
        positional = len(body) == len(values) and not by_key

        out: list[VendorResult] = []
        for n, value in enumerate(values):
            element = by_key.get(_match_key(id_type, value) or "")
            if element is None and positional:
                element = body[n]
            if element is None:
                out.append(self._unreadable(final, attempts, "no element for this identifier in the answer", None))
                continue
            out.append(self._element_result(final, attempts, element))
        return out

    def _element_result(self, final: Exchange, attempts: list, element: Any) -> VendorResult:
        def bad(problem: str) -> VendorResult:
            return self._unreadable(final, attempts, problem, element)

        if not isinstance(element, dict):
            return bad(f"an element is a {type(element).__name__}")
        matches = element.get("matches")
        if matches is None:
            matches = []
        if not isinstance(matches, list):
            return bad("'matches' is not a list")
        if not matches:
            return VendorResult(
                provider=self.name,
                status=CallStatus.NOT_FOUND,
                matched=False,
                http_status=final.status_code,
                raw=self._scrub(element),
                attempts=list(attempts),
            )

        def score(match: Any) -> float:
            value = match.get("confidence_score") if isinstance(match, dict) else None
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

        best = max(matches, key=score)  # first of the best on a tie
        if not isinstance(best, dict):
            return bad("a match is not an object")
        person = best.get("person_data") or {}
        if not isinstance(person, dict):
            return bad("'person_data' is not an object")
        contact = person.get("contact") or {}
        if not isinstance(contact, dict):
            return bad("'contact' is not an object")
        numbers = contact.get("phone_numbers", person.get("phone_numbers")) or []
        if not isinstance(numbers, list):
            return bad("'phone_numbers' is not a list")
        claims: list[PhoneClaim] = []
        for item in numbers:
            if isinstance(item, str):
                if item.strip():
                    claims.append(PhoneClaim(item, None))
            elif isinstance(item, dict) and isinstance(item.get("number") or item.get("phone_number"), str):
                claims.append(PhoneClaim(item.get("number") or item.get("phone_number"), None))
            elif item is not None:
                return bad(f"a phone number is a {type(item).__name__}")
        return VendorResult(
            provider=self.name,
            status=CallStatus.FOUND if claims else CallStatus.NOT_FOUND,
            phones=dedupe_exact(claims),
            matched=True,
            http_status=final.status_code,
            raw=self._scrub(element),
            attempts=list(attempts),
        )
