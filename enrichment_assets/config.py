"""The YAML config file (DESIGN.md, "Contract: config file"), validated strictly.

Unknown keys are an error that names the key: a typo in a price or a budget
must never fall back silently to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from enrichment_assets.leads.headers import TARGET_FIELDS
from enrichment_assets.settings import PROVIDERS


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pricing(_Strict):
    """How credits are counted for a provider when it does not report them itself.

    Every key is additive: ``per_call`` for every successful call,
    ``per_found`` for a call that returned at least one number,
    ``per_number`` for each number returned, ``per_match`` for each matched
    identifier (Crustdata), and ``per_field`` for each requested field of a
    matched identifier, by field name; ``per_email`` and ``per_personal_email``
    for each work or personal email returned (Pronto, when asked for).
    """

    per_call: float = 0
    per_found: float = 0
    per_number: float = 0
    per_match: float = 0
    per_field: dict[str, float] = Field(default_factory=dict)
    per_email: float = 0
    per_personal_email: float = 0
    max_per_match: float | None = None


class ProviderConfig(_Strict):
    enabled: bool = True
    rate_limit_per_second: float = Field(default=10, gt=0)
    burst: int | None = Field(default=None, ge=1)
    max_concurrency: int = Field(default=16, ge=1)
    timeout_seconds: float = Field(default=30, gt=0)
    max_retries: int = Field(default=4, ge=0)
    usd_per_credit: float = Field(default=0.0, ge=0)
    max_credits_per_run: float | None = Field(default=None, ge=0)
    pricing: Pricing = Field(default_factory=Pricing)
    # Provider-specific keys; each is only accepted for its own provider (checked below).
    page_size: int | None = Field(default=None, ge=0)
    batch_size: int | None = Field(default=None, ge=1, le=25)
    batch_wait_seconds: float | None = Field(default=None, ge=0)
    fields: list[str] | None = None
    enrichment_type: list[Literal["phone", "email", "personal_email"]] | None = None
    personal_email_consent: bool | None = None
    path: str | None = None

    @property
    def effective_burst(self) -> int:
        """Requests that may leave back to back. Default: a quarter second's worth.

        Requests reach the vendor bunched by network jitter; a burst below the vendor's own keeps its bucket
        from running dry at our full sustained rate (each 429 costs a Retry-After pause).
        """
        if self.burst is not None:
            return self.burst
        return max(1, int(round(self.rate_limit_per_second / 4)))


_PROVIDER_ONLY_KEYS: dict[str, set[str]] = {
    "enrichlayer": {"page_size"},
    "crustdata": {"batch_size", "batch_wait_seconds", "fields"},
    "pronto": {"enrichment_type", "personal_email_consent", "path"},
    "leadmagic": set(),
    "lantern": set(),
}

_ALL_SPECIFIC = set().union(*_PROVIDER_ONLY_KEYS.values())

# Defaults from each vendor's document (see vendor-docs/ and NOTES.md).
_PROVIDER_DEFAULTS: dict[str, dict] = {
    "leadmagic": {"rate_limit_per_second": 50, "max_concurrency": 32, "usd_per_credit": 0.0,
                  "pricing": {"per_found": 5}},
    "pronto": {"rate_limit_per_second": 50, "max_concurrency": 5, "enrichment_type": ["phone"],
               "personal_email_consent": False, "path": "/v2/contacts/single_enrich",
               "pricing": {"per_found": 10, "per_email": 1, "per_personal_email": 1}},
    "enrichlayer": {"rate_limit_per_second": 5, "burst": 25, "max_concurrency": 16, "timeout_seconds": 60,
                    "page_size": 3, "pricing": {"per_number": 1}},
    "lantern": {"rate_limit_per_second": 10, "max_concurrency": 16, "pricing": {"per_found": 1}},
    "crustdata": {"rate_limit_per_second": 0.25, "burst": 1, "max_concurrency": 2, "batch_size": 25,
                  "batch_wait_seconds": 5.0, "fields": ["contact.phone_numbers"],
                  "pricing": {"per_match": 1, "per_field": {"contact.phone_numbers": 2}}},
}


class WaterfallConfig(_Strict):
    order: list[str] = Field(default_factory=lambda: ["leadmagic", "pronto", "enrichlayer", "lantern", "crustdata"])
    stop_when: Literal["mobile", "any_phone", "never"] = "mobile"

    @field_validator("order")
    @classmethod
    def _known_providers(cls, order: list[str]) -> list[str]:
        unknown = [p for p in order if p not in PROVIDERS]
        if unknown:
            raise ValueError(f"unknown provider(s) {unknown}; known: {list(PROVIDERS)}")
        if len(set(order)) != len(order):
            raise ValueError("a provider appears twice in waterfall.order")
        return order


class EnrichmentConfig(_Strict):
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
        unknown = [name for name in given if name not in PROVIDERS]
        if unknown:
            raise ValueError(f"unknown provider(s) under providers: {unknown}; known: {list(PROVIDERS)}")
        merged: dict[str, dict] = {}
        for name in PROVIDERS:
            user = given.get(name) or {}
            if not isinstance(user, dict):
                raise ValueError(f"providers.{name} must be a mapping")
            foreign = (set(user) & _ALL_SPECIFIC) - _PROVIDER_ONLY_KEYS[name]
            if foreign:
                raise ValueError(f"providers.{name}: key(s) {sorted(foreign)} do not apply to {name}")
            base = dict(_PROVIDER_DEFAULTS[name])
            if "pricing" in user:
                # A user's pricing replaces the default rule as a whole: partial merges hide mistakes.
                base.pop("pricing")
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
