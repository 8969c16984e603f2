"""Lantern — Phone Enrichment (docs/vendors.md#lantern--phone-enrichment).

``POST /v1/enrich/phone``, ``Authorization: Bearer <key>``, JSON body with ``record_id``
(required) and any of ``first_name, last_name, company, domain, email, linkedin_id``
(the LinkedIn *slug*). Answer ``{success, record_id, ..., phone}``: one E.164 number or null.
Errors: ``{success: false, error, details, request_id, credits_required,
credits_remaining, retry_after}``; 422 is FastAPI's ``{"detail": [{loc, msg, type}]}``.
An insufficient-credit error (a 400 carrying ``credits_required``/``credits_remaining``)
stops the provider; a 429 waits for the body's ``retry_after`` when no header says.

``record_id``: Lantern caches and deduplicates by it and wants it unique per contact. A
lead's own ``record_id`` is unique only inside its list (lists reuse ``1, 2, 3 ...``), and a
changed row keeps its id: both could return another person's or a stale cached answer.
So the client sends ``lr_<first 32 hex of the request fingerprint>`` by default (the fingerprint reads names,
company and domain without case, punctuation or legal form: ``vendors/identity.py``)
(``record_id_source="fingerprint"``): the same question gets the same id, a different one
a different id. ``record_id_source="lead"`` sends the lead's ``record_id`` instead.

Namesakes: the vendor matches by name + company first, the LinkedIn id only when that fails, the email last. Two
people of the same name at the same company are one person to it. So a lead with a namesake at its company among
the leads the project holds (``know_namesakes``) is asked by its LinkedIn slug alone, else its email alone
(config ``unique_id_only: namesakes``, the default); ``always`` does so for every lead that has one, ``never``
sends everything the lead has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from enrichment_assets.leads.model import Lead
from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.vendors.base import AttemptJournal, PhoneClaim, compact, request_fingerprint
from enrichment_assets.vendors.errors import ShapeError, vendor_message
from enrichment_assets.vendors.exchange import Exchange, Request
from enrichment_assets.vendors.identity import company_key, domain_key, name_key
from enrichment_assets.vendors.single_lead import SingleLeadClient

if TYPE_CHECKING:  # leads/namesakes.py reads vendors/identity.py: a run-time import would be a cycle
    from enrichment_assets.leads.namesakes import Namesakes


class LanternClient(SingleLeadClient):
    name = "lantern"
    default_base_url = "https://api.withlantern.com"
    default_endpoint = "/v1/enrich/phone"
    method = "POST"

    def __init__(
        self,
        config: ProviderConfig,
        api_key: str,
        base_url: str | None = None,
        journal: AttemptJournal | None = None,
        *,
        record_id_source: Literal["fingerprint", "lead"] = "fingerprint",
        **kwargs: Any,
    ) -> None:
        if record_id_source not in ("fingerprint", "lead"):
            raise ValueError("record_id_source must be 'fingerprint' or 'lead'")
        self.record_id_source = record_id_source
        self._namesakes: Namesakes | None = None  # none known: no lead has a namesake
        super().__init__(config, api_key, base_url, journal, **kwargs)

    @property
    def repeats_billed_once(self) -> bool:
        # The vendor de-duplicates by record_id; ours is derived from the question, so asking the same question
        # again (after a timeout, say) is recognised as the same record and not billed twice.
        return self.record_id_source == "fingerprint"

    def know_namesakes(self, namesakes: Namesakes) -> None:
        """The name keys shared by several people among the leads the project holds (any list)."""
        self._namesakes = namesakes

    def _unique_id_only(self, lead: Lead) -> dict[str, str] | None:
        """The one identifier a lead is asked by when its name must not be sent (a namesake at its company, or
        ``unique_id_only: always``): its LinkedIn slug, else its email; ``None``: everything it has is sent."""
        mode = self.config.unique_id_only or "namesakes"
        if mode == "always" or (mode == "namesakes" and self._namesakes is not None
                                 and self._namesakes.has_namesake(lead)):
            if lead.linkedin_slug:
                return {"linkedin_id": lead.linkedin_slug}
            if lead.email:
                return {"email": lead.email}
        return None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key.get_secret_value()}"}

    def ineligible_reason(self, lead: Lead) -> str | None:
        if lead.has_name_and_company or lead.linkedin_slug or lead.email:
            return None
        return "needs first + last name with company or domain, a LinkedIn profile, or an email"

    def request_identity(self, lead: Lead) -> dict[str, Any]:
        # Everything sent except record_id (an echo / cache key, not part of the question), in the form the
        # vendor's matching reads it: names, company and domain without case, punctuation or legal form. A lead
        # asked by one unique identifier only (a namesake at its company) is that identifier.
        unique = self._unique_id_only(lead)
        if unique is not None:
            return unique
        return compact(
            {
                "first_name": name_key(lead.first_name),
                "last_name": name_key(lead.last_name),
                "company": company_key(lead.company),
                "domain": domain_key(lead.domain),
                "email": lead.email,
                "linkedin_id": lead.linkedin_slug,
            }
        )

    def legacy_fingerprints(self, lead: Lead) -> list[str]:
        """The fingerprint this question had before its identity was normalized (answers stored under it stay
        this question's answers)."""
        if self._unique_id_only(lead) is not None:
            # Asked by its unique identifier alone, which normalization never changed; an answer to the whole
            # lead (name + company) may be its namesake's, so it is not this question's answer.
            return []
        legacy = compact({"first_name": lead.first_name, "last_name": lead.last_name, "company": lead.company,
                          "domain": lead.domain, "email": lead.email, "linkedin_id": lead.linkedin_slug})
        return [request_fingerprint(self.name, self.endpoint, legacy)]

    def build_request(self, lead: Lead, identity: dict[str, Any], fingerprint: str) -> Request:
        record_id = f"lr_{fingerprint[:32]}" if self.record_id_source == "fingerprint" else lead.record_id
        # The lead's own text is sent; the normalized identity only decides what counts as the same question.
        sent = self._unique_id_only(lead) or compact(
            {"first_name": lead.first_name, "last_name": lead.last_name, "company": lead.company,
             "domain": lead.domain, "email": lead.email, "linkedin_id": lead.linkedin_slug})
        return Request(method=self.method, fingerprints=[fingerprint], json={"record_id": record_id, **sent})

    def parse_success(self, body: Any, exchange: Exchange) -> tuple[list[PhoneClaim], float | None]:
        if not isinstance(body, dict):
            raise ShapeError(f"expected an object, got {type(body).__name__}")
        if body.get("success") is False:
            raise ShapeError(f"success=false in a 2xx answer: {vendor_message(body)}")
        phone = body.get("phone")
        if phone is None or (isinstance(phone, str) and not phone.strip()):
            return [], None
        if isinstance(phone, str):
            return [PhoneClaim(phone, None)], None
        if isinstance(phone, list) and all(isinstance(p, str) for p in phone):
            return [PhoneClaim(p, None) for p in dict.fromkeys(phone) if p.strip()], None
        raise ShapeError(f"'phone' is a {type(phone).__name__}")
