"""Helpers of the sandbox tests: the control API, and people of the world by what a vendor knows of them."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from enrichment_assets.sandbox import World
from enrichment_assets.sandbox.world import Knowledge, Person

KEY = "test-key-0000"
VERSION = {"x-api-version": "2025-11-01"}


def configure(client: httpx.Client, patch: dict) -> dict:
    response = client.post("/_sandbox/config", json=patch)
    assert response.status_code == 200, response.text
    return response.json()


def stats(client: httpx.Client, vendor: str) -> dict:
    return client.get("/_sandbox/stats").json()["vendors"][vendor]


def find(world: World, vendor: str, predicate: Callable[[Person, Knowledge], bool], skip: int = 0) -> Person:
    """The ``skip``-th person of the world for whom ``predicate(person, knowledge)`` holds."""
    matches = (p for p in world.people if predicate(p, world.knowledge(vendor, p)))
    for _ in range(skip):
        next(matches)
    return next(matches)


def bearer(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
