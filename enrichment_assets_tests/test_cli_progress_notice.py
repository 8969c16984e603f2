"""What `enrich run` says of its own while the run's output is muted (why it waits) still reaches stderr."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from rich.console import Console
from enrichment_assets.cli.progress import RunProgress

progress = RunProgress(Console())
with progress:
    print("the run's own output")  # muted: it stays in the run's compute logs
    progress.notice("enrich: list 'spring' is being enriched by another `enrich run` (pid 1); waiting",
                    lambda line: print("fallback: " + line, file=__import__("sys").stderr))
"""


def test_a_notice_while_the_run_is_muted_goes_to_the_original_stderr() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    assert "the run's own output" not in done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "enrich: list 'spring' is being enriched by another `enrich run` (pid 1); waiting"]


def test_without_muting_the_notice_is_printed_by_the_fallback() -> None:
    lines: list[str] = []
    from rich.console import Console

    from enrichment_assets.cli.progress import RunProgress

    progress = RunProgress(Console(), verbose=True)
    with progress:
        progress.notice("enrich: waiting", lines.append)
    assert lines == ["enrich: waiting"]
