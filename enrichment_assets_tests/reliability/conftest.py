"""Fixtures of the reliability suite (the per-test ones live in enrichment_assets_tests/conftest.py).

``live_run``: one real ``enrich run`` in ``ENRICHMENT_MODE=live`` with a
distinctive API key per vendor, against a recording sandbox that accepts only
those keys, except that Lantern is given a wrong key. The secrets, PII, erasure and consent tests all inspect it (the
erasure test works on a copy), so the suite pays for that run once.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from enrichment_assets.sandbox.world import Person
from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.reliability.helpers import (
    RecordingSandbox,
    fast_sandbox_config,
    make_sandbox,  # noqa: F401 - a fixture
    prepare_env,
    run_enrich,
    write_config,
    write_leads,
)

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


@pytest.fixture(scope="session")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    root = tmp_path_factory.mktemp("live_run")
    keys = live_keys()
    wrong = f"sk-TESTKEY-WRONG-{uuid.uuid4()}"
    sandbox = RecordingSandbox(fast_sandbox_config(
        p50=0.01, **{p: {"api_key": key} for p, key in keys.items()})).start()
    try:
        # Pronto is asked for personal emails too, without consent: the client must drop the type (test_consent).
        config = write_config(root / "enrichment.yaml", pronto={"enrichment_type": ["phone", "personal_email"]})
        leads_file = root / "live_list.csv"
        people = write_leads(leads_file, LIVE_LEADS, seed=21)
        used = {f"{p.upper()}_API_KEY": key for p, key in keys.items()}
        used[f"{WRONG_KEY_VENDOR.upper()}_API_KEY"] = wrong
        env = prepare_env(isolated_session_env(root), sandbox, config, ENRICHMENT_MODE="live", **used)
        result = run_enrich(["run", str(leads_file)], env)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        sandbox.wait_idle()
        yield LiveRun(env=env, root=root, sandbox=sandbox, keys=keys, wrong_key=wrong, config=config,
                      leads_file=leads_file,
                      people=people, result=result)
    finally:
        sandbox.stop()
