"""The README's quickstart: `enrich run` of the bundled sample list against the embedded sandbox, then that run
in the Dagster UI in headless Chromium (scripts/ui_check.py: the asset graph, the run's materializations).

One run serves both halves. The UI half needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium``
package (the ``test`` extra): without them it is skipped on a developer's machine (after the run's checks
passed) and FAILS under ``CI=true`` (``.ci/run`` installs them).
"""

from __future__ import annotations

import importlib.util
import io
import re
import sys
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from enrichment_assets.cli.progress import LiveView, RunEvents
from enrichment_assets_tests.support import REPO_ROOT, require
from enrichment_assets_tests.support.cli import DAGSTER_LOG_LINE, DBT_OUTPUT

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.e2e


def load_ui_check():
    spec = importlib.util.spec_from_file_location("ui_check", REPO_ROOT / "scripts" / "ui_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ui_check", module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_quickstart_sample_run_and_the_ui(tmp_path: Path) -> None:
    ui_check = load_ui_check()
    work = tmp_path / "work"
    env = ui_check.isolated_env(work)  # the repo's enrichment.yaml, the embedded sandbox (no <V>_BASE_URL)

    run_id, returncode = ui_check.enrich_sample(env, work)
    output = (work / "enrich_run.log").read_text(encoding="utf-8")
    assert returncode == 0, output[-3000:]
    assert "sample_leads" in output
    with duckdb.connect(env["ENRICHMENT_DB"], read_only=True) as conn:
        leads = conn.execute("SELECT count(*) FROM raw_leads WHERE list_id = 'sample_leads'").fetchone()[0]
        rejected = conn.execute("SELECT count(*) FROM rejected_leads").fetchone()[0]
    assert leads >= 190 and rejected >= 3
    assert f"{leads} leads" in output
    # The run is in the instance at DAGSTER_HOME, so `dagster dev` on that home shows it.
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs(RunsFilter(job_name="enrich_list"))
        assert [r.run_id for r in runs] == [run_id] and runs[0].status == DagsterRunStatus.SUCCESS
        assert runs[0].tags.get("dagster/partition") == "sample_leads"
        steps = {s.step_key for s in instance.get_run_step_stats(run_id)}
        entries = instance.all_logs(run_id)

    # Not on a terminal, by default: one plain line per finished step of the run, then the summary; neither
    # Dagster's log lines nor dbt's output (both stay in the run: its event log and compute logs).
    assert not DAGSTER_LOG_LINE.search(output), output[:3000]
    assert DBT_OUTPUT not in output and "START test" not in output
    assert "\x1b[" not in output  # no animation, no colours
    done = re.findall(r"^✓ (\S+) \(\d+\.\d s\)", output, re.MULTILINE)
    assert sorted(done) == sorted(steps) and len(done) == len(set(done)), (done, steps)
    assert "dbt_marts" in steps and len(steps) >= 10
    assert len(output.splitlines()) <= len(steps) + 20, output
    logged = [r.user_message for r in entries if r.dagster_event is None]
    assert any("leads through the waterfall" in m for m in logged)  # the progress the display reads is in the run

    # The terminal display, fed the same events: the waterfall bar, the ETA, and each vendor's figures, which end
    # equal to the ledger's for the run, to the credit.
    screen = io.StringIO()
    events, view = RunEvents(), LiveView(Console(file=screen, force_terminal=True, width=120))
    view.start()
    for entry in entries:
        for line in events.observe(entry):
            view.print(line)
        view.update(events)
    view.stop()
    assert "ETA" in screen.getvalue() and "crustdata" in screen.getvalue()
    assert events.waterfall is not None and events.waterfall.done == events.waterfall.total == leads
    with duckdb.connect(env["ENRICHMENT_DB"], read_only=True) as conn:
        ledger = {p: (c, round(u, 2)) for p, c, u in conn.execute(
            "SELECT provider, sum(credits), sum(usd) FROM credit_ledger WHERE run_id = ? GROUP BY 1",
            [run_id]).fetchall()}
    assert {v.provider: (v.credits, v.usd) for v in events.waterfall.vendors if v.calls} == ledger

    require(CHROMIUM.exists(), f"Debian's chromium ({CHROMIUM})")
    require(CHROMEDRIVER.exists(), f"Debian's chromium-driver ({CHROMEDRIVER})")
    require(importlib.util.find_spec("selenium") is not None, "the selenium package (pip install -e '.[test]')")
    screenshot = tmp_path / "ui_asset_graph.png"

    result = ui_check.run_ui_check(work, screenshot, sample_run=(run_id, returncode))

    assert result.ok, f"{result.checks}\n{result.notes}"
    assert screenshot.stat().st_size > 10_000
