"""One real ``enrich run`` in live mode with a distinctive key per vendor (see reliability/conftest.py).

The run is made once per test session, also under pytest-xdist: the first worker makes it in a folder all
workers share and records what the sandbox saw (``live_run.json``); the others wait for it and read it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrichment_assets.sandbox.world import Person
from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.sandbox import WORLD, SandboxRequest

LIVE_LEADS = 30


@dataclass
class RecordedSandbox:
    """What the live run's sandbox saw and counted, kept after it stopped (same reads as ``RecordingSandbox``)."""

    requests: list[SandboxRequest]
    counters: dict[str, Any]

    def snapshot(self) -> list[SandboxRequest]:
        return list(self.requests)

    def stats(self) -> dict[str, Any]:
        return self.counters


@dataclass
class LiveRun:
    env: dict[str, str]
    root: Path
    sandbox: RecordedSandbox
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

    def save(self) -> None:
        data = {
            "env": self.env, "root": str(self.root), "keys": self.keys, "wrong_key": self.wrong_key,
            "config": str(self.config), "leads_file": str(self.leads_file),
            "people": [p.linkedin_url for p in self.people],
            "result": {"args": self.result.args, "returncode": self.result.returncode,
                       "stdout": self.result.stdout, "stderr": self.result.stderr},
            "sandbox": {"requests": [dataclasses.asdict(r) for r in self.sandbox.requests],
                        "stats": self.sandbox.counters},
        }
        (self.root / "live_run.json").write_text(json.dumps(data), encoding="utf-8")

    @classmethod
    def load(cls, root: Path) -> LiveRun:
        data = json.loads((root / "live_run.json").read_text(encoding="utf-8"))
        return cls(env=data["env"], root=Path(data["root"]), keys=data["keys"], wrong_key=data["wrong_key"],
                   config=Path(data["config"]), leads_file=Path(data["leads_file"]),
                   people=[WORLD.person_by_linkedin(u) for u in data["people"]],
                   result=subprocess.CompletedProcess(**data["result"]),
                   sandbox=RecordedSandbox([SandboxRequest(**r) for r in data["sandbox"]["requests"]],
                                           data["sandbox"]["stats"]))


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
