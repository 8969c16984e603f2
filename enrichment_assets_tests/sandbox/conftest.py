"""One sandbox server for the sandbox tests, reset (counters, limits and config) before every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from enrichment_assets.sandbox import SandboxServer, World
from enrichment_assets.sandbox.world import Knowledge, Person

KEY = "test-key-0000"
VERSION = {"x-api-version": "2025-11-01"}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").state.reset(restore_config=True)


@pytest.fixture(scope="session")
def world(sandbox: SandboxServer) -> World:
    return sandbox.state.world


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as c:
        yield c


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
