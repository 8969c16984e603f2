"""The real `enrich` command: exit codes and their one-line errors, and dbt's output on a failed build.

The first two tests start a fresh ``python -m enrichment_assets.cli``, so that its whole stderr, start-up included,
is checked; the others start the command through the tests' launcher (``support/launcher.py``)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from enrichment_assets_tests.support import REPO_ROOT
from enrichment_assets_tests.support.cli import DAGSTER_LOG_LINE, DBT_OUTPUT, run_enrich


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
    result = run_enrich(["run", str(tmp_path)], cli_env)  # a directory
    assert result.returncode == 2


def test_bad_config_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("providers:\n  leadmagic: {rate_limit: 3}\n", encoding="utf-8")
    path = tmp_path / "leads.csv"
    path.write_text("id,email\n1,a@b.io\n", encoding="utf-8")
    result = run_enrich(["run", str(path)], {**cli_env, "ENRICHMENT_CONFIG": str(config)})
    assert result.returncode == 2
    assert "providers.leadmagic.rate_limit" in result.stderr


# The sample list through `enrich run` (the README's quickstart): test_ui.py, whose UI check shows that run.


@pytest.mark.e2e
def test_dbt_output_printed_when_dbt_fails_and_logs_with_verbose(cli_env: dict[str, str], tmp_path: Path) -> None:
    """dbt's output is printed when the dbt step failed; ``--verbose`` prints Dagster's log lines as they come.

    (The sample run's plain step lines, and no dbt output when dbt succeeds: test_ui.py's quickstart run.)
    """
    few = tmp_path / "few.csv"
    few.write_text("".join((REPO_ROOT / "data" / "inbox" / "sample_leads.csv").read_text(encoding="utf-8")
                           .splitlines(keepends=True)[:6]), encoding="utf-8")
    env = {**cli_env, "DBT_TARGET": "no_such_target"}  # dbt itself refuses to start: its profile has no such target
    try:
        _dbt_fails_then_verbose(few, env)
    finally:  # a failed dbt build keeps its target folder in dbt/target/ for inspection: not this test's
        from dagster import DagsterInstance

        with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
            for run in instance.get_runs():
                for kept in (REPO_ROOT / "dbt" / "target").glob(f"dbt_marts-{run.run_id[:7]}-*"):
                    shutil.rmtree(kept, ignore_errors=True)


def _dbt_fails_then_verbose(few: Path, env: dict[str, str]) -> None:
    failed = run_enrich(["run", str(few)], env, timeout=600)
    assert failed.returncode == 1, failed.stdout[-2000:] + failed.stderr[-2000:]
    assert re.search(r"^✗ dbt_marts \(\d+\.\d s\): failed$", failed.stdout, re.MULTILINE), failed.stdout
    assert re.search(r"^✓ waterfall \(", failed.stdout, re.MULTILINE)
    dbt_part = failed.stdout.split("dbt's output", 1)[-1]
    assert "dbt's output" in failed.stdout and DBT_OUTPUT in dbt_part and "no_such_target" in dbt_part
    assert not DAGSTER_LOG_LINE.search(failed.stdout + failed.stderr)
    assert "enrich: dbt_marts: " in failed.stderr and "enrich run --verbose" in failed.stderr

    # dbt's last build failed: it runs (and fails) again.
    verbose = run_enrich(["run", str(few), "--verbose"], env, timeout=600)
    assert verbose.returncode == 1
    lines = (verbose.stdout + verbose.stderr).splitlines()
    assert sum(bool(DAGSTER_LOG_LINE.search(line)) for line in lines) >= 10
    assert any("dbt_marts - Running dbt build" in line for line in lines)
    assert DBT_OUTPUT in verbose.stdout and "no_such_target" in verbose.stdout
    assert not re.search(r"^[✓✗] ", verbose.stdout, re.MULTILINE) and "dbt's output" not in verbose.stdout


@pytest.mark.parametrize("command", [["run"], ["estimate"], ["rotate-key"]])
def test_an_unreachable_state_store_exits_2_in_one_line_without_its_password(
        command: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    leads = tmp_path / "leads.csv"
    leads.write_text("id,email\n1,a@b.io\n", encoding="utf-8")
    args = [*command, str(leads)] if command[0] in ("run", "estimate") else command
    env = {**cli_env, "ENRICHMENT_STATE_URL": f"postgresql://alice:s3cr3t-pw@127.0.0.1:{port}/enrichment_state"}
    result = run_enrich(args, env, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"postgresql://127.0.0.1:{port}/enrichment_state cannot be reached" in result.stderr
    assert "s3cr3t-pw" not in result.stdout + result.stderr and "Traceback" not in result.stderr
