"""Shared fixtures: every test gets its own Dagster instance, DuckDB file and inbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point every ENRICHMENT_* path and DAGSTER_HOME into a fresh temporary folder."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        "DAGSTER_HOME": str(home),
        "ENRICHMENT_DB": str(tmp_path / "enrichment.duckdb"),
        "ENRICHMENT_INBOX": str(inbox),
        "ENRICHMENT_CONFIG": str(REPO_ROOT / "enrichment.yaml"),
        "ENRICHMENT_SUPPRESSION": str(tmp_path / "suppression.csv"),
        "ENRICHMENT_MODE": "sandbox",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for vendor in ("LEADMAGIC", "ENRICHLAYER", "CRUSTDATA", "LANTERN", "PRONTO"):
        monkeypatch.delenv(f"{vendor}_API_KEY", raising=False)
        monkeypatch.delenv(f"{vendor}_BASE_URL", raising=False)
    return env


@pytest.fixture
def cli_env(isolated_env: dict[str, str]) -> dict[str, str]:
    """Environment for running the real `enrich` command in a subprocess."""
    env = dict(os.environ)
    env.update(isolated_env)
    env.pop("COLUMNS", None)
    env["COLUMNS"] = "200"
    return env
