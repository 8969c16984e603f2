"""Fixtures of the reliability suite (the per-test ones live in enrichment_assets_tests/conftest.py).

``live_run``: one real ``enrich run`` in ``ENRICHMENT_MODE=live`` with a
distinctive API key per vendor, against a recording sandbox that accepts only
those keys, except that Lantern is given a wrong key. The secrets, PII, erasure and consent tests all inspect it (the
erasure test works on a copy), so the suite pays for that run once: under pytest-xdist the first worker to need
it makes it in a folder the workers share, under a file lock, and the others read it from there.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from filelock import FileLock

from enrichment_assets_tests.support.cli import prepare_env, run_enrich
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.live_run import (
    LIVE_LEADS,
    WRONG_KEY_VENDOR,
    LiveRun,
    RecordedSandbox,
    isolated_session_env,
    live_keys,
)
from enrichment_assets_tests.support.sandbox import (
    RecordingSandbox,
    fast_sandbox_config,
)


@pytest.fixture(scope="session")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: the session's folder
    root = shared / "live_run"
    with FileLock(str(shared / "live_run.lock"), timeout=900):
        if (root / "live_run.json").exists():
            return LiveRun.load(root)
        root.mkdir()
        run = make_live_run(root)
        run.save()
        return run


def make_live_run(root: Path) -> LiveRun:
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
        recorded = RecordedSandbox(sandbox.snapshot(), sandbox.stats())
    finally:
        sandbox.stop()
    return LiveRun(env=env, root=root, sandbox=recorded, keys=keys, wrong_key=wrong, config=config,
                   leads_file=leads_file, people=people, result=result)
