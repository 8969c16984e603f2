"""The provider registry: one ``ProviderSpec`` per vendor, the only list of vendors in the code.

Everything that needs "all providers" iterates over ``PROVIDER_SPECS``: the config file's defaults and
validation, the results tables, the vendor clients, the Dagster resources and their environment variables,
the waterfall asset, the ledger summaries. Its order is the default waterfall order.

Adding a vendor is one new client module in this package and one ``ProviderSpec`` below
(docs/ARCHITECTURE.md, "Adding a vendor"). Where the numbers come from: docs/vendors.md.

No Dagster here (the domain core has none): the Dagster side keys its own table by these names.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from enrichment_assets.provider_config import PROVIDER_SPECIFIC_KEYS
from enrichment_assets.vendors.client import VendorClient
from enrichment_assets.vendors.crustdata import CrustdataClient
from enrichment_assets.vendors.enrichlayer import EnrichLayerClient
from enrichment_assets.vendors.lantern import LanternClient
from enrichment_assets.vendors.leadmagic import LeadMagicClient
from enrichment_assets.vendors.pronto import ProntoClient


@dataclass(frozen=True, slots=True)
class UsdPrice:
    """The default ``usd_per_credit`` of a vendor and where it comes from (docs/vendors.md lists them all).

    The user's plan price replaces it (``providers.<name>.usd_per_credit``). ``published`` is False where no
    price per credit could be read from the vendor's pages: the figure is then a stated assumption, and the run
    summary and the funnel chart mark the USD computed with it.
    """

    usd_per_credit: float
    #: The page the figure was read from (or, when not published, the vendor's page that gives no price).
    source: str
    #: When it was read (ISO date).
    read_on: str
    published: bool
    #: Which plan, or why this figure.
    basis: str


#: The only self-serve price per credit among these vendors that could be read from a vendor's own page:
#: LeadMagic's smallest plan. Vendors without a readable price default to it too, as a stated assumption: it is
#: what a small self-serve plan of this market costs, and with one price per credit the USD comparison follows
#: the vendors' documented credit prices instead of being zero.
_SMALLEST_PLAN_USD = 0.024
_READ_ON = "2026-12-01"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """Everything the code outside a vendor's own module needs to know about it."""

    #: Config key, table prefix, ``provider`` column value, ``<NAME>_API_KEY`` prefix.
    name: str
    #: What the UI calls the vendor's endpoint.
    label: str
    client: type[VendorClient]
    #: The config file's defaults for ``providers.<name>`` (a user's ``pricing`` replaces the default rule whole).
    defaults: Mapping[str, Any]
    #: The provider-specific config keys (of ``PROVIDER_SPECIFIC_KEYS``) this provider accepts.
    own_keys: frozenset[str] = frozenset()
    #: The most numbers one lookup can return: the worst case that ``per_number`` reserves against the budget.
    max_numbers: int = 1
    #: The default ``usd_per_credit`` and its source.
    usd: UsdPrice = UsdPrice(_SMALLEST_PLAN_USD, "", _READ_ON, False, "no source recorded")

    def __post_init__(self) -> None:
        unknown = self.own_keys - PROVIDER_SPECIFIC_KEYS
        if unknown:
            raise ValueError(f"{self.name}: own_keys {sorted(unknown)} are not provider-specific config keys")
        if self.client.name != self.name:
            raise ValueError(f"{self.name}: its client calls itself {self.client.name!r}")

    def config_defaults(self) -> dict[str, Any]:
        """A fresh, deep copy of ``defaults`` with the default ``usd_per_credit`` (callers merge the user's keys)."""
        return {"usd_per_credit": self.usd.usd_per_credit, **copy.deepcopy(dict(self.defaults))}

    def usd_is_assumed(self, usd_per_credit: float) -> bool:
        """Whether a configured price is this vendor's default *and* that default is an assumption."""
        return not self.usd.published and usd_per_credit == self.usd.usd_per_credit

    @property
    def results_table(self) -> str:
        return f"{self.name}_results"

    @property
    def api_key_env(self) -> str:
        return f"{self.name.upper()}_API_KEY"

    @property
    def base_url_env(self) -> str:
        return f"{self.name.upper()}_BASE_URL"


PROVIDER_SPECS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="leadmagic", label="LeadMagic mobile finder", client=LeadMagicClient, max_numbers=1,
        # Its document's advice for a 500: "wait 30 seconds and retry" (the waits of the retries made in the run).
        # It does not say a 500 is free, so a 500 is unknown and, under retry_unknown: next_run (its default), asked
        # by the next run; with retry_unknown: now, twice 30 s apart, then the lead waits for the next run.
        defaults={"rate_limit_per_second": 50, "max_concurrency": 32, "pricing": {"per_found": 5},
                  "balance_path": "/v1/credits", "retry_schedule": [30], "max_retries": 2},
        usd=UsdPrice(_SMALLEST_PLAN_USD, "https://help.leadmagic.io/en/articles/7-the-leadmagic-credit-system",
                     _READ_ON, True, "Basic plan (2,500 credits a month), the smallest self-serve plan; "
                     "$0.010 on Essential (10,000) down to $0.008 on Ultimate (100,000)"),
    ),
    ProviderSpec(
        name="pronto", label="Pronto single contact enrichment", client=ProntoClient, max_numbers=5,
        own_keys=frozenset({"enrichment_type", "personal_email_consent", "path"}),
        defaults={"rate_limit_per_second": 50, "max_concurrency": 5, "enrichment_type": ["phone"],
                  "personal_email_consent": False, "path": "/v2/contacts/single_enrich",
                  "pricing": {"per_found": 10, "per_email": 1, "per_personal_email": 1}},
        usd=UsdPrice(_SMALLEST_PLAN_USD, "https://docs.prontohq.com/essentials/credits", _READ_ON, False,
                     "the credits page gives credits per operation (10 per phone) but no price per credit: "
                     "assumed at LeadMagic's smallest-plan price"),
    ),
    ProviderSpec(
        # page_size caps the numbers of one call (0 = all found, which this cap then bounds).
        name="enrichlayer", label="Enrich Layer personal contact number", client=EnrichLayerClient, max_numbers=25,
        own_keys=frozenset({"page_size"}),
        defaults={"rate_limit_per_second": 5, "burst": 25, "max_concurrency": 16, "timeout_seconds": 60,
                  "page_size": 3, "pricing": {"per_number": 1}, "balance_path": "/api/v2/credit-balance"},
        usd=UsdPrice(_SMALLEST_PLAN_USD,
                     "https://enrichlayer.com/docs/knowledge-base/billing/how-api-costs-are-calculated", _READ_ON,
                     False, "the billing pages describe pay-as-you-go and subscription credits without a price "
                     "per credit: assumed at LeadMagic's smallest-plan price"),
    ),
    ProviderSpec(
        name="lantern", label="Lantern phone enrichment", client=LanternClient, max_numbers=1,
        own_keys=frozenset({"unique_id_only"}),
        # unique_id_only: benchmarks/lantern_namesakes.py measured the three settings on the sandbox.
        defaults={"rate_limit_per_second": 10, "max_concurrency": 16, "pricing": {"per_found": 1},
                  "unique_id_only": "namesakes"},
        usd=UsdPrice(_SMALLEST_PLAN_USD,
                     "https://developers.withlantern.com/openapi/enrichment/enrich_phone_v1_enrich_phone_post.md",
                     _READ_ON, False, "Lantern publishes neither a price per call nor a price per credit: "
                     "assumed at LeadMagic's smallest-plan price"),
    ),
    ProviderSpec(
        name="crustdata", label="Crustdata person contact enrich", client=CrustdataClient, max_numbers=10,
        own_keys=frozenset({"batch_size", "batch_wait_seconds", "fields"}),
        defaults={"rate_limit_per_second": 0.25, "burst": 1, "max_concurrency": 2, "batch_size": 25,
                  "batch_wait_seconds": 5.0, "fields": ["contact.phone_numbers"],
                  # The documented per-field prices (websites: not in the price list; assumed 1, which is what
                  # makes ``contact``, all four, reach the documented cap of 7 per profile).
                  "pricing": {"per_match": 1, "max_per_match": 7,
                              "per_field": {"contact.phone_numbers": 2, "contact.personal_emails": 2,
                                            "contact.business_emails": 1, "contact.websites": 1}},
                  "balance_path": "/user/credits"},
        usd=UsdPrice(_SMALLEST_PLAN_USD, "https://docs.crustdata.com/general/pricing", _READ_ON, False,
                     "the pricing page gives credits per endpoint (1-7 per enriched person) but no price per "
                     "credit: assumed at LeadMagic's smallest-plan price"),
    ),
)

#: Provider names in registry order (the default waterfall order).
PROVIDER_NAMES: tuple[str, ...] = tuple(spec.name for spec in PROVIDER_SPECS)

_BY_NAME: dict[str, ProviderSpec] = {spec.name: spec for spec in PROVIDER_SPECS}


def provider_spec(name: str) -> ProviderSpec:
    """The spec of a provider by name; ``KeyError`` naming the known ones for anything else."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {list(PROVIDER_NAMES)}") from None
