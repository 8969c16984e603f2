"""The Dagster UI in headless Chromium (scripts/ui_check.py): the asset graph and the sample run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from enrichment_assets_tests.conftest import REPO_ROOT

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"),
]


def load_ui_check():
    spec = importlib.util.spec_from_file_location("ui_check", REPO_ROOT / "scripts" / "ui_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ui_check", module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_ui_shows_graph_and_sample_run(tmp_path: Path) -> None:
    pytest.importorskip("selenium")
    ui_check = load_ui_check()
    screenshot = tmp_path / "ui_asset_graph.png"

    result = ui_check.run_ui_check(tmp_path / "work", screenshot)

    assert result.ok, f"{result.checks}\n{result.notes}"
    assert screenshot.stat().st_size > 10_000
