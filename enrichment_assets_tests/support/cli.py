"""The real ``enrich`` CLI in its own process, pointed at a test sandbox.

``run_enrich`` and ``start_enrich`` fork the command from the launcher (``support/launcher.py``: a process that has
imported the CLI's libraries once), which saves each command 4.5-5 CPU-s of imports. ``ENRICH_TESTS_COLD=1``
starts every command as a fresh ``python -m enrichment_assets.cli`` instead, as the tests that need a cold start
(its time, its output while importing, another checkout) always do with ``enrich_cmd``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from enrichment_assets_tests.support import REPO_ROOT, launcher
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


def cold_start() -> bool:
    """``ENRICH_TESTS_COLD=1``: every command a fresh interpreter (``enrich_cmd``), not forked from the launcher."""
    return os.environ.get("ENRICH_TESTS_COLD", "").strip() == "1"


def run_enrich(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    """``enrich <args>`` to its end: its exit code, stdout and stderr."""
    if not cold_start():
        with tempfile.TemporaryDirectory(prefix="enrich-run-") as folder:
            return run_enrich_at_once([(args, env)], Path(folder), timeout)[0]
    return subprocess.run(enrich_cmd(*args), env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def start_enrich(args: list[str], env: dict[str, str], log_path: Path,
                 stderr_path: Path | None = None) -> subprocess.Popen | launcher.LaunchedProcess:
    """Start ``enrich`` in its own process group (session); stdout to ``log_path``, stderr too unless
    ``stderr_path`` is given. The result has ``pid``, ``poll()``, ``wait()`` and ``returncode``."""
    if not cold_start():
        log_path.write_bytes(b"")
        if stderr_path is not None:
            stderr_path.write_bytes(b"")
        return launcher.launch(args, env, REPO_ROOT, log_path, stderr_path)
    errors = stderr_path.open("wb") if stderr_path is not None else contextlib.nullcontext(subprocess.STDOUT)
    with log_path.open("wb") as out, errors as err:
        return subprocess.Popen(enrich_cmd(*args), env=env, cwd=REPO_ROOT, stdout=out, stderr=err,
                                start_new_session=True)


def sigkill(proc: subprocess.Popen | launcher.LaunchedProcess) -> None:
    """SIGKILL the process group of a process started by ``start_enrich`` (only ours)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def no_traceback(text: str) -> bool:
    return "Traceback (most recent call last)" not in text


def run_enrich_at_once(commands: list[tuple[list[str], dict[str, str]]], folder: Path,
                       timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Start every ``(args, env)`` command at once, wait for them all; their output is kept in ``folder``."""
    logs = [(folder / f"enrich-{i}.out", folder / f"enrich-{i}.err") for i in range(len(commands))]
    procs = [start_enrich(args, env, out, err) for (args, env), (out, err) in zip(commands, logs, strict=True)]
    try:
        codes = [proc.wait(timeout=timeout) for proc in procs]
    except subprocess.TimeoutExpired:
        for proc in procs:
            sigkill(proc)
        raise
    return [subprocess.CompletedProcess(["enrich", *args], code, out.read_text(encoding="utf-8", errors="replace"),
                                        err.read_text(encoding="utf-8", errors="replace"))
            for (args, _), code, (out, err) in zip(commands, codes, logs, strict=True)]
