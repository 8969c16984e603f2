"""One real ``enrich run`` in live mode with a distinctive key per vendor (see reliability/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from enrichment_assets.sandbox.world import Person
from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.sandbox import RecordingSandbox

LIVE_LEADS = 30


@dataclass
class LiveRun:
    env: dict[str, str]
    root: Path
    sandbox: RecordingSandbox
    keys: dict[str, str]       # what the vendor accounts accept
    wrong_key: str             # what LANTERN_API_KEY held instead of keys["lantern"]
    config: Path
    leads_file: Path
    people: list[Person]
    result: subprocess.CompletedProcess

    @property
    def db(self) -> Path:
        return Path(self.env["ENRICHMENT_DB"])

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


def isolated_session_env(root: Path) -> dict[str, str]:
    """What the ``cli_env`` fixture gives a test, for a session-scoped run."""
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for vendor in ("LEADMAGIC", "ENRICHLAYER", "CRUSTDATA", "LANTERN", "PRONTO"):
        env.pop(f"{vendor}_API_KEY", None)
        env.pop(f"{vendor}_BASE_URL", None)
    env.update({
        "DAGSTER_HOME": str(root / "dagster_home"),
        "ENRICHMENT_DB": str(root / "enrichment.duckdb"),
        "ENRICHMENT_INBOX": str(root / "inbox"),
        "ENRICHMENT_SUPPRESSION": str(root / "suppression.csv"),
        "ENRICHMENT_MODE": "sandbox",
        "COLUMNS": "200",
    })
    return env


def live_keys() -> dict[str, str]:
    return {p: f"sk-TESTKEY-{p}-{uuid.uuid4()}" for p in PROVIDERS}


#: The vendor whose key is wrong in the live run (401: unavailable for the run, loudly, the key never shown).
WRONG_KEY_VENDOR = "lantern"
