"""Never pay twice across processes: two `enrich run` at once, runs on separate disks, a killed process.

The real CLI against the recording sandbox over real HTTP, once per state-store backend: the SQLite file beside
the DuckDB file (processes on one machine), and PostgreSQL (``ENRICHMENT_STATE_URL``) on a real throw-away
server. What the sandbox charged is compared, request fingerprint by fingerprint, with the ledger.
"""

from __future__ import annotations

import csv
import json
import random
import re
import shutil
import time
from pathlib import Path

import pytest

from enrichment_assets.sandbox.sample_data import sample_people
from enrichment_assets.settings import PROVIDERS
from enrichment_assets.storage.ledger import sync_ledger
from enrichment_assets.storage.state_store import open_state_store
from enrichment_assets.storage.warehouse import connect
from enrichment_assets_tests.support.accounting import (
    account_by_fingerprint,
    fingerprints_of,
    sandbox_request_fingerprints,
)
from enrichment_assets_tests.support.cli import (
    prepare_env,
    run_enrich,
    sigkill,
    start_enrich,
)
from enrichment_assets_tests.support.files import LEAD_HEADER, lead_row, write_config
from enrichment_assets_tests.support.sandbox import WORLD, fast_sandbox_config
from enrichment_assets_tests.support.tables import (
    leads_from_db,
    ledger_by_provider,
    query,
    response_store_path,
)

PEOPLE = 48


def overlapping_lists(root: Path, seed: int) -> tuple[Path, Path]:
    """Two lead files of 32 people each, 16 of them in both (under other record ids)."""
    people = sample_people(WORLD, PEOPLE, seed)
    files = []
    for name, chosen, prefix in (("list_a", people[:32], "A"), ("list_b", people[16:], "B")):
        path = root / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(LEAD_HEADER)
            for i, person in enumerate(chosen):
                writer.writerow(lead_row(f"{prefix}{i + 1:05d}", person))
        files.append(path)
    return files[0], files[1]


def final_ledger(env: dict[str, str]) -> None:
    """Bring credit_ledger up to date with the whole journal, as the next run's ledger step would."""
    db = Path(env["ENRICHMENT_DB"])
    with open_state_store(response_store_path(db), env.get("ENRICHMENT_STATE_URL")) as store:
        conn = connect(db)
        try:
            sync_ledger(conn, store, set())
        finally:
            conn.close()


def shared_instance(env: dict[str, str]) -> dict[str, str]:
    """One Dagster instance for the runs on this machine, with the project's `duckdb_writers` pool limit: the
    steps that write the one DuckDB file take turns across processes (as the repository's dagster.yaml says)."""
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n", encoding="utf-8")
    # Made here, before any run starts: the test reads the instance while the runs go, and the first to open a
    # fresh home creates its tables (`enrich` serializes that among its own processes, not with this test's reads).
    from dagster import DagsterInstance

    with DagsterInstance.from_config(env["DAGSTER_HOME"]):
        pass
    return env


def backend_env(request: pytest.FixtureRequest, backend: str) -> dict[str, str]:
    if backend == "sqlite":
        return {}
    return {"ENRICHMENT_STATE_URL": request.getfixturevalue("state_db_url")}


def wait_all(procs: list, timeout: float = 400) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
        except Exception:
            for p in procs:
                sigkill(p)
            raise
    return codes


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_runs_at_once_on_overlapping_lists_pay_each_lookup_once(
        backend: str, request: pytest.FixtureRequest, cli_env: dict[str, str], tmp_path: Path, make_sandbox) -> None:
    # Slow vendors: each run's waterfall lasts long enough for the other's to start meanwhile.
    sandbox = make_sandbox(fast_sandbox_config(p50=1.0, p95=2.0))
    config = write_config(tmp_path / "enrichment.yaml")
    list_a, list_b = overlapping_lists(tmp_path, seed=5)
    env = shared_instance(prepare_env(cli_env, sandbox, config, **backend_env(request, backend)))
    db = env["ENRICHMENT_DB"]

    procs = [start_enrich(["run", str(path)], env, tmp_path / f"{path.stem}.log") for path in (list_a, list_b)]
    codes = wait_all(procs)
    logs = {p.stem: (tmp_path / f"{p.stem}.log").read_text(encoding="utf-8", errors="replace")
            for p in (list_a, list_b)}
    assert codes == [0, 0], {k: v[-3000:] for k, v in logs.items()}
    sandbox.wait_idle()
    final_ledger(env)
    if backend == "postgres":
        assert not response_store_path(db).exists(), "the SQLite store was written although the state is in Postgres"

    # The two runs' requests interleaved: they were on the wire at the same time.
    with open_state_store(response_store_path(db), env.get("ENRICHMENT_STATE_URL")) as store:
        sent = {}
        for attempt in store.attempts():
            sent.setdefault(attempt.list_id, []).append(attempt.sent_at)
    assert set(sent) == {"list_a", "list_b"}, sent.keys()
    assert max(min(v) for v in sent.values()) < min(max(v) for v in sent.values()), "the runs did not overlap"

    # Both lists were walked to the end.
    statuses = dict(query(db, "SELECT status, count(*) FROM contacts GROUP BY status"))
    assert statuses.get("pending", 0) == 0 and sum(statuses.values()) == 64, statuses

    # Every lookup charged once, the overlap included.
    accounts = account_by_fingerprint(db, sandbox, config)
    assert accounts
    twice = {fp: acc for fp, acc in accounts.items() if acc.sandbox_answers > 1}
    assert not twice, f"{len(twice)} lookups charged more than once: {list(twice.items())[:3]}"
    for fp, acc in accounts.items():
        assert acc.ledger_paid == acc.sandbox_answers and acc.ledger_unknown == 0, (fp, acc)
    # The ledger equals what the vendors charged, provider by provider.
    charged = sandbox.credits_by_provider()
    booked = ledger_by_provider(db)
    for provider in PROVIDERS:
        assert booked[provider]["credits"] == charged[provider], (provider, charged, booked)
    # The overlap was really needed by both lists (at the first provider alone, 16 shared people).
    both = _first_provider_fps(db, "list_a") & _first_provider_fps(db, "list_b")
    assert len(both) >= 10, len(both)


def _first_provider_fps(db: str, list_id: str) -> set[str]:
    """The request fingerprints one list's leads needed at the first provider (answered or from the store)."""
    return {fp for (fp,) in query(db, "SELECT request_fingerprint FROM leadmagic_results WHERE list_id = ? "
                                      "AND request_fingerprint IS NOT NULL", [list_id])}


@pytest.mark.e2e
def test_runs_on_separate_disks_share_answers_through_postgres(
        state_db_url: str, postgres_server, cli_env: dict[str, str], tmp_path: Path, make_sandbox) -> None:
    """Two workers launched on empty disks (their own DAGSTER_HOME on the deploy/ instance, their own DuckDB file
    and folders), sharing nothing but PostgreSQL: the second run of the same list sends no vendor request."""
    from enrichment_assets_tests.test_deploy_postgres import machine_home

    sandbox = make_sandbox(fast_sandbox_config())
    config = write_config(tmp_path / "enrichment.yaml")
    pg_env = postgres_server.dagster_env(postgres_server.create_database(f"dagster_{state_db_url[-8:]}"))
    people = sample_people(WORLD, 24, 9)
    runs = []
    for worker in ("worker1", "worker2"):
        disk = tmp_path / worker
        (disk / "inbox").mkdir(parents=True)
        leads = disk / "team_list.csv"
        with leads.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(LEAD_HEADER)
            for i, person in enumerate(people):
                writer.writerow(lead_row(f"T{i:05d}", person))
        env = prepare_env({**cli_env, "ENRICHMENT_DB": str(disk / "enrichment.duckdb"),
                           "ENRICHMENT_INBOX": str(disk / "inbox"),
                           "ENRICHMENT_SUPPRESSION": str(disk / "suppression.csv"),
                           "DAGSTER_HOME": str(disk / "dagster_home")}, sandbox, config,
                          ENRICHMENT_STATE_URL=state_db_url, **pg_env)
        shutil.rmtree(disk / "dagster_home")
        env["DAGSTER_HOME"] = str(machine_home(disk, "instance"))  # deploy/dagster.yaml: the instance on Postgres
        before = sum(sandbox.requests_by_provider().values())
        result = run_enrich(["run", str(leads)], env, timeout=400)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        sandbox.wait_idle()
        runs.append(sum(sandbox.requests_by_provider().values()) - before)
        assert not response_store_path(env["ENRICHMENT_DB"]).exists()
    first, second = runs
    assert first > 0, "the first run asked nothing: the test exercised nothing"
    assert second == 0, f"the second worker sent {second} vendor requests for answers already paid"
    # The second worker's results hold the same numbers, from the shared store.
    rows = [query(tmp_path / w / "enrichment.duckdb",
                  "SELECT record_id, best_phone FROM contacts ORDER BY record_id") for w in ("worker1", "worker2")]
    assert rows[0] == rows[1] and len(rows[0]) == 24


def _asks_about(entry, people: list) -> bool:
    """Whether a sandbox request names one of ``people`` (by LinkedIn profile or work email)."""
    text = json.dumps([entry.params, entry.body], default=str).lower()
    return any((p.linkedin_url and p.linkedin_url.lower().rstrip("/").rsplit("/", 1)[-1] in text)
               or (p.work_email and p.work_email.lower() in text) for p in people)


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_killed_process_loses_its_claims_with_its_lease_and_nothing_is_paid_twice(
        backend: str, request: pytest.FixtureRequest, cli_env: dict[str, str], tmp_path: Path, make_sandbox) -> None:
    rng = random.Random(14)
    sandbox = make_sandbox(fast_sandbox_config(p50=0.3, p95=0.6))
    config = write_config(tmp_path / "enrichment.yaml")
    list_a, list_b = overlapping_lists(tmp_path, seed=8)
    env = shared_instance(prepare_env(cli_env, sandbox, config, ENRICHMENT_LEASE_SECONDS="2",
                                      **backend_env(request, backend)))
    db = env["ENRICHMENT_DB"]

    victim = start_enrich(["run", str(list_a)], env, tmp_path / "victim.log")
    survivor = start_enrich(["run", str(list_b)], env, tmp_path / "survivor.log")
    # Killed in its waterfall, with requests of its own on the wire: the first 16 people are only on its list.
    # (Not while a step that writes DuckDB holds the `duckdb_writers` slot: Dagster keeps a killed run's slot
    # until the run is marked failed, and the survivor's writing steps would wait for it.)
    own = list(sample_people(WORLD, PEOPLE, 8)[:16])
    deadline = time.monotonic() + 240
    while sum(1 for r in sandbox.snapshot() if _asks_about(r, own)) < 6:
        assert victim.poll() is None and time.monotonic() < deadline, "the victim sent too little before the kill"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))
    in_flight = sandbox.in_flight_across(lambda: sigkill(victim))
    killed_at = time.monotonic()  # every request the victim sent had reached the sandbox by now
    assert wait_all([survivor]) == [0], (tmp_path / "survivor.log").read_text(errors="replace")[-4000:]
    sandbox.wait_idle()  # the dead client's requests are still answered (and charged) by the vendor
    rerun = run_enrich(["run", str(list_a)], env, timeout=400)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    sandbox.wait_idle()
    final_ledger(env)

    # The kill caught requests on the wire; the rerun finished the list; both lists are complete.
    assert in_flight, "the kill caught no request in flight"
    statuses = dict(query(db, "SELECT status, count(*) FROM contacts GROUP BY status"))
    assert statuses.get("pending", 0) == 0 and sum(statuses.values()) == 64, statuses

    # Nothing paid twice but what the victim had asked and never recorded: a lookup answered twice was asked
    # before the kill and is unknown in the ledger (on the wire at the kill, or answered while the victim died
    # before it could store the answer).
    mapping = sandbox_request_fingerprints(config, leads_from_db(db))
    asked_before_kill = {fp for entry in sandbox.snapshot() if entry.started <= killed_at
                         for fp in fingerprints_of(entry, mapping, config)}
    accounts = account_by_fingerprint(db, sandbox, config)
    for fp, acc in accounts.items():
        limit = 2 if fp in asked_before_kill and acc.ledger_unknown else 1
        assert acc.sandbox_answers <= limit, (fp, acc, fp in asked_before_kill)
        assert acc.ledger_paid <= 1, (fp, acc)
        assert acc.sandbox_answers <= acc.ledger_paid + acc.ledger_unknown, (fp, acc)
    # The dead process's unanswered requests are unknown in the ledger, at their worst case; the rest is exact.
    charged, booked = sandbox.credits_by_provider(), ledger_by_provider(db)
    for provider in PROVIDERS:
        gap = charged[provider] - booked[provider]["credits"]
        assert 0 <= gap <= booked[provider]["unknown_worst_case"], (provider, charged, booked)
    assert sum(b["unknown"] for b in booked.values()) >= 1


@pytest.mark.e2e
def test_switching_from_sqlite_to_postgres_keeps_every_paid_answer(
        state_db_url: str, cli_env: dict[str, str], tmp_path: Path, make_sandbox) -> None:
    """`enrich copy-state` carries the SQLite store's answers and journal into PostgreSQL: after the switch, the
    same people in a new list cost nothing, and the ledger still equals what the vendors charged."""
    sandbox = make_sandbox(fast_sandbox_config())
    config = write_config(tmp_path / "enrichment.yaml")
    list_a, _ = overlapping_lists(tmp_path, seed=11)
    env = prepare_env(cli_env, sandbox, config)
    result = run_enrich(["run", str(list_a)], env, timeout=400)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    sandbox.wait_idle()
    paid = sum(sandbox.requests_by_provider().values())
    assert paid > 0

    on_pg = {**env, "ENRICHMENT_STATE_URL": state_db_url}
    copied = run_enrich(["copy-state"], on_pg)
    assert copied.returncode == 0 and "Copied" in copied.stdout, copied.stdout + copied.stderr
    again = run_enrich(["copy-state"], on_pg)  # idempotent: nothing new the second time
    assert again.returncode == 0 and re.findall(r"(\d[\d,]*) of \d", again.stdout) == ["0"] * 5, again.stdout

    same_people = tmp_path / "list_a_again.csv"
    shutil.copy(list_a, same_people)
    result = run_enrich(["run", str(same_people)], on_pg, timeout=400)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    sandbox.wait_idle()
    assert sum(sandbox.requests_by_provider().values()) == paid, "answers paid before the switch were bought again"
    final_ledger(on_pg)
    charged, booked = sandbox.credits_by_provider(), ledger_by_provider(on_pg["ENRICHMENT_DB"])
    for provider in PROVIDERS:
        assert booked[provider]["credits"] == charged[provider], (provider, charged, booked)


def _slot_holders(env: dict[str, str]) -> set[str]:
    """The pids of the `enrich run` processes whose runs hold a `duckdb_writers` slot now."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = {s.run_id for s in instance.event_log_storage.get_concurrency_info("duckdb_writers").claimed_slots}
        return {instance.get_run_by_id(r).tags.get("enrichment/pid") for r in runs}


@pytest.mark.e2e
def test_a_process_killed_inside_a_duckdb_writing_step_does_not_hold_the_others_back(
        cli_env: dict[str, str], tmp_path: Path, make_sandbox) -> None:
    """Bug (b): the killed run kept its `duckdb_writers` slot and the other run's writing steps waited for it
    forever. The survivor's `enrich run` fails the dead run and frees its slot; a rerun finishes the list."""
    sandbox = make_sandbox(fast_sandbox_config(p50=0.3, p95=0.6))
    config = write_config(tmp_path / "enrichment.yaml")
    list_a, list_b = overlapping_lists(tmp_path, seed=21)
    env = shared_instance(prepare_env(cli_env, sandbox, config))
    victim = start_enrich(["run", str(list_a)], env, tmp_path / "victim.log")
    survivor = start_enrich(["run", str(list_b)], env, tmp_path / "survivor.log")
    deadline = time.monotonic() + 240
    while str(victim.pid) not in _slot_holders(env):
        assert victim.poll() is None and time.monotonic() < deadline, "the victim never held the slot"
        time.sleep(0.05)
    sigkill(victim)
    assert wait_all([survivor], timeout=300) == [0], (tmp_path / "survivor.log").read_text(errors="replace")[-4000:]
    rerun = run_enrich(["run", str(list_a)], env, timeout=400)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    statuses = dict(query(env["ENRICHMENT_DB"], "SELECT status, count(*) FROM contacts GROUP BY status"))
    assert statuses.get("pending", 0) == 0 and sum(statuses.values()) == 64, statuses
