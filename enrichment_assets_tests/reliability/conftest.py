"""Fixtures of the reliability suite (the per-test ones live in enrichment_assets_tests/conftest.py).

``live_run``: one real ``enrich run`` in ``ENRICHMENT_MODE=live`` with a
distinctive API key per vendor, against a recording sandbox that accepts only
those keys, except that Lantern is given a wrong key. The secrets, PII, erasure and consent tests all inspect it (the
erasure test works on a copy), so the suite pays for that run once.
"""

from __future__ import annotations

import uuid

import pytest

from enrichment_assets_tests.support.cli import prepare_env, run_enrich
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.live_run import (
    LIVE_LEADS,
    WRONG_KEY_VENDOR,
    LiveRun,
    isolated_session_env,
    live_keys,
)
from enrichment_assets_tests.support.sandbox import (
    RecordingSandbox,
    fast_sandbox_config,
)


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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``), every test of the live run goes to one worker: one run, not one
    per worker."""
    for item in items:
        if "live_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("live_run"))
