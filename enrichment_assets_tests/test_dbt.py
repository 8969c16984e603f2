"""The dbt project in dbt/ as Dagster assets: a real `dbt build` on a small fixture warehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, job, materialize, op
from dagster_dbt import DbtCliResource, DbtProject

from enrichment_assets.dagster_defs import dbt_build
from enrichment_assets.dagster_defs.constants import DUCKDB_POOL
from enrichment_assets.dagster_defs.dbt_assets import (
    dbt_executable,
    dbt_manifest,
    dbt_marts,
    dbt_project,
    manifest_is_stale,
    parse_ahead_of_build,
    prepare_dbt_project,
)
from enrichment_assets.dagster_defs.resources import EnrichmentSettings
from enrichment_assets.dbt_parse_ahead import DbtParseAhead
from enrichment_assets.storage.dbt_state import (
    BuildInputs,
    forget_build,
    plan_build,
    project_digest,
    read_build,
    record_build,
    source_tables,
)
from enrichment_assets.storage.warehouse import connect
from enrichment_assets_tests.support import REPO_ROOT


@pytest.fixture(autouse=True)
def live_instance() -> Iterator[None]:
    """Each test loads definitions under a live instance.

    An instance made by an earlier test in this process (a sensor or schedule test) leaves its storage as
    the "current" one after it is gone, and loading definitions would then trip over it.
    """
    with DagsterInstance.ephemeral():
        yield


MODELS = ("callable_leads", "monthly_vendor_spend", "cost_per_mobile", "provider_funnel")
OCT, NOV = datetime(2026, 10, 30, 23, 0, tzinfo=UTC), datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def load_fixture(db_path: Path, *, bad_status: bool = False) -> None:
    """Two lead lists; contacts in every status; ledger rows over two months and three providers."""
    conn = connect(db_path)  # creates the contract tables (warehouse DDL)
    try:
        leads = [("spring", "R1"), ("spring", "R2"), ("spring", "R3"), ("spring", "R4"), ("fall", "R5"),
                 ("fall", "R6")]
        conn.executemany(
            "INSERT INTO raw_leads (list_id, record_id, first_name, last_name, company, fingerprint, loaded_at) "
            "VALUES (?, ?, 'First' || ?, 'Last', 'Acme', 'fp', ?)", [(list_id, r, r, OCT) for list_id, r in leads])
        contacts = [
            # record_id, list_id, best_phone, type, score, sources, status
            ("R1", "spring", "+447700900001", "mobile", 5.0, ["leadmagic", "pronto"], "mobile_found"),
            ("R2", "spring", "+33612345678", "mobile", 3.0, ["pronto"], "mobile_found"),
            ("R3", "spring", "+14155550100", "fixed_line_or_mobile", 1.0, ["enrichlayer"], "phone_found"),
            ("R4", "spring", None, None, None, None, "not_found"),
            ("R5", "fall", "+4915112345678", "mobile", 4.0, ["leadmagic"], "mobile_found"),
            ("R6", "fall", None, None, None, None, "bogus" if bad_status else "suppressed"),
        ]
        conn.executemany(
            "INSERT INTO contacts (record_id, list_id, first_name, last_name, company, best_phone, best_phone_type, "
            "best_phone_score, best_phone_sources, phone_count, status, enriched_at) "
            "VALUES (?, ?, 'First' || ?, 'Last', 'Acme', ?, ?, ?, ?, 1, ?, ?)",
            [(r, list_id, r, p, t, s, src, st, NOV) for r, list_id, p, t, s, src, st in contacts])
        conn.executemany(
            "INSERT INTO contact_phones (record_id, e164, number_type, region, sources, source_count, "
            "shared_with_others, score, list_id) VALUES (?, ?, ?, ?, ?, ?, false, ?, ?)",
            [("R1", "+447700900001", "mobile", "GB", ["leadmagic", "pronto"], 2, 5.0, "spring"),
             ("R2", "+33612345678", "mobile", "FR", ["pronto"], 1, 3.0, "spring"),
             ("R2", "+33145678901", "fixed_line", "FR", ["enrichlayer"], 1, 1.0, "spring"),
             ("R3", "+14155550100", "fixed_line_or_mobile", "US", ["enrichlayer"], 1, 1.0, "spring"),
             ("R5", "+4915112345678", "mobile", "DE", ["leadmagic"], 1, 4.0, "fall")])
        ledger = [
            # entry_id, called_at, list_id, record_id, provider, outcome, credits, usd
            ("e1", OCT, "spring", "R1", "leadmagic", "found", 5.0, 0.12),
            ("e2", OCT, "spring", "R2", "leadmagic", "not_found", 0.0, 0.0),
            ("e3", OCT, "spring", "R2", "pronto", "found", 10.0, 0.5),
            ("e4", NOV, "spring", "R3", "enrichlayer", "found", 2.0, 0.1),
            ("e5", NOV, "fall", "R5", "leadmagic", "found", 5.0, 0.12),
            ("e6", NOV, "fall", "R6", "leadmagic", "unknown", 5.0, 0.12),
        ]
        conn.executemany(
            "INSERT INTO credit_ledger (entry_id, called_at, run_id, list_id, record_id, provider, endpoint, "
            "outcome, credits, credit_basis, usd) VALUES (?, ?, 'run', ?, ?, ?, '/x', ?, ?, 'price_rule', ?)",
            ledger)
        conn.executemany(
            "INSERT INTO provider_performance (provider, calls, found, mobiles, credits, usd, leads_sent, cache_hits) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [("leadmagic", 4, 2, 2, 15.0, 0.36, 5, 1), ("pronto", 1, 1, 1, 10.0, 0.5, 1, 0),
             ("enrichlayer", 1, 1, 0, 2.0, 0.1, 1, 0)])
    finally:
        conn.close()


def dbt_resources() -> dict:
    return {"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
            "enrichment": EnrichmentSettings.from_environment()}


@pytest.mark.e2e  # a real dbt build
def test_dbt_build_on_fixture_warehouse(isolated_env: dict[str, str]) -> None:
    db_path = Path(isolated_env["ENRICHMENT_DB"])
    load_fixture(db_path)

    result = materialize([dbt_marts], resources=dbt_resources(), raise_on_error=False)

    assert result.success
    # dagster-dbt's folder for the invocation (under DBT_TARGET_PATH, see conftest) is removed once done.
    target = Path(isolated_env["DBT_TARGET_PATH"])
    assert target.is_dir() and not list(target.glob(f"dbt_marts-{result.run_id[:7]}-*"))
    mats = {m.asset_key.path[-1]: m for m in result.get_asset_materialization_events()}
    assert set(mats) == set(MODELS)
    row_counts = {k: m.materialization.metadata["dagster/row_count"].value for k, m in mats.items()}
    assert row_counts == {"callable_leads": 3, "monthly_vendor_spend": 4, "cost_per_mobile": 2, "provider_funnel": 3}
    checks = {e.asset_check_key: e.passed for e in result.get_asset_check_evaluations()}
    # Source tests are checks on the pipeline's own assets; model tests on the models.
    assert checks[AssetCheckKey(AssetKey("contacts"), "source_unique_enrichment_contacts_record_id")] is True
    assert checks[AssetCheckKey(AssetKey("monthly_vendor_spend"), "monthly_vendor_spend_reconciles_with_ledger")]
    assert all(checks.values()) and len(checks) >= 20
    # dbt ran inside this process: once its step ended, another process can take the file's write lock.
    other = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
                            str(db_path)], capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr[-500:]

    with duckdb.connect(str(db_path), read_only=True) as conn:
        callable_leads = conn.execute(
            "SELECT record_id, name, best_phone, phone_type, score, sources, sources_text, phone_region "
            "FROM marts.callable_leads ORDER BY record_id").fetchall()
        spend = conn.execute("SELECT strftime(month, '%Y-%m'), provider, calls, found_calls, unknown_calls, credits, "
                             "round(usd, 4) FROM marts.monthly_vendor_spend ORDER BY 1, 2").fetchall()
        cost = conn.execute("SELECT list_id, leads, mobiles, reachable, suppressed, calls, credits, "
                            "credits_per_mobile FROM marts.cost_per_mobile ORDER BY 1").fetchall()
        funnel = conn.execute("SELECT provider, mobile_rate, round(share_of_mobiles, 4), credits_per_mobile "
                              "FROM marts.provider_funnel ORDER BY 1").fetchall()
        kinds = dict(conn.execute("SELECT table_name, table_type FROM information_schema.tables "
                                  "WHERE table_schema = 'marts'").fetchall())
    assert callable_leads == [
        ("R1", "FirstR1 Last", "+447700900001", "mobile", 5.0, ["leadmagic", "pronto"], "leadmagic, pronto", "GB"),
        ("R2", "FirstR2 Last", "+33612345678", "mobile", 3.0, ["pronto"], "pronto", "FR"),
        ("R5", "FirstR5 Last", "+4915112345678", "mobile", 4.0, ["leadmagic"], "leadmagic", "DE"),
    ]
    # Months are UTC calendar months: 2026-10-30 23:00 UTC is October whatever the machine's time zone.
    assert spend == [
        ("2026-10", "leadmagic", 2, 1, 0, 5.0, 0.12),
        ("2026-10", "pronto", 1, 1, 0, 10.0, 0.5),
        ("2026-11", "enrichlayer", 1, 1, 0, 2.0, 0.1),
        ("2026-11", "leadmagic", 2, 1, 1, 10.0, 0.24),
    ]
    assert cost == [("fall", 2, 1, 1, 1, 2, 10.0, 10.0), ("spring", 4, 2, 3, 0, 4, 17.0, 8.5)]
    assert funnel == [("enrichlayer", 0.0, 0.0, None), ("leadmagic", 0.4, 0.6667, 7.5), ("pronto", 1.0, 0.3333, 10.0)]
    # Person-level data stays a view over contacts (erasure reaches it); aggregates are tables.
    assert kinds == {"callable_leads": "VIEW", "monthly_vendor_spend": "BASE TABLE",
                     "cost_per_mobile": "BASE TABLE", "provider_funnel": "BASE TABLE"}


@pytest.mark.e2e  # a real dbt build
def test_failing_source_test_fails_the_step(isolated_env: dict[str, str]) -> None:
    """A contract violation in `contacts` (unknown status) fails the check on contacts and the dbt step."""
    load_fixture(Path(isolated_env["ENRICHMENT_DB"]), bad_status=True)

    result = materialize([dbt_marts], resources=dbt_resources(), raise_on_error=False)

    assert not result.success
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    status_check = next(name for name in checks if name.startswith("source_accepted_values_enrichment_contacts_status"))
    assert checks[status_check] is False
    # dbt skips the models built on contacts; the ledger-only model is still built.
    built = {m.asset_key.path[-1] for m in result.get_asset_materialization_events()}
    assert "monthly_vendor_spend" in built and "callable_leads" not in built
    assert list(Path(isolated_env["DBT_TARGET_PATH"]).glob("dbt_marts-*/dbt.log"))  # a failed step keeps its log
    # A failed build is not recorded: the next run builds again (and fails again) instead of skipping.
    with connect(Path(isolated_env["ENRICHMENT_DB"])) as conn:
        assert read_build(conn) is None


def test_models_sit_downstream_of_pipeline_assets_in_one_pool() -> None:
    from enrichment_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    parents = {m: {k.to_user_string() for k in graph.get(AssetKey(m)).parent_keys} for m in MODELS}
    assert parents == {
        "callable_leads": {"contacts", "contact_phones"},
        "monthly_vendor_spend": {"credit_ledger"},
        "cost_per_mobile": {"contacts", "credit_ledger", "raw_leads"},
        "provider_funnel": {"provider_performance"},
    }
    for model in MODELS:
        node = graph.get(AssetKey(model))
        assert node.group_name == "marts" and node.pools == {DUCKDB_POOL}
    # `enrich run` (the enrich_list job) builds them, in one dbt step after the pipeline's writers.
    job = defs.resolve_job_def("enrich_list")
    assert [n.name for n in job.graph.nodes if n.definition.name == "dbt_marts"] == ["dbt_marts"]
    assert {AssetKey(m) for m in MODELS} <= job.asset_layer.asset_graph.get_all_asset_keys()


@pytest.mark.e2e  # the real dbt CLI (dbt parse)
def test_manifest_is_parsed_on_a_fresh_clone(tmp_path: Path) -> None:
    """No dbt/target/ in git: loading the code parses the project when the manifest is missing or stale."""
    clone = tmp_path / "dbt"
    shutil.copytree(REPO_ROOT / "dbt", clone, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=clone)
    assert manifest_is_stale(project)

    prepare_dbt_project(project)

    assert project.manifest_path.exists() and not manifest_is_stale(project)
    model = clone / "models" / "marts" / "callable_leads.sql"
    later = project.manifest_path.stat().st_mtime + 5
    os.utime(model, (later, later))
    assert manifest_is_stale(project)


@pytest.fixture
def dbt_cli_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The arguments of every dbt invocation the dbt step made in this test."""
    calls: list[list[str]] = []
    original = dbt_build.run_dbt

    def counting_run(command, *rest, **kwargs):
        calls.append(list(command))
        return original(command, *rest, **kwargs)

    monkeypatch.setattr(dbt_build, "run_dbt", counting_run)
    return calls


def run_logs(instance: DagsterInstance, run_id: str) -> str:
    return "\n".join(entry.user_message for entry in instance.all_logs(run_id))


@pytest.mark.e2e  # a real dbt build
def test_unchanged_rerun_skips_dbt_build(isolated_env: dict[str, str], dbt_cli_calls: list[list[str]]) -> None:
    """dbt runs again only when a source table, the project, the vars or the selection changed."""
    db_path = Path(isolated_env["ENRICHMENT_DB"])
    load_fixture(db_path)
    with DagsterInstance.ephemeral() as instance:
        def run(selection: list[AssetKey] | None = None):
            result = materialize([dbt_marts], resources=dbt_resources(), instance=instance, selection=selection)
            assert result.success
            return result

        first = run()
        assert len(dbt_cli_calls) == 1 and dbt_cli_calls[0][0] == "build"
        assert len(first.get_asset_materialization_events()) == len(MODELS)

        second = run()  # nothing changed: no dbt, nothing claimed as materialized or checked
        assert len(dbt_cli_calls) == 1
        assert second.get_asset_materialization_events() == [] and second.get_asset_check_evaluations() == []
        assert f"dbt build skipped: dbt sources and project unchanged since the build of run {first.run_id}" in \
            run_logs(instance, second.run_id)
        with duckdb.connect(str(db_path), read_only=True) as conn:  # the models are still there, still right
            assert conn.execute("SELECT count(*) FROM marts.cost_per_mobile").fetchone()[0] == 2

        with connect(db_path) as conn:  # one contact changes status: cost_per_mobile counts it
            conn.execute("UPDATE contacts SET status = 'suppressed' WHERE record_id = 'R4'")
        third = run()
        assert len(dbt_cli_calls) == 2
        assert {m.asset_key.path[-1] for m in third.get_asset_materialization_events()} == set(MODELS)
        assert "main.contacts changed" in run_logs(instance, third.run_id)
        with duckdb.connect(str(db_path), read_only=True) as conn:
            assert conn.execute("SELECT suppressed FROM marts.cost_per_mobile WHERE list_id = 'spring'"
                                ).fetchone()[0] == 1

        # Another selection is another build; once built, the same selection skips.
        subset = run([AssetKey("monthly_vendor_spend")])
        assert len(dbt_cli_calls) == 3
        assert [m.asset_key.path[-1] for m in subset.get_asset_materialization_events()] == ["monthly_vendor_spend"]
        assert "a different selection" in run_logs(instance, subset.run_id)
        run([AssetKey("monthly_vendor_spend")])
        assert len(dbt_cli_calls) == 3


def test_edited_project_file_changes_the_project_digest(tmp_path: Path) -> None:
    """What makes an edited model rebuild: its content, not its mtime, and not dbt's own output."""
    clone = tmp_path / "dbt"
    shutil.copytree(REPO_ROOT / "dbt", clone, ignore=shutil.ignore_patterns("target", "logs"))
    before = project_digest(clone)
    model = clone / "models" / "marts" / "callable_leads.sql"

    later = model.stat().st_mtime + 5
    os.utime(model, (later, later))
    (clone / "target").mkdir()
    (clone / "target" / "run_results.json").write_text("{}")
    assert project_digest(clone) == before

    model.write_text(model.read_text() + "\n-- edited\n")
    assert project_digest(clone) != before
    (clone / "macros").mkdir()
    (clone / "macros" / "m.sql").write_text("{% macro m() %}1{% endmacro %}")
    assert project_digest(clone) != before


def test_build_plan_on_missing_and_changed_tables(isolated_env: dict[str, str]) -> None:
    """The skip rule without dbt: a missing source never skips, a dropped model table is rebuilt."""
    sources = source_tables(dbt_manifest)
    assert ("main", "contacts") in sources and ("main", "credit_ledger") in sources
    db_path = Path(isolated_env["ENRICHMENT_DB"])
    load_fixture(db_path)
    model = ("marts", "monthly_vendor_spend")
    args = {"args": ["build"]}

    def plan(conn):
        return plan_build(conn, sources=sources, models=[model], project="p", invocation=args,
                          selection=["monthly_vendor_spend"])

    with connect(db_path) as conn:
        conn.execute("CREATE SCHEMA marts")
        conn.execute("CREATE TABLE marts.monthly_vendor_spend AS SELECT 1 AS x")
        first = plan(conn)
        assert not first.skip and first.previous is None
        record_build(conn, first.inputs, "run-1")
        assert plan(conn).skip and plan(conn).previous.run_id == "run-1"

        conn.execute("DELETE FROM credit_ledger WHERE entry_id = 'e6'")
        assert plan(conn).reasons == ["source table(s) main.credit_ledger changed"]
        record_build(conn, plan(conn).inputs, "run-2")
        assert plan(conn).skip

        conn.execute("DROP TABLE marts.monthly_vendor_spend")
        assert plan(conn).reasons == ["model relation(s) marts.monthly_vendor_spend missing"]
        conn.execute("CREATE TABLE marts.monthly_vendor_spend AS SELECT 1 AS x")
        assert plan(conn).skip

        forget_build(conn)  # what the step does before dbt runs
        assert not plan(conn).skip

        record_build(conn, plan(conn).inputs, "run-3")
        conn.execute("DROP TABLE provider_performance")
        missing = plan(conn)
        assert missing.reasons == ["source table(s) main.provider_performance missing"] and missing.inputs is None
    assert isinstance(first.inputs, BuildInputs)


@op(name="waterfall", config_schema={"seconds": float})
def _walk(context) -> int:
    time.sleep(context.op_config["seconds"])
    return 1


@op(name="merge_contacts")
def _after(walked: int) -> int:
    time.sleep(0.3)
    return walked


@job
def _walk_then_merge():
    _after(_walk())


def _run_with(parse_ahead: DbtParseAhead, walk_seconds: float) -> None:
    """A real in-process Dagster run whose step ``waterfall`` lasts ``walk_seconds``, heard by ``parse_ahead``."""
    with DagsterInstance.ephemeral() as instance:
        run_id = str(uuid.uuid4())
        instance.add_event_listener(run_id, parse_ahead.listener)
        result = _walk_then_merge.execute_in_process(
            instance=instance, run_id=run_id, run_config={"ops": {"waterfall": {"config": {"seconds": walk_seconds}}}})
        assert result.success


def test_the_parse_ahead_starts_only_once_the_walk_has_lasted() -> None:
    """A walk that outlasts the delay starts the parse (once); one that ends sooner starts none, nor does a
    later step; a parse that fails costs only its time."""
    calls: list[str] = []
    long_walk = DbtParseAhead(lambda: calls.append("long"), after_seconds=0.3)
    _run_with(long_walk, walk_seconds=1.0)
    assert long_walk.done.wait(10) and calls == ["long"]

    short_walk = DbtParseAhead(lambda: calls.append("short"), after_seconds=0.6)
    _run_with(short_walk, walk_seconds=0.0)
    time.sleep(1.0)
    assert calls == ["long"] and not short_walk.started.is_set()

    failing = DbtParseAhead(lambda: 1 / 0, after_seconds=0.0)
    _run_with(failing, walk_seconds=0.5)
    assert failing.done.wait(10)


@pytest.mark.e2e  # a real dbt build
def test_a_build_takes_the_project_parsed_ahead_only_when_it_fits(isolated_env: dict[str, str]) -> None:
    db_path = Path(isolated_env["ENRICHMENT_DB"])
    load_fixture(db_path)
    dbt = dbt_resources()["dbt"]
    with DagsterInstance.ephemeral() as instance:
        assert parse_ahead_of_build(dbt, db_path)
        ahead = materialize([dbt_marts], resources=dbt_resources(), instance=instance)
        assert ahead.success
        assert "dbt build used the project parsed during the walk" in run_logs(instance, ahead.run_id)
        assert {m.asset_key.path[-1] for m in ahead.get_asset_materialization_events()} == set(MODELS)
        assert all(e.passed for e in ahead.get_asset_check_evaluations())
        with duckdb.connect(str(db_path), read_only=True) as conn:
            assert conn.execute("SELECT count(*) FROM marts.cost_per_mobile").fetchone()[0] == 2

        # Parsed for another database (other vars): the build parses the project itself.
        with connect(db_path) as conn:
            conn.execute("UPDATE contacts SET status = 'suppressed' WHERE record_id = 'R4'")
        assert parse_ahead_of_build(dbt, db_path.with_name("elsewhere.duckdb"))
        parsed = materialize([dbt_marts], resources=dbt_resources(), instance=instance)
        assert parsed.success and "dbt build parsed the project" in run_logs(instance, parsed.run_id)
        with duckdb.connect(str(db_path), read_only=True) as conn:
            assert conn.execute("SELECT suppressed FROM marts.cost_per_mobile WHERE list_id = 'spring'"
                                ).fetchone()[0] == 1


#: Watches a file's POSIX locks from another process without taking one (F_GETLK): prints the time of each
#: change from locked to unlocked, until killed.
LOCK_WATCH = textwrap.dedent("""
    import fcntl, os, struct, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR)
    probe = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    was_locked = False
    print("watching", flush=True)
    while True:
        locked = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, probe))[0] != fcntl.F_UNLCK
        if locked != was_locked:
            print("locked" if locked else "unlocked", time.time(), flush=True)
        was_locked = locked
        time.sleep(0.0005)
""")


@pytest.mark.e2e  # a real dbt build
def test_dbt_holds_the_duckdb_file_from_its_first_model_to_the_end_of_the_build(
        isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """No gap between two models in which another process could take the file's lock (a concurrent run's reader
    did, with dbt-duckdb's keep_open off, and the next model failed); released once the build ended."""
    db_path = Path(isolated_env["ENRICHMENT_DB"])
    load_fixture(db_path)
    dbt_started: list[float] = []
    released: list[float] = []
    run_dbt, release_duckdb = dbt_build.run_dbt, dbt_build.release_duckdb

    def timed_run(*args, **kwargs):
        dbt_started.append(time.time())
        return run_dbt(*args, **kwargs)

    def timed_release() -> None:
        released.append(time.time())
        release_duckdb()

    monkeypatch.setattr(dbt_build, "run_dbt", timed_run)
    monkeypatch.setattr(dbt_build, "release_duckdb", timed_release)
    watch = subprocess.Popen([sys.executable, "-c", LOCK_WATCH, str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert watch.stdout.readline().strip() == "watching"
        result = materialize([dbt_marts], resources=dbt_resources())
        time.sleep(0.2)
    finally:
        watch.kill()
        seen = [(kind, float(t)) for kind, t in (line.split() for line in watch.communicate()[0].splitlines())]
    assert result.success and len(dbt_started) == len(released) == 1
    # From dbt's first hold of the file (it parses the project first: the step's own connection may be seen
    # closing just after dbt started) to the release, no gap.
    held = min((t for kind, t in seen if kind == "locked" and t > dbt_started[0]), default=dbt_started[0])
    during = [t for kind, t in seen if kind == "unlocked" and held < t < released[0]]
    assert not during, f"the file was unlocked {len(during)} times during dbt's build"
    assert any(kind == "unlocked" and t >= released[0] for kind, t in seen)  # and released after it


@pytest.mark.e2e  # a real dbt build
def test_dbt_waits_for_a_process_holding_the_duckdb_file(isolated_env: dict[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Another run may read the file just when dbt opens it: dbt waits for it (the profile's connect retries)
    instead of failing the build with "Could not set lock on file"."""
    db_path = Path(isolated_env["ENRICHMENT_DB"])
    load_fixture(db_path)
    holder: list[subprocess.Popen] = []
    run_dbt = dbt_build.run_dbt

    def run_while_held(*args, **kwargs):
        hold = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                                 "print('held', flush=True); time.sleep(6); c.close()", str(db_path)],
                                stdout=subprocess.PIPE, text=True)
        holder.append(hold)
        assert hold.stdout.readline().strip() == "held"
        return run_dbt(*args, **kwargs)

    monkeypatch.setattr(dbt_build, "run_dbt", run_while_held)
    try:
        result = materialize([dbt_marts], resources=dbt_resources(), raise_on_error=False)
    finally:
        for hold in holder:
            hold.wait(timeout=60)
    assert len(holder) == 1 and holder[0].returncode == 0
    assert result.success
    assert {m.asset_key.path[-1] for m in result.get_asset_materialization_events()} == set(MODELS)
