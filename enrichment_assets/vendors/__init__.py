"""Vendor clients (domain core, no Dagster): one module per vendor, shared shapes in ``base``."""

from __future__ import annotations

from enrichment_assets.vendors.base import (
    Attempt,
    AttemptJournal,
    CallStatus,
    ListJournal,
    NullJournal,
    PhoneClaim,
    VendorResult,
    request_fingerprint,
)
from enrichment_assets.vendors.client import VendorClient
from enrichment_assets.vendors.crustdata import CrustdataClient
from enrichment_assets.vendors.enrichlayer import EnrichLayerClient
from enrichment_assets.vendors.lantern import LanternClient
from enrichment_assets.vendors.leadmagic import LeadMagicClient
from enrichment_assets.vendors.pronto import ProntoClient
from enrichment_assets.vendors.registry import PROVIDER_SPECS
from enrichment_assets.vendors.single_lead import SingleLeadClient

#: Provider name -> client class (from the registry).
CLIENTS: dict[str, type[VendorClient]] = {spec.name: spec.client for spec in PROVIDER_SPECS}

__all__ = [
    "CLIENTS",
    "Attempt",
    "AttemptJournal",
    "CallStatus",
    "CrustdataClient",
    "EnrichLayerClient",
    "LanternClient",
    "LeadMagicClient",
    "ListJournal",
    "NullJournal",
    "PhoneClaim",
    "ProntoClient",
    "SingleLeadClient",
    "VendorClient",
    "VendorResult",
    "request_fingerprint",
]
