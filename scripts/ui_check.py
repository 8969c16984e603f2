#!/usr/bin/env python3
"""Check the Dagster UI in a real headless browser after an `enrich run` of the sample list.

What it does, all in a throwaway folder (nothing of the repo's state is touched):

1. `enrich run data/inbox/sample_leads.csv` with an isolated DAGSTER_HOME, DuckDB file and inbox;
2. starts `dagster-webserver` from the repo root (the repo's workspace.yaml) on a free port;
3. with headless Chromium (Debian's `chromium` + `chromium-driver`, driven by selenium) checks that
   - the global asset graph shows the pipeline's assets and the dbt models,
   - the `contacts` asset page shows the sample run's materialization (its run id),
   - the `callable_leads` (dbt) asset page shows a materialization too;
4. saves a screenshot of the asset graph (default docs/ui_asset_graph.png).

    python scripts/ui_check.py [--screenshot docs/ui_asset_graph.png] [--workdir DIR] [--port N]

Exit 0 when every check passed, 1 otherwise (each check is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "data" / "inbox" / "sample_leads.csv"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
GRAPH_ASSETS = ("raw_leads", "leadmagic_results", "contacts", "credit_ledger", "provider_performance",
                "callable_leads", "monthly_vendor_spend", "cost_per_mobile", "provider_funnel")


@dataclass
class UiCheckResult:
    run_id: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(workdir: Path) -> dict[str, str]:
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    (workdir / "inbox").mkdir(exist_ok=True)  # empty: the inbox sensor has nothing to pick up
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "ENRICHMENT_DB": str(workdir / "enrichment.duckdb"),
        "ENRICHMENT_INBOX": str(workdir / "inbox"),
        "ENRICHMENT_SUPPRESSION": str(workdir / "suppression.csv"),
        "ENRICHMENT_CONFIG": str(REPO_ROOT / "enrichment.yaml"),
        "ENRICHMENT_MODE": "sandbox",
    })
    return env


def enrich_sample(env: dict[str, str], workdir: Path) -> tuple[str, int]:
    """Run the sample list through the whole graph; return the run id and the exit code."""
    out = subprocess.run([sys.executable, "-m", "enrichment_assets.cli", "run", str(SAMPLE)], cwd=REPO_ROOT,
                         env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=900)
    (workdir / "enrich_run.log").write_text(out.stdout + out.stderr, encoding="utf-8")
    for line in out.stdout.splitlines():
        if line.startswith("Run ") and ":" in line:
            return line.split()[1].rstrip(":"), out.returncode
    raise RuntimeError(f"enrich run printed no run id (exit {out.returncode}): {out.stderr[-2000:]}")


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for_webserver(port: int, process: subprocess.Popen, timeout: float = 180) -> None:
    """Until the webserver answers and the code location is loaded."""
    query = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
             "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {process.returncode}")
        try:
            entries = graphql(port, query)["data"]["workspaceOrError"]["locationEntries"]
            last = entries
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e["locationOrLoadError"] for e in entries
                          if e["locationOrLoadError"]["__typename"] == "PythonError"]
                if errors:
                    raise RuntimeError(f"code location failed to load: {errors[0]['message'][:2000]}")
                return
        except (OSError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"dagster-webserver not ready after {timeout:.0f} s (last: {last})")


def start_webserver(env: dict[str, str], port: int, workdir: Path) -> subprocess.Popen:
    webserver = Path(sys.executable).parent / "dagster-webserver"
    command = [str(webserver)] if webserver.exists() else [sys.executable, "-m", "dagster_webserver"]
    log = open(workdir / "webserver.log", "w", encoding="utf-8")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([*command, "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the webserver and its code server
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=2200,1900", "--hide-scrollbars"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


PAGE_TEXT_JS = """
    if (!document.body) return '';
    // Graph nodes shorten long names (provi…_performance) and keep the full one in data-tooltip.
    const tips = Array.from(document.querySelectorAll('[data-tooltip]'), e => e.getAttribute('data-tooltip'));
    return document.body.innerText + '\\n' + tips.join('\\n');
"""


def wait_for_text(driver, texts: tuple[str, ...], timeout: float = 60) -> tuple[str, set[str]]:
    """Until every text is in the page (or the timeout); return the page text and the texts missing."""
    deadline = time.monotonic() + timeout
    body = ""
    while True:
        body = driver.execute_script(PAGE_TEXT_JS) or ""
        missing = {t for t in texts if t not in body}
        if not missing or time.monotonic() > deadline:
            return body, missing
        time.sleep(1)


def prepare_graph_view(driver) -> None:
    """Dismiss the first-visit newsletter dialog and expand every group (the UI's ⌥E; kept on reload)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    time.sleep(2)
    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        button.click()
    ActionChains(driver).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
    time.sleep(1)


def zoom_to_fit(driver, timeout: float = 30) -> None:
    """Wait for every node's status, zoom the graph to fit (the UI's double click), then one step out so that
    the group frames fit too."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while "Loading..." in (driver.execute_script("return document.body.innerText") or "") \
            and time.monotonic() < deadline:
        time.sleep(1)
    driver.execute_script("""
        const svg = document.querySelector('svg[class*="svgContainer"]');
        const viewport = svg && svg.parentElement && svg.parentElement.parentElement;
        if (viewport) viewport.dispatchEvent(new MouseEvent('dblclick', {bubbles: true, cancelable: true}));
    """)
    time.sleep(2)  # the zoom is animated
    for icon in driver.find_elements(By.CSS_SELECTOR, "button [aria-label='zoom_out']"):
        icon.find_element(By.XPATH, "./ancestor::button").click()
        time.sleep(2)
        break


def check_ui(port: int, run_id: str, screenshot: Path, workdir: Path, result: UiCheckResult) -> None:
    base = f"http://127.0.0.1:{port}"
    driver = browser()
    try:
        # The global asset graph (every group: leads, vendors, contacts, ledger, marts), groups expanded.
        driver.get(f"{base}/asset-groups")
        wait_for_text(driver, ("Global asset lineage",), timeout=30)
        prepare_graph_view(driver)
        driver.refresh()  # reopens with every group expanded
        body, missing = wait_for_text(driver, GRAPH_ASSETS)
        zoom_to_fit(driver)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        result.screenshots.append(screenshot)
        result.checks["asset graph shows the pipeline's assets and the dbt models"] = not missing
        if missing:
            result.notes.append(f"asset graph: missing {sorted(missing)}")

        # The sample run's materialization on the asset pages of a pipeline table and of a dbt model.
        for asset, rows in (("contacts", "236"), ("callable_leads", "174")):
            driver.get(f"{base}/assets/{asset}?view=events")
            body, missing = wait_for_text(driver, ("Materialized in run", run_id[:8], "dagster/row_count"), timeout=45)
            shot = workdir / f"ui_{asset}_events.png"
            driver.save_screenshot(str(shot))
            result.screenshots.append(shot)
            result.checks[f"{asset} page shows the materialization of run {run_id[:8]}"] = not missing
            if missing:
                result.notes.append(f"{asset} page: missing {sorted(missing)}; text: {body[:500]!r}")
            elif rows not in body:
                result.notes.append(f"{asset} page: row count is not the sample's usual {rows}")

        # dbt's source tests are asset checks on the pipeline's own `contacts` asset.
        driver.get(f"{base}/assets/contacts?view=checks")
        body, missing = wait_for_text(driver, ("source_unique_enrichment_contacts_record_id", "one_row_per_record"),
                                      timeout=45)
        result.checks["contacts page lists the dbt source tests among its checks"] = not missing
    finally:
        driver.quit()


def run_ui_check(workdir: Path, screenshot: Path, port: int | None = None, *,
                 sample_run: tuple[str, int] | None = None) -> UiCheckResult:
    """Steps 1-4. ``sample_run``: (run id, exit code) of an ``enrich_sample`` already made in ``workdir``,
    whose instance the UI is to show instead of a new run."""
    result = UiCheckResult()
    env = isolated_env(workdir)
    started = time.monotonic()
    result.run_id, returncode = sample_run or enrich_sample(env, workdir)
    result.checks["enrich run of the sample list succeeded"] = returncode == 0
    result.notes.append(f"enrich run {result.run_id} exited {returncode} in {time.monotonic() - started:.0f} s"
                        + ("" if returncode == 0 else f" (log: {workdir / 'enrich_run.log'})"))
    port = port or free_port()
    process = start_webserver(env, port, workdir)
    try:
        started = time.monotonic()
        wait_for_webserver(port, process)
        result.notes.append(f"webserver on port {port} ready in {time.monotonic() - started:.0f} s")
        check_ui(port, result.run_id, screenshot, workdir, result)
    finally:
        stop(process)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screenshot", type=Path, default=REPO_ROOT / "docs" / "ui_asset_graph.png")
    parser.add_argument("--workdir", type=Path, help="keep the instance, DuckDB file and logs here")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        print("needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver",
              file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ui_check_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        result = run_ui_check(workdir, args.screenshot.resolve(), args.port)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    for name, passed in result.checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    for note in result.notes:
        print(f"      {note}")
    print(f"screenshot: {args.screenshot}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
