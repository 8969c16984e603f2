"""One resource per vendor: its API key (``<V>_API_KEY``) and base URL (``<V>_BASE_URL``).

In ``sandbox`` mode (the default) a vendor without a base URL talks to the
embedded sandbox, started once per process on 127.0.0.1; in ``live`` mode a
vendor without a key is skipped with one log line. Keys are read through
``EnvVar`` and never logged, stored or put in metadata.
"""

import logging
import os
import threading
from typing import ClassVar

from dagster import ConfigurableResource, EnvVar

from enrichment_assets.config import EnrichmentConfig
from enrichment_assets.vendors import CLIENTS
from enrichment_assets.vendors.base import AttemptJournal

log = logging.getLogger("enrichment_assets.vendors")

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
    """Credentials and endpoint of one vendor."""

    provider: ClassVar[str]
    api_key: str | None = None
    base_url: str | None = None

    @classmethod
    def from_environment(cls) -> "VendorResource":
        prefix = cls.provider.upper()
        key_var, url_var = f"{prefix}_API_KEY", f"{prefix}_BASE_URL"
        return cls(
            api_key=EnvVar(key_var) if os.environ.get(key_var) else None,
            base_url=EnvVar(url_var) if os.environ.get(url_var) else None,
        )

    def endpoint_for(self, mode: str) -> tuple[str, str] | None:
        """(api_key, base_url) to use, or None when the vendor must be skipped in this mode."""
        if mode == "live":
            if not self.api_key:
                return None
            return self.api_key, self.base_url or CLIENTS[self.provider].default_base_url
        return self.api_key or SANDBOX_KEY, self.base_url or embedded_sandbox_url()

    def build_client(self, config: EnrichmentConfig, mode: str, journal: AttemptJournal):  # noqa: ANN201
        resolved = self.endpoint_for(mode)
        if resolved is None:
            return None
        api_key, base_url = resolved
        return CLIENTS[self.provider](config.provider(self.provider), api_key, base_url, journal)


class LeadMagicResource(VendorResource):
    """LeadMagic mobile finder (LEADMAGIC_API_KEY, LEADMAGIC_BASE_URL)."""

    provider: ClassVar[str] = "leadmagic"


class ProntoResource(VendorResource):
    """Pronto single contact enrichment (PRONTO_API_KEY, PRONTO_BASE_URL)."""

    provider: ClassVar[str] = "pronto"


class EnrichLayerResource(VendorResource):
    """Enrich Layer personal contact number (ENRICHLAYER_API_KEY, ENRICHLAYER_BASE_URL)."""

    provider: ClassVar[str] = "enrichlayer"


class LanternResource(VendorResource):
    """Lantern phone enrichment (LANTERN_API_KEY, LANTERN_BASE_URL)."""

    provider: ClassVar[str] = "lantern"


class CrustdataResource(VendorResource):
    """Crustdata person contact enrich (CRUSTDATA_API_KEY, CRUSTDATA_BASE_URL)."""

    provider: ClassVar[str] = "crustdata"


VENDOR_RESOURCES: dict[str, type[VendorResource]] = {
    cls.provider: cls
    for cls in (LeadMagicResource, ProntoResource, EnrichLayerResource, LanternResource, CrustdataResource)
}


def vendor_resource_key(provider: str) -> str:
    return f"{provider}_api"
