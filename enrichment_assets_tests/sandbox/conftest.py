"""One sandbox server for the sandbox tests, reset (counters, limits and config) before every test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from enrichment_assets.sandbox import SandboxServer, World


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
