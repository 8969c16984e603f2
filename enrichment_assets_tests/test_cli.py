"""The real `enrich` command in a subprocess: exit codes and an end-to-end run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

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


@pytest.mark.e2e
def test_enrich_run_sample_list(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The quickstart: the bundled sample list against the embedded sandbox (no <V>_BASE_URL), the repo's config
    but for Enrich Layer's client pace (its documented 5/s would make this test a minute long)."""
    sample = tmp_path / "sample_leads.csv"
    shutil.copy(REPO_ROOT / "data" / "inbox" / "sample_leads.csv", sample)
    config = yaml.safe_load((REPO_ROOT / "enrichment.yaml").read_text(encoding="utf-8"))
    config["providers"]["enrichlayer"].update(rate_limit_per_second=50, burst=25)
    (tmp_path / "enrichment.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = enrich(["run", str(sample)], {**cli_env, "ENRICHMENT_CONFIG": str(tmp_path / "enrichment.yaml")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sample_leads" in result.stdout
    with duckdb.connect(cli_env["ENRICHMENT_DB"], read_only=True) as conn:
        leads = conn.execute("SELECT count(*) FROM raw_leads WHERE list_id = 'sample_leads'").fetchone()[0]
        rejected = conn.execute("SELECT count(*) FROM rejected_leads").fetchone()[0]
    assert leads >= 190 and rejected >= 3
    assert f"{leads} leads" in result.stdout

    # The run is in the instance at DAGSTER_HOME, so `dagster dev` on that home shows it.
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs(RunsFilter(job_name="enrich_list"))
        assert runs and runs[0].status == DagsterRunStatus.SUCCESS
        assert runs[0].tags.get("dagster/partition") == "sample_leads"
