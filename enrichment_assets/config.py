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

__all__ = ["ADAPTIVE", "ConfigError", "CostModelConfig", "EnrichmentConfig", "Pricing", "ProviderConfig",
           "ProviderPrior", "WaterfallConfig", "load_config", "parse_config"]


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message says where."""


#: ``waterfall.order`` value that lets the cost model order the providers per lead (``cost_model/order.py``).
ADAPTIVE = "adaptive"

#: Waterfall keys that only an adaptive order reads: left out of the walk key of a fixed order.
ADAPTIVE_ONLY_KEYS = frozenset({"exploration_share", "max_usd_per_mobile"})


class WaterfallConfig(StrictModel):
    #: A fixed list of providers, or ``adaptive``: per lead, cheapest expected USD per personal mobile first.
    order: list[str] | Literal["adaptive"] = Field(default_factory=lambda: list(PROVIDER_NAMES))
    stop_when: Literal["mobile", "any_phone", "never"] = "mobile"
    #: Adaptive order: the share of leads walked in a random order instead, so every provider keeps being measured.
    exploration_share: float = Field(default=0.05, ge=0, le=1)
    #: Adaptive order: a provider whose expected USD per personal mobile for the lead's segment is above this is
    #: not called for that lead (None: no cap).
    max_usd_per_mobile: float | None = Field(default=None, gt=0)

    @property
    def adaptive(self) -> bool:
        return self.order == ADAPTIVE

    @field_validator("order", mode="before")
    @classmethod
    def _adaptive_or_list(cls, order: object) -> object:
        if isinstance(order, str) and order != ADAPTIVE:
            raise ValueError(f"expected a list of providers or '{ADAPTIVE}', not {order!r}")
        return order

    @field_validator("order")
    @classmethod
    def _known_providers(cls, order: list[str] | str) -> list[str] | str:
        if isinstance(order, str):
            return order
        unknown = [p for p in order if p not in PROVIDER_NAMES]
        if unknown:
            raise ValueError(f"unknown provider(s) {unknown}; known: {list(PROVIDER_NAMES)}")
        if len(set(order)) != len(order):
            raise ValueError("a provider appears twice in waterfall.order")
        return order


class ProviderPrior(StrictModel):
    """What the cost model assumes of a provider before it has seen any of its answers (``cost_model.priors``).

    Rates are per lead that reaches the provider and can be asked; ``credits_per_call`` defaults to what the
    provider's pricing rule gives at these rates.
    """

    found_rate: float = Field(default=0.35, ge=0, le=1)
    mobile_rate: float = Field(default=0.25, ge=0, le=1)
    credits_per_call: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _mobile_within_found(self) -> ProviderPrior:
        if self.mobile_rate > self.found_rate:
            raise ValueError("mobile_rate cannot exceed found_rate (a mobile is a number found)")
        return self


class CostModelConfig(StrictModel):
    """How the hit-rate model learns (README, "Cost model")."""

    #: Pseudo-leads of evidence each level of the model lends the level below it (segment <- country <- provider
    #: <- prior): a segment's own rate counts half once it has seen this many leads.
    prior_weight: float = Field(default=50, gt=0)
    #: Per provider; a provider not named here starts from ``ProviderPrior()``'s defaults.
    priors: dict[str, ProviderPrior] = Field(default_factory=dict)

    @field_validator("priors")
    @classmethod
    def _known(cls, priors: dict[str, ProviderPrior]) -> dict[str, ProviderPrior]:
        unknown = [p for p in priors if p not in PROVIDER_NAMES]
        if unknown:
            raise ValueError(f"unknown provider(s) {unknown}; known: {list(PROVIDER_NAMES)}")
        return priors

    def prior(self, provider: str) -> ProviderPrior:
        return self.priors.get(provider) or ProviderPrior()


class EnrichmentConfig(StrictModel):
    waterfall: WaterfallConfig = Field(default_factory=WaterfallConfig)
    cache_ttl_days: float = Field(default=90, ge=0)
    #: How long vendor answers and leads of lists not loaded again are kept (README, "Personal data").
    retention_days: float = Field(default=365, gt=0)
    budget_warn_share: float = Field(default=0.8, gt=0, le=1)
    #: A run whose forecast (high end, USD) exceeds this is refused before any vendor call (None: no cap).
    max_usd_per_run: float | None = Field(default=None, ge=0)
    cost_model: CostModelConfig = Field(default_factory=CostModelConfig)
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

    @model_validator(mode="after")
    def _vendors_accept_their_config(self) -> EnrichmentConfig:
        problems = [f"providers.{spec.name}: {problem}" for spec in PROVIDER_SPECS
                    for problem in spec.client.config_problems(self.providers[spec.name])]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def provider(self, name: str) -> ProviderConfig:
        return self.providers[name]

    @property
    def base_order(self) -> list[str]:
        """The fixed order, or for ``order: adaptive`` the registry's: where ties and the merge's priority go."""
        return list(PROVIDER_NAMES) if self.waterfall.adaptive else list(self.waterfall.order)

    @property
    def active_order(self) -> list[str]:
        """The enabled providers of ``base_order`` (an adaptive walk reorders them per lead)."""
        return [p for p in self.base_order if self.providers[p].enabled]


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
