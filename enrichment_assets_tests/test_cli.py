"""The real `enrich` command in a subprocess: exit codes and an end-to-end run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


from enrichment_assets_tests.support import REPO_ROOT


def enrich(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "enrichment_assets.cli", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_missing_file_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = enrich(["run", str(tmp_path / "nope.csv")], cli_env)
    assert result.returncode == 2
    assert "no such file" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_record_id_column_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("name,email\nA,a@b.io\n", encoding="utf-8")
    result = enrich(["run", str(path)], cli_env)
    assert result.returncode == 2
    assert "no record_id column" in result.stderr


def test_unreadable_file_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = enrich(["run", str(tmp_path)], cli_env)  # a directory
    assert result.returncode == 2


def test_bad_config_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("providers:\n  leadmagic: {rate_limit: 3}\n", encoding="utf-8")
    path = tmp_path / "leads.csv"
    path.write_text("id,email\n1,a@b.io\n", encoding="utf-8")
    result = enrich(["run", str(path)], {**cli_env, "ENRICHMENT_CONFIG": str(config)})
    assert result.returncode == 2
    assert "providers.leadmagic.rate_limit" in result.stderr


# The sample list through `enrich run` (the README's quickstart): test_ui.py, whose UI check shows that run.
