"""Fixtures shared by the whole suite.

Every test gets its own Dagster home, DuckDB file, inbox and dbt target folder under its ``tmp_path``, and
every server it starts listens on a free port: tests are safe to run in parallel (``pytest -n auto``).
Plain helpers (no fixtures) live in ``enrichment_assets_tests/support/``.
"""

from __future__ import annotations

import gc
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from enrichment_assets.sandbox.config import SandboxConfig
from enrichment_assets.sandbox.server import SandboxServer
from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support import CRASH_SEED_VAR, REPO_ROOT
from enrichment_assets_tests.support.pipeline import Pipeline
from enrichment_assets_tests.support.sandbox import (
    RecordingSandbox,
    fast_sandbox_config,
)


def pytest_configure(config: pytest.Config) -> None:
    # One seed for the whole session, drawn here (not from the clock) and exported before pytest-xdist starts
    # its workers, so every worker uses it; the header below prints it and the crash tests repeat it.
    os.environ.setdefault(CRASH_SEED_VAR, str(secrets.randbelow(1_000_000)))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: three workers per two cores. The end-to-end tests spend about a third of their time waiting
    (vendor latency, rate limits, servers starting): measured on 2 cores, the suite took 15m42s with 2 workers
    and 12m58s with 3 (and the e2e tests first, below)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(2, cores * 3 // 2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each worker starts with its share of the end-to-end tests (10-90 s each, the others mostly under 1 s),
    the longest first, so that no long test is left for the end of the run.

    pytest-xdist's ``worksteal`` hands each worker a contiguous slice of this order, then moves tests from the end
    of a busy worker's queue to an idle one: each slice is made of its share of the e2e tests (dealt in turn,
    the longest, by their ``timeout`` marker, first), then of the quick tests. Measured on 2 cores: with every e2e
    test in the first slice, the 90 s ``dagster dev`` test started six minutes into a nine-minute run.
    """
    items[:] = xdist_slices(items, getattr(config, "workerinput", {}).get("workercount", 1))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what collection loaded (Dagster, dbt, the pipeline's and the tests' modules): it lives as long as the
    worker, and the garbage collector's full collections stop walking it. Measured on ``test_pipeline_runs.py``
    (11 tests, one process): 67 full collections took 11.5 of its 72 CPU-s before, 5.0 of 67 after.

    Hypothesis is imported first: importing it runs its plugins, and trio's registers a random generator that
    Hypothesis checks with ``gc.get_referrers``, which does not see frozen objects (it would warn, wrongly, that the
    generator is unreferenced)."""
    import hypothesis  # noqa: F401 - imported for its side effect, above

    gc.freeze()


def _timeout(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    return float(marker.args[0]) if marker is not None and marker.args else 0.0


def xdist_slices(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """``items`` reordered so that each of the ``workers`` slices worksteal starts with (sizes ``n // w``, then the
    rest shared the same way) begins with an equal share of the e2e tests."""
    e2e = sorted((item for item in items if item.get_closest_marker("e2e") is not None), key=lambda i: -_timeout(i))
    quick = [item for item in items if item.get_closest_marker("e2e") is None]
    sizes, left = [], len(items)
    for remaining in range(workers, 0, -1):
        sizes.append(left // remaining)
        left -= sizes[-1]
    shares = [e2e[i::workers] for i in range(workers)]
    ordered: list[pytest.Item] = []
    for size, share in zip(sizes, shares, strict=True):
        ordered += share
        take = max(0, size - len(share))
        ordered += quick[:take]
        quick = quick[take:]
    return ordered + quick


def pytest_report_header(config: pytest.Config) -> list[str]:
    ci = os.environ.get("CI", "")
    return [f"crash tests: {CRASH_SEED_VAR}={os.environ[CRASH_SEED_VAR]} (set it to replay a run's kills)",
            f"CI={ci!r}: a missing browser, driver or server is {'a failure' if ci.lower() == 'true' else 'a skip'}"]


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point every ENRICHMENT_* path, DAGSTER_HOME and dbt's target folder into this test's temporary folder."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {
        "DAGSTER_HOME": str(home),
        "ENRICHMENT_DB": str(tmp_path / "enrichment.duckdb"),
        "ENRICHMENT_INBOX": str(inbox),
        "ENRICHMENT_CONFIG": str(REPO_ROOT / "enrichment.yaml"),
        "ENRICHMENT_SUPPRESSION": str(tmp_path / "suppression.csv"),
        "ENRICHMENT_MODE": "sandbox",
        # dagster-dbt gives each invocation a folder of its own under this path: keep them out of dbt/target.
        "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for vendor in PROVIDERS:
        monkeypatch.delenv(f"{vendor.upper()}_API_KEY", raising=False)
        monkeypatch.delenv(f"{vendor.upper()}_BASE_URL", raising=False)
    return env


@pytest.fixture
def cli_env(isolated_env: dict[str, str]) -> dict[str, str]:
    """Environment for running the real `enrich` command in a subprocess."""
    env = dict(os.environ)
    env.update(isolated_env)
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def make_sandbox() -> Iterator:
    """Factory: ``make_sandbox(config)`` starts a recording sandbox on a free port, stopped after the test."""
    started: list[RecordingSandbox] = []

    def factory(config: SandboxConfig | None = None) -> RecordingSandbox:
        sandbox = RecordingSandbox(config).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def fast_sandbox(make_sandbox) -> RecordingSandbox:
    """A recording sandbox without latency and without rate limits (write its configs with ``fast_clients=True``)."""
    return make_sandbox(fast_sandbox_config(limits=False))


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxServer]:
    """One plain sandbox per test module (documented limits and prices); reset by ``sandbox_env``."""
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture
def sandbox_env(cli_env: dict[str, str], shared_sandbox: SandboxServer) -> dict[str, str]:
    """``cli_env`` with every vendor pointed at the module's sandbox, reset for this test."""
    shared_sandbox.state.reset(restore_config=True)
    for provider in PROVIDERS:
        cli_env[f"{provider.upper()}_BASE_URL"] = shared_sandbox.base_url
    return cli_env


@pytest.fixture
def dagster_instance(isolated_env: dict[str, str]) -> Iterator[DagsterInstance]:
    """A real (SQLite) instance in the test's Dagster home: schedules and sensors need one they can refer to."""
    with DagsterInstance.from_config(isolated_env["DAGSTER_HOME"]) as instance:
        yield instance


@pytest.fixture
def memory_instance(isolated_env: dict[str, str]) -> Iterator[DagsterInstance]:
    """Dagster's in-memory instance (artifacts in the test's Dagster home), for in-process runs that need no more:
    what the assets ask of an instance (runs, materializations, dynamic partitions) it answers as the SQLite one
    does, without a SQLite write per event. Measured on ``test_pipeline_runs.py`` (11 tests, one process): 68.6 s
    on the SQLite instance, 46.7 s in memory. The CLI tests, and ``pipeline_on_disk``, run on the SQLite one."""
    with DagsterInstance.ephemeral(tempdir=isolated_env["DAGSTER_HOME"]) as instance:
        yield instance


@pytest.fixture
def make_pipeline(isolated_env: dict[str, str], memory_instance: DagsterInstance):
    """Factory: ``make_pipeline(sandbox)`` runs the pipeline's Python assets in this process against it."""
    return lambda sandbox: Pipeline(env=isolated_env, base_url=sandbox.base_url, instance=memory_instance)


@pytest.fixture
def pipeline(make_pipeline, fast_sandbox: RecordingSandbox) -> Pipeline:
    """The pipeline's Python assets in this process against ``fast_sandbox``."""
    return make_pipeline(fast_sandbox)


@pytest.fixture
def pipeline_on_disk(isolated_env: dict[str, str], dagster_instance: DagsterInstance,
                     fast_sandbox: RecordingSandbox) -> Pipeline:
    """``pipeline`` on the SQLite instance in the test's Dagster home: for a test that builds a schedule's context
    (it needs an instance it can refer to) or that reads the runs as ``enrich`` in the same home does."""
    return Pipeline(env=isolated_env, base_url=fast_sandbox.base_url, instance=dagster_instance)


@pytest.fixture(scope="session")
def postgres_server():
    """One throw-away PostgreSQL server for the session (initdb + pg_ctl); each test takes its own database.
    Skips where PostgreSQL is not installed, fails under CI=true."""
    from enrichment_assets_tests.support import require
    from enrichment_assets_tests.support.postgres import running_postgres, server_bin_dir

    bin_dir = server_bin_dir()
    require(bin_dir is not None, "PostgreSQL's server (initdb, pg_ctl; Debian package postgresql)")
    with running_postgres(bin_dir) as server:
        yield server


@pytest.fixture
def state_db_url(postgres_server, request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server (ENRICHMENT_STATE_URL)."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    return postgres_server.url(postgres_server.create_database(name))


@pytest.fixture(params=["sqlite", "postgres"])
def state_backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str | None]:
    """Where a state store lives, once per backend: ``(sqlite_path, state_url)`` for ``open_state_store``."""
    url = request.getfixturevalue("state_db_url") if request.param == "postgres" else None
    return tmp_path / "enrichment.responses.sqlite", url


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path):
    """Once per backend: ``make_store(name)`` gives a fresh, empty state store location (a SQLite file in the
    test's folder, or a new database on the session's PostgreSQL server) as a ``StoreUnderTest``."""
    import re
    import uuid

    from enrichment_assets_tests.support.state_backends import StoreUnderTest

    def make(name: str = "store") -> StoreUnderTest:
        path = tmp_path / f"{name}.sqlite"
        if request.param == "sqlite":
            return StoreUnderTest("sqlite", path, None)
        server = request.getfixturevalue("postgres_server")
        database = re.sub(r"[^a-z0-9_]", "_", f"{request.node.name.lower()[:30]}_{name}")[:50]
        created = server.create_database(f"{database}_{uuid.uuid4().hex[:8]}")
        return StoreUnderTest("postgres", path, server.url(created))

    return make
