"""The embedded vendor sandbox: the five vendor APIs over HTTP on one origin, backed by a synthetic world.

No Dagster here. Typical use::

    from enrichment_assets.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(seed=7)) as sandbox:
        base_url = sandbox.base_url          # every vendor's base URL
        ...
        sandbox.state.stats()                # counters, credits charged, balances

See ``app.py`` for the routes, ``<vendor>_api.py`` for each vendor's behaviour, ``vendor_api.py`` for the request
pipeline they share, ``config.py`` for the knobs and ``state.py`` for the live state.
"""

from enrichment_assets.sandbox.app import VENDOR_PATHS, create_app
from enrichment_assets.sandbox.config import (
    CrustdataConfig,
    EnrichLayerConfig,
    FaultConfig,
    LanternConfig,
    LatencyConfig,
    LeadMagicConfig,
    ProntoConfig,
    RateLimitConfig,
    SandboxConfig,
    VendorConfig,
)
from enrichment_assets.sandbox.sample_data import write_sample_leads
from enrichment_assets.sandbox.server import SandboxServer, serve
from enrichment_assets.sandbox.state import SandboxState
from enrichment_assets.sandbox.world import VENDORS, Knowledge, Person, Phone, World

__all__ = [
    "VENDORS", "VENDOR_PATHS", "CrustdataConfig", "EnrichLayerConfig", "FaultConfig", "Knowledge",
    "LanternConfig", "LatencyConfig", "LeadMagicConfig", "Person", "Phone", "ProntoConfig", "RateLimitConfig",
    "SandboxConfig", "SandboxServer", "SandboxState", "VendorConfig", "World", "create_app", "serve",
    "write_sample_leads",
]
