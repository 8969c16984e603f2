"""A run launched by ``dagster dev`` (the daemon's queue and the DefaultRunLauncher), killed with SIGKILL while
its requests are in flight: once Dagster has marked it failed, the next ledger sync shows those requests as
``unknown`` with their worst case, and the ledger still accounts for every credit the vendors charged.

Everything is real: ``dagster dev`` (webserver, daemon, code server) on free ports, the run worker and the step
processes it spawns, the sandbox over HTTP, the ledger materialized by ``dagster asset materialize``. About two
minutes (Dagster's process start-ups dominate); it runs in the default suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from enrichment_assets.settings import PROVIDERS
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets_tests.conftest import REPO_ROOT
from enrichment_assets_tests.support.accounting import (
    fingerprints_of,
    sandbox_request_fingerprints,
)
from enrichment_assets_tests.support.cli import vendor_env
from enrichment_assets_tests.support.files import write_config, write_leads
from enrichment_assets_tests.support.live_run import isolated_session_env, live_keys
from enrichment_assets_tests.support.sandbox import fast_sandbox_config
from enrichment_assets_tests.support.tables import (
    leads_from_db,
    ledger_by_provider,
    query,
    response_store_path,
)

LEADS = 30


def dagster_yaml(home: Path) -> str:
    """The repo's dagster.yaml (its run monitoring and concurrency settings), with the state in ``home`` and the
    monitoring daemon polling every 2 s instead of every minute."""
    repo = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    monitoring = repo["run_monitoring"]
    assert monitoring["enabled"], "dagster.yaml must turn run monitoring on"
    return yaml.safe_dump({
        "storage": {"sqlite": {"base_dir": str(home / "storage")}},
        "telemetry": {"enabled": False},
        "concurrency": repo["concurrency"],
        "run_monitoring": {**monitoring, "poll_interval_seconds": 2},
    })


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait(what: str, check, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_sigkill_of_a_dagster_dev_run_leaves_its_requests_unknown(tmp_path: Path, make_sandbox) -> None:
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster_graphql import DagsterGraphQLClient

    keys = live_keys()
    # Slow answers: requests are on the wire when the run dies (and the vendor charges them all the same).
    sandbox = make_sandbox(fast_sandbox_config(p50=2.0, p95=3.0, **{p: {"api_key": k} for p, k in keys.items()}))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(dagster_yaml(home), encoding="utf-8")
    config = write_config(tmp_path / "enrichment.yaml")
    leads_file = tmp_path / "killed_list.csv"
    write_leads(leads_file, LEADS, seed=17)
    env = {**isolated_session_env(tmp_path), **vendor_env(sandbox.base_url), "DAGSTER_HOME": str(home),
           "ENRICHMENT_CONFIG": str(config), "ENRICHMENT_MODE": "live", "ENRICHMENT_LEASE_SECONDS": "5",
           "PYTHONUNBUFFERED": "1", **{f"{p.upper()}_API_KEY": k for p, k in keys.items()}}
    db = Path(env["ENRICHMENT_DB"])
    port = _free_port()
    log = (tmp_path / "dagster_dev.log").open("wb")
    dev = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                            "-w", "workspace.yaml"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)

        def loaded() -> bool:
            assert dev.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                entries = _graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
                                   )["data"]["workspaceOrError"]["locationEntries"]
            except (OSError, KeyError, TypeError, ValueError):
                return False
            return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

        _wait("dagster dev to serve", loaded, 240, 1.0)
        with DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions("lead_lists", ["killed_list"])
            run_id = client.submit_job_execution(
                "enrich_list", run_config={"ops": {"lead_ingestion": {"config": {
                    "path": str(leads_file), "columns": {}, "sheet": ""}}}},
                tags={"dagster/partition": "killed_list"})

            # The waterfall step holds a lease while it sends requests: that is the process to kill.
            def leased() -> list:
                if not response_store_path(db).exists():
                    return []
                with ResponseStore(response_store_path(db)) as store:
                    return [lease for lease in store.leases() if lease.run_id == run_id]

            (lease,) = _wait("the run's waterfall to start", leased, 300)
            _wait("requests in flight", lambda: sandbox.in_flight() >= 3, 120, 0.05)
            run_worker = _parent(lease.pid)

            def kill_the_run() -> None:
                os.kill(lease.pid, signal.SIGKILL)
                if run_worker is not None and run_worker != dev.pid:
                    os.kill(run_worker, signal.SIGKILL)  # the whole run dies, not just the step

            in_flight = sandbox.in_flight_across(kill_the_run)

            def failed() -> bool:
                run = instance.get_run_by_id(run_id)
                return run is not None and run.status == DagsterRunStatus.FAILURE

            _wait("Dagster to mark the run failed", failed, 180, 1.0)
            sandbox.wait_idle(timeout=60)  # the dead run's requests are answered (and charged) all the same
            materialize = subprocess.run(
                [
                    str(Path(sys.executable).parent / "dagster"),
                    "asset",
                    "materialize",
                    "--select",
                    "credit_ledger",
                    "-m",
                    "enrichment_assets.definitions",
                ],
                check=False,
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert materialize.returncode == 0, materialize.stdout[-2000:] + materialize.stderr[-3000:]
    finally:
        _stop(dev)
        log.close()

    # Every request in flight at the kill is in the ledger as unknown, at its worst case.
    mapping = sandbox_request_fingerprints(config, leads_from_db(db))
    unknown = {fp: worst for fps, worst in query(
        db, "SELECT request_fingerprints, worst_case_credits FROM credit_ledger WHERE outcome = 'unknown' "
            "AND run_id = ?", [run_id]) for fp in fps}
    assert in_flight
    for entry in in_flight:
        fps = fingerprints_of(entry, mapping, config)
        assert fps and set(fps) <= set(unknown), f"in flight at the kill, not unknown in the ledger: {entry}"
    # And the money: certain credits never above what the vendors charged, certain + uncertain never below.
    charged = sandbox.credits_by_provider()
    booked = ledger_by_provider(db)
    uncertain = dict(query(db, "SELECT provider, sum(uncertain_credits) FROM credit_ledger GROUP BY provider"))
    for provider in PROVIDERS:
        assert booked[provider]["credits"] <= charged[provider] <= booked[provider]["credits"] + float(
            uncertain.get(provider) or 0), (provider, booked, charged, uncertain)
