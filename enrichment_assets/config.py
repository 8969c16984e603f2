"""The YAML config file, validated strictly (README, "Configuration").

Unknown keys are an error that names the key: a typo in a price or a budget
must never fall back silently to a default. Each provider starts from the
defaults its registry entry gives (``enrichment_assets.vendors.registry``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from enrichment_assets.leads.headers import TARGET_FIELDS
from enrichment_assets.provider_config import PROVIDER_SPECIFIC_KEYS, Pricing, ProviderConfig, StrictModel
from enrichment_assets.vendors.registry import PROVIDER_NAMES, PROVIDER_SPECS

__all__ = ["ConfigError", "EnrichmentConfig", "Pricing", "ProviderConfig", "WaterfallConfig", "load_config",
           "parse_config"]


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message says where."""


class WaterfallConfig(StrictModel):
    order: list[str] = Field(default_factory=lambda: list(PROVIDER_NAMES))
    stop_when: Literal["mobile", "any_phone", "never"] = "mobile"

    @field_validator("order")
    @classmethod
    def _known_providers(cls, order: list[str]) -> list[str]:
        unknown = [p for p in order if p not in PROVIDER_NAMES]
        if unknown:
            raise ValueError(f"unknown provider(s) {unknown}; known: {list(PROVIDER_NAMES)}")
        if len(set(order)) != len(order):
            raise ValueError("a provider appears twice in waterfall.order")
        return order


class EnrichmentConfig(StrictModel):
    waterfall: WaterfallConfig = Field(default_factory=WaterfallConfig)
    cache_ttl_days: float = Field(default=90, ge=0)
    budget_warn_share: float = Field(default=0.8, gt=0, le=1)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    #: Lead field -> the lead file's column to read it from, for headers the recognised names miss.
    columns: dict[str, str] = Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(t for t in columns if t not in TARGET_FIELDS)
        if unknown:
            raise ValueError(f"unknown target field(s) {unknown}; known: {list(TARGET_FIELDS)}")
        empty = sorted(t for t, source in columns.items() if not source.strip())
        if empty:
            raise ValueError(f"no source column given for {empty}")
        return columns

    @model_validator(mode="before")
    @classmethod
    def _merge_provider_defaults(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        given = data.get("providers") or {}
        if not isinstance(given, dict):
            raise ValueError("providers must be a mapping of provider name to settings")
        unknown = [name for name in given if name not in PROVIDER_NAMES]
        if unknown:
            raise ValueError(f"unknown provider(s) under providers: {unknown}; known: {list(PROVIDER_NAMES)}")
        merged: dict[str, dict] = {}
        for spec in PROVIDER_SPECS:
            name = spec.name
            user = given.get(name) or {}
            if not isinstance(user, dict):
                raise ValueError(f"providers.{name} must be a mapping")
            foreign = (set(user) & PROVIDER_SPECIFIC_KEYS) - spec.own_keys
            if foreign:
                raise ValueError(f"providers.{name}: key(s) {sorted(foreign)} do not apply to {name}")
            base = spec.config_defaults()
            if "pricing" in user:
                # A user's pricing replaces the default rule as a whole: partial merges hide mistakes.
                base.pop("pricing", None)
            base.update(user)
            merged[name] = base
        return {**data, "providers": merged}

    def provider(self, name: str) -> ProviderConfig:
        return self.providers[name]

    @property
    def active_order(self) -> list[str]:
        return [p for p in self.waterfall.order if self.providers[p].enabled]


def parse_config(data: dict | None, source: str = "config") -> EnrichmentConfig:
    try:
        return EnrichmentConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown key '{where}'")
            else:
                problems.append(f"{where}: {err['msg']}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def load_config(path: Path) -> EnrichmentConfig:
    """Read and validate the YAML config; a missing file means all defaults."""
    if not path.exists():
        return parse_config({}, source=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping")
    return parse_config(data, source=str(path))
