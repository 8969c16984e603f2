"""Which providers a run can call: in live mode only those whose API key (``<V>_API_KEY``) is set.

A provider without a key is skipped for the run; a lead it could have taken is left ``pending``
(``skipped_no_key``), so a rerun with the key finishes it. When no provider at all can be called, ``enrich run``
stops before any step with :func:`nothing_callable`'s message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.vendors.client import VendorClient
from enrichment_assets.vendors.registry import ProviderSpec, provider_spec

#: The key of a client built only to tell which leads a keyless provider could take; it never sends a request.
UNKEYED_PLACEHOLDER = "unkeyed-client-never-sends-a-request"


def has_key(spec: ProviderSpec, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``<V>_API_KEY`` is set (to anything non-empty), the rule the vendor resources follow too."""
    return bool((os.environ if environ is None else environ).get(spec.api_key_env))


def keyless(order: Sequence[str], mode: str, environ: Mapping[str, str] | None = None) -> list[ProviderSpec]:
    """The providers of ``order`` this run skips for want of a key (none in sandbox mode)."""
    if mode != "live":
        return []
    return [provider_spec(p) for p in order if not has_key(provider_spec(p), environ)]


def nothing_callable(order: Sequence[str], mode: str, config_source: str,
                     environ: Mapping[str, str] | None = None) -> str | None:
    """One line saying why no provider can be called and what to set; ``None`` when at least one can."""
    if not order:
        return (f"no vendor can be called: every provider is disabled in {config_source} "
                "(set providers.<name>.enabled: true for at least one)")
    missing = keyless(order, mode, environ)
    if len(missing) < len(order):
        return None
    names = ", ".join(spec.api_key_env for spec in missing)
    return (f"no vendor can be called in live mode: no API key is set; set at least one of {names} "
            "(or run with ENRICHMENT_MODE=sandbox)")


def unkeyed_client(spec: ProviderSpec, config: ProviderConfig) -> VendorClient:
    """A client of ``spec`` that is never opened: it answers which leads the vendor could take and what the
    request would be (its fingerprint, to find a stored answer), nothing else."""
    return spec.client(config, UNKEYED_PLACEHOLDER)
