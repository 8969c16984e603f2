"""The Dagster UI in headless Chromium (scripts/ui_check.py): the asset graph and the sample run.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (the ``test`` extra). Without
them the test is skipped on a developer's machine and FAILS under ``CI=true`` (``.ci/run`` installs them).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from enrichment_assets_tests.support import REPO_ROOT, require

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.e2e


def load_ui_check():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("ui_check", REPO_ROOT / "scripts" / "ui_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ui_check", module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_ui_shows_graph_and_sample_run(tmp_path: Path) -> None:
    require(CHROMIUM.exists(), f"Debian's chromium ({CHROMIUM})")
    require(CHROMEDRIVER.exists(), f"Debian's chromium-driver ({CHROMEDRIVER})")
    require(importlib.util.find_spec("selenium") is not None, "the selenium package (pip install -e '.[test]')")
    ui_check = load_ui_check()
    screenshot = tmp_path / "ui_asset_graph.png"

    result = ui_check.run_ui_check(tmp_path / "work", screenshot)

    assert result.ok, f"{result.checks}\n{result.notes}"
    assert screenshot.stat().st_size > 10_000
