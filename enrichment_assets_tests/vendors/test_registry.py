"""The provider registry is the one list of vendors: everything that needs all of them follows it."""

from __future__ import annotations

import pytest

from enrichment_assets.config import ConfigError, parse_config
from enrichment_assets.provider_config import PROVIDER_SPECIFIC_KEYS
from enrichment_assets.settings import PROVIDERS
from enrichment_assets.storage.warehouse import PROVIDER_RESULT_TABLES
from enrichment_assets.vendors import CLIENTS
from enrichment_assets.vendors.registry import PROVIDER_NAMES, PROVIDER_SPECS, ProviderSpec, provider_spec


def test_names_are_unique_and_every_view_follows_the_registry() -> None:
    assert len(set(PROVIDER_NAMES)) == len(PROVIDER_NAMES) == len(PROVIDER_SPECS)
    assert PROVIDERS == PROVIDER_NAMES
    assert list(CLIENTS) == list(PROVIDER_NAMES)
    assert {name: f"{name}_results" for name in PROVIDER_NAMES} == PROVIDER_RESULT_TABLES
    assert parse_config({}).waterfall.order == list(PROVIDER_NAMES)
    for spec in PROVIDER_SPECS:
        assert spec.client.name == spec.name and provider_spec(spec.name) is spec
        prefix = spec.name.upper()
        assert (spec.api_key_env, spec.base_url_env) == (f"{prefix}_API_KEY", f"{prefix}_BASE_URL")
    with pytest.raises(KeyError, match="unknown provider"):
        provider_spec("acme")


def test_defaults_validate_and_own_keys_belong_to_their_provider_only() -> None:
    config = parse_config({})
    for spec in PROVIDER_SPECS:
        provider = config.provider(spec.name)
        for key, value in spec.defaults.items():
            if key != "pricing":
                assert getattr(provider, key) == value, (spec.name, key)
        for key in PROVIDER_SPECIFIC_KEYS - spec.own_keys:
            with pytest.raises(ConfigError, match="do not apply"):
                parse_config({"providers": {spec.name: {key: None}}})
    owners = [key for spec in PROVIDER_SPECS for key in spec.own_keys]
    assert len(owners) == len(set(owners))  # a provider-specific key has one owner


def test_config_defaults_are_a_fresh_copy() -> None:
    spec = provider_spec("crustdata")
    copy = spec.config_defaults()
    copy["pricing"]["per_field"]["contact.phone_numbers"] = 99
    assert spec.defaults["pricing"]["per_field"]["contact.phone_numbers"] == 2


def test_a_spec_must_match_its_client_and_own_known_keys() -> None:
    leadmagic = provider_spec("leadmagic")
    with pytest.raises(ValueError, match="calls itself"):
        ProviderSpec(name="other", label="x", client=leadmagic.client, defaults={})
    with pytest.raises(ValueError, match="not provider-specific"):
        ProviderSpec(name="leadmagic", label="x", client=leadmagic.client, defaults={}, own_keys=frozenset({"colour"}))


def test_dagster_side_has_one_resource_and_one_asset_per_provider() -> None:
    from dagster import AssetKey

    from enrichment_assets.dagster_defs.vendor_resources import VENDOR_RESOURCE_KEYS
    from enrichment_assets.dagster_defs.waterfall_assets import waterfall
    from enrichment_assets.definitions import defs

    assert [spec.name for spec in VENDOR_RESOURCE_KEYS.values()] == list(PROVIDER_NAMES)
    assert set(VENDOR_RESOURCE_KEYS) <= set(defs.resources)
    assert set(VENDOR_RESOURCE_KEYS) <= waterfall.required_resource_keys
    assert set(waterfall.keys) == {AssetKey(f"{name}_results") for name in PROVIDER_NAMES}


def test_every_vendor_is_priced_in_usd_by_default_with_its_source() -> None:
    """USD is never 0 out of the box; each default says where it comes from, and the user's price wins."""
    config = parse_config({})
    for spec in PROVIDER_SPECS:
        assert config.provider(spec.name).usd_per_credit == spec.usd.usd_per_credit > 0, spec.name
        assert spec.usd.source.startswith("https://") and spec.usd.read_on and spec.usd.basis, spec.name
    leadmagic = provider_spec("leadmagic")
    assert leadmagic.usd.published and leadmagic.usd.usd_per_credit == 0.024  # smallest self-serve plan
    assert not leadmagic.usd_is_assumed(0.024)
    assert provider_spec("lantern").usd_is_assumed(provider_spec("lantern").usd.usd_per_credit)
    mine = parse_config({"providers": {"lantern": {"usd_per_credit": 0.05}}})
    assert mine.provider("lantern").usd_per_credit == 0.05 and not provider_spec("lantern").usd_is_assumed(0.05)
    assert mine.provider("leadmagic").usd_per_credit == 0.024  # the others keep their defaults
