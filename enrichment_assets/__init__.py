"""enrichment_assets: lead lists in, reachable phone numbers out, every credit accounted for.

``defs`` is loaded lazily so that the domain core (vendor clients, sandbox,
waterfall engine, phone classification, storage) imports without Dagster.
"""

from __future__ import annotations

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from enrichment_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'enrichment_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
