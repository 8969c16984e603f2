"""Shared machinery of the personal-data tests: isolated environments, the real CLI, the sample list, file digests."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import duckdb

from enrichment_assets_tests.support import REPO_ROOT
from enrichment_assets_tests.support.cli import run_enrich

SAMPLE = REPO_ROOT / "data" / "inbox" / "sample_leads.csv"
KEY = "personal-data-test-key-0123456789abcdefghij"  # 43 characters
OTHER_KEY = "personal-data-test-key-ZYXWVUTSRQPONMLKJIHGF"


def isolated_env(root: Path, **extra: str) -> dict[str, str]:
    """An environment for the real `enrich` command with every path under ``root`` and no key set."""
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for name in [n for n in env if n.endswith(("_API_KEY", "_BASE_URL")) or n.startswith("ENRICHMENT_")]:
        env.pop(name)
    env.update({
        "DAGSTER_HOME": str(root / "dagster_home"),
        "ENRICHMENT_DB": str(root / "enrichment.duckdb"),
        "ENRICHMENT_INBOX": str(root / "inbox"),
        "ENRICHMENT_SUPPRESSION": str(root / "suppression.csv"),
        "ENRICHMENT_CONFIG": str(REPO_ROOT / "enrichment.yaml"),
        "ENRICHMENT_MODE": "sandbox",
        "COLUMNS": "200",
        **extra,
    })
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def enrich(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return run_enrich(args, env, timeout=timeout)


def run_ok(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = enrich(args, env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def store_path(env: dict[str, str]) -> Path:
    db = Path(env["ENRICHMENT_DB"])
    return db.with_name(db.stem + ".responses.sqlite")


def query(env: dict[str, str], sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(env["ENRICHMENT_DB"], read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def sample_rows(first: int, last: int) -> tuple[list[str], list[list[str]]]:
    """The sample list's header and its data rows ``first``..``last`` (1-based, inclusive)."""
    with SAMPLE.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[first:last + 1]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def copy_sample(dest: Path) -> Path:
    shutil.copy(SAMPLE, dest)
    return dest


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (the Dagster instance excluded: it records the refused command)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "dagster_home" not in path.parts:
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
