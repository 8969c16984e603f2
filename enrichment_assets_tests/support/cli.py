"""The real ``enrich`` CLI in a subprocess, pointed at a test sandbox."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from enrichment_assets_tests.support import REPO_ROOT
from enrichment_assets_tests.support.sandbox import RecordingSandbox

#: A line of Dagster's console logger (what `enrich run --verbose` prints), and the first line dbt prints.
DAGSTER_LOG_LINE = re.compile(r" - dagster - (DEBUG|INFO|WARNING|ERROR) - ")
DBT_OUTPUT = "Running with dbt="

VENDOR_PREFIXES = ("LEADMAGIC", "ENRICHLAYER", "CRUSTDATA", "LANTERN", "PRONTO")


def vendor_env(base_url: str) -> dict[str, str]:
    return {f"{v}_BASE_URL": base_url for v in VENDOR_PREFIXES}


def prepare_env(cli_env: dict[str, str], sandbox: RecordingSandbox, config: Path, **extra: str) -> dict[str, str]:
    env = {**cli_env, **vendor_env(sandbox.base_url), "ENRICHMENT_CONFIG": str(config), **extra}
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def enrich_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "enrichment_assets.cli", *args]


def run_enrich(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(enrich_cmd(*args), env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def start_enrich(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start ``enrich`` in its own process group, output to ``log_path``."""
    handle = log_path.open("wb")
    try:
        return subprocess.Popen(enrich_cmd(*args), env=env, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        handle.close()


def sigkill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of a process started by ``start_enrich`` (only ours)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def no_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" not in text
