"""Test configs and lead files: the documented defaults with a fast Crustdata, people from the sandbox world."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml

from enrichment_assets.config import load_config
from enrichment_assets.sandbox.sample_data import sample_people
from enrichment_assets.sandbox.world import Person
from enrichment_assets_tests.support.sandbox import WORLD, _merge

# --------------------------------------------------------------------------- config and leads

#: Test config: the documented defaults, with Crustdata fast enough for a test (small batches, short linger).
BASE_CONFIG: dict[str, Any] = {
    "waterfall": {"order": ["leadmagic", "pronto", "enrichlayer", "lantern", "crustdata"], "stop_when": "mobile"},
    "cache_ttl_days": 90,
    "providers": {
        "leadmagic": {"pricing": {"per_found": 5}},
        "pronto": {"pricing": {"per_found": 10, "per_email": 1, "per_personal_email": 1}},
        # The client's documented 5/s would make Enrich Layer the slowest step of every test run.
        "enrichlayer": {"page_size": 3, "rate_limit_per_second": 50, "burst": 25, "pricing": {"per_number": 1}},
        "lantern": {"pricing": {"per_found": 1}},
        "crustdata": {"rate_limit_per_second": 20, "burst": 5, "max_concurrency": 4, "batch_size": 10,
                      "batch_wait_seconds": 0.2, "fields": ["contact.phone_numbers"],
                      "pricing": {"per_match": 1, "per_field": {"contact.phone_numbers": 2}}},
    },
}


#: Client pacing for a sandbox without rate limits (``fast_sandbox_config(limits=False)``): nothing waits.
FAST_CLIENTS: dict[str, Any] = {"rate_limit_per_second": 500, "burst": 100}


def write_config(path: Path, *, fast_clients: bool = False, **provider_overrides: dict[str, Any]) -> Path:
    """Write BASE_CONFIG with per-provider overrides (validated by the product's strict loader)."""
    data = json.loads(json.dumps(BASE_CONFIG))
    if fast_clients:
        for provider in data["providers"].values():
            provider.update(FAST_CLIENTS)
    for name, extra in provider_overrides.items():
        if name == "waterfall":
            data["waterfall"].update(extra)
        else:
            data["providers"][name] = _merge(data["providers"].get(name, {}), extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load_config(path)  # a typo here is the test's bug: fail loudly now
    return path


LEAD_HEADER = ("record_id", "first_name", "last_name", "company", "website", "email", "linkedin_url", "country")


def lead_row(record_id: str, person: Person) -> list[str]:
    return [record_id, person.first_name, person.last_name, person.company, person.domain, person.work_email,
            person.linkedin_url, person.country]


def write_leads(path: Path, n: int, seed: int = 11, prefix: str = "L") -> list[Person]:
    """A clean CSV of ``n`` sandbox-world people (colleagues included); returns them in file order."""
    people = sample_people(WORLD, n, seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LEAD_HEADER)
        for i, person in enumerate(people):
            writer.writerow(lead_row(f"{prefix}{i + 1:05d}", person))
    return people
