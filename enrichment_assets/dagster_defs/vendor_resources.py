"""One resource per vendor: its API key (``<V>_API_KEY``) and base URL (``<V>_BASE_URL``).

In ``sandbox`` mode (the default) a vendor without a base URL talks to the
embedded sandbox, started once per process on 127.0.0.1; in ``live`` mode a
vendor without a key is skipped with one log line. Keys are read through
``EnvVar`` and never logged, stored or put in metadata.

The vendors are the provider registry's (``enrichment_assets.vendors.registry``): each gets a resource under
the key ``<provider>_api``; nothing here names a vendor.
"""

import os
import threading

from dagster import ConfigurableResource, EnvVar

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.vendors.base import AttemptJournal
from enrichment_assets.vendors.client import VendorClient
from enrichment_assets.vendors.registry import PROVIDER_SPECS, ProviderSpec

SANDBOX_KEY = "sandbox-key"

_sandbox_lock = threading.Lock()
_sandbox_server = None


def embedded_sandbox_url() -> str:
    """Start the in-process sandbox once and return its URL."""
    global _sandbox_server
    with _sandbox_lock:
        if _sandbox_server is None:
            from enrichment_assets.sandbox.server import SandboxServer

            server = SandboxServer()
            server.start()
            _sandbox_server = server
        return _sandbox_server.base_url


class VendorResource(ConfigurableResource):
    """API key and base URL of one vendor (`<VENDOR>_API_KEY`, `<VENDOR>_BASE_URL`); the resource key says which."""

    api_key: str | None = None
    base_url: str | None = None

    @classmethod
    def from_environment(cls, spec: ProviderSpec) -> "VendorResource":
        return cls(
            api_key=EnvVar(spec.api_key_env) if os.environ.get(spec.api_key_env) else None,
            base_url=EnvVar(spec.base_url_env) if os.environ.get(spec.base_url_env) else None,
        )

    def endpoint_for(self, spec: ProviderSpec, mode: str) -> tuple[str, str] | None:
        """(api_key, base_url) to use, or None when the vendor must be skipped in this mode."""
        if mode == "live":
            if not self.api_key:
                return None
            return self.api_key, self.base_url or spec.client.default_base_url
        return self.api_key or SANDBOX_KEY, self.base_url or embedded_sandbox_url()

    def build_client(self, spec: ProviderSpec, config: EnrichmentConfig, mode: str,
                     journal: AttemptJournal) -> VendorClient | None:
        resolved = self.endpoint_for(spec, mode)
        if resolved is None:
            return None
        api_key, base_url = resolved
        return spec.client(config.provider(spec.name), api_key, base_url, journal)


def vendor_resource_key(provider: str) -> str:
    return f"{provider}_api"


#: Resource key -> provider spec, for every vendor in the registry.
VENDOR_RESOURCE_KEYS: dict[str, ProviderSpec] = {vendor_resource_key(spec.name): spec for spec in PROVIDER_SPECS}


def vendor_resources_from_environment() -> dict[str, VendorResource]:
    """Every vendor's resource under its key, credentials from the environment."""
    return {key: VendorResource.from_environment(spec) for key, spec in VENDOR_RESOURCE_KEYS.items()}
