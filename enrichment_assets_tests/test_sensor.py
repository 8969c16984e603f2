from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from enrichment_assets.dagster_defs import sensors
from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.resources import EnrichmentSettings
from enrichment_assets.dagster_defs.sensors import lead_inbox


class Clock:
    """The sensor's clock, moved by hand: no test sleeps through the settle time."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(sensors, "now", fake, raising=False)  # raising=False: the test also runs on old code
    return fake


def _evaluate(instance: DagsterInstance, cursor: str | None,
              enrichment: EnrichmentSettings | None = None) -> SensorResult:
    """One tick, with the settings resource the code location builds from the environment (or the one given)."""
    resources = {"enrichment": enrichment or EnrichmentSettings.from_environment()}
    return lead_inbox(build_sensor_context(instance=instance, cursor=cursor, resources=resources))


def _settled(instance: DagsterInstance, cursor: str | None, clock: Clock) -> SensorResult:
    """A first look at the inbox, then another once the settle time (default 30 s) has passed."""
    first = _evaluate(instance, cursor)
    assert not first.run_requests
    clock.advance(30)
    return _evaluate(instance, first.cursor)


def _files(result: SensorResult) -> dict:
    return json.loads(result.cursor)["files"]


def test_new_changed_and_unchanged_files(isolated_env: dict[str, str], clock: Clock) -> None:
    inbox = Path(isolated_env["ENRICHMENT_INBOX"])
    (inbox / "Spring Leads.csv").write_text("id,email\n1,a@b.io\n", encoding="utf-8")
    (inbox / "notes.md").write_text("not a lead file", encoding="utf-8")
    with DagsterInstance.ephemeral() as instance:
        first = _settled(instance, None, clock)
        assert isinstance(first, SensorResult)
        assert [r.partition_key for r in first.run_requests] == ["spring_leads"]
        assert first.dynamic_partitions_requests[0].partition_keys == ["spring_leads"]
        assert first.run_requests[0].run_config["ops"]["lead_ingestion"]["config"]["path"].endswith(
            "Spring Leads.csv")
        instance.add_dynamic_partitions(lead_lists.name, ["spring_leads"])

        # Same content, cursor carried over (as after a restart): nothing to do.
        assert not _evaluate(instance, first.cursor).run_requests

        # Changed content: a rerun of the same partition, no new partition.
        (inbox / "Spring Leads.csv").write_text("id,email\n1,a@b.io\n2,c@d.io\n", encoding="utf-8")
        changed = _settled(instance, first.cursor, clock)
        assert [r.partition_key for r in changed.run_requests] == ["spring_leads"]
        assert changed.run_requests[0].run_key != first.run_requests[0].run_key
        assert changed.dynamic_partitions_requests == []
        assert _files(changed)["Spring Leads.csv"]["digest"] != _files(first)["Spring Leads.csv"]["digest"]


def test_missing_inbox_skips(isolated_env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("ENRICHMENT_INBOX", isolated_env["ENRICHMENT_INBOX"] + "/nope")
    with DagsterInstance.ephemeral() as instance:
        result = _evaluate(instance, None)
        assert not result.run_requests and "No new or changed lead files" in result.skip_reason.skip_message


def test_a_file_still_being_copied_is_enriched_once_when_its_copy_is_done(isolated_env: dict[str, str],
                                                                         clock: Clock) -> None:
    """The copy grows for a while: no run until size and mtime stayed put for 30 s, then exactly one run."""
    inbox = Path(isolated_env["ENRICHMENT_INBOX"])
    target = inbox / "Big Export.csv"
    lines = ["id,email"] + [f"{i},p{i}@acme.io" for i in range(300)]
    with DagsterInstance.ephemeral() as instance:
        cursor = None
        requests = []
        for chunk in range(3):  # three slices of the file, 20 s apart (a slow share)
            with target.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines[chunk * 100:(chunk + 1) * 100 + (1 if chunk == 2 else 0)]) + "\n")
            result = _evaluate(instance, cursor)
            requests += result.run_requests
            assert "Big Export.csv" in result.skip_reason.skip_message and "30s" in result.skip_reason.skip_message
            cursor = result.cursor
            clock.advance(20)
        # 20 s after the last write: still waiting; 30 s after it: one run, of the whole file.
        result = _evaluate(instance, cursor)
        assert not result.run_requests
        clock.advance(10)
        done = _evaluate(instance, result.cursor)
        requests += done.run_requests
        assert [r.partition_key for r in requests] == ["big_export"]
        import hashlib
        assert requests[0].run_key == f"big_export:{hashlib.sha256(target.read_bytes()).hexdigest()[:16]}"
        # And nothing more for the same file afterwards.
        clock.advance(3600)
        assert not _evaluate(instance, done.cursor).run_requests


def test_the_settle_time_is_configurable(isolated_env: dict[str, str], clock: Clock,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = Path(isolated_env["ENRICHMENT_INBOX"])
    (inbox / "a.csv").write_text("id\n1\n", encoding="utf-8")
    monkeypatch.setenv("ENRICHMENT_INBOX_SETTLE_SECONDS", "0")
    with DagsterInstance.ephemeral() as instance:
        assert [r.partition_key for r in _evaluate(instance, None).run_requests] == ["a"]
    monkeypatch.setenv("ENRICHMENT_INBOX_SETTLE_SECONDS", "120")
    with DagsterInstance.ephemeral() as instance:
        first = _evaluate(instance, None)
        clock.advance(60)
        assert not _evaluate(instance, first.cursor).run_requests
        clock.advance(60)
        assert [r.partition_key for r in _evaluate(instance, first.cursor).run_requests] == ["a"]
    monkeypatch.setenv("ENRICHMENT_INBOX_SETTLE_SECONDS", "soon")
    with DagsterInstance.ephemeral() as instance, pytest.raises(ValueError, match="ENRICHMENT_INBOX_SETTLE_SECONDS"):
        _evaluate(instance, None)


def test_the_sensor_reads_its_settings_from_the_resource_not_the_environment(
        isolated_env: dict[str, str], tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resource's inbox and settle time count, whatever the environment says (a deployment configures the
    resource, e.g. in the UI's launchpad, without touching the daemon's environment)."""
    inbox = tmp_path / "elsewhere"
    inbox.mkdir()
    (inbox / "Resource Leads.csv").write_text("id\n1\n", encoding="utf-8")
    monkeypatch.setenv("ENRICHMENT_INBOX", isolated_env["ENRICHMENT_INBOX"])  # empty: nothing to find there
    monkeypatch.setenv("ENRICHMENT_INBOX_SETTLE_SECONDS", "600")
    enrichment = EnrichmentSettings(inbox=str(inbox), inbox_settle_seconds="0")
    with DagsterInstance.ephemeral() as instance:
        result = _evaluate(instance, None, enrichment)
        assert [r.partition_key for r in result.run_requests] == ["resource_leads"]
        # The same tick with the environment's settings: that inbox is empty.
        assert not _evaluate(instance, None).run_requests


def test_a_cursor_of_the_first_format_enriches_nothing_again(isolated_env: dict[str, str], clock: Clock) -> None:
    import hashlib

    inbox = Path(isolated_env["ENRICHMENT_INBOX"])
    (inbox / "old.csv").write_text("id\n1\n", encoding="utf-8")
    old_cursor = json.dumps({"old.csv": hashlib.sha256((inbox / "old.csv").read_bytes()).hexdigest()})
    with DagsterInstance.ephemeral() as instance:
        assert not _settled(instance, old_cursor, clock).run_requests


def test_dagster_yaml_allows_one_run_per_list_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """The repo's instance config: the run queue holds a second run of a partition while one is in progress."""
    from enrichment_assets_tests.conftest import REPO_ROOT

    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # its paths are relative to where dagster runs
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def test_an_xlsx_export_in_the_inbox_is_enriched_with_the_configs_columns(isolated_env: dict[str, str],
                                                                          tmp_path: Path, monkeypatch,
                                                                          clock: Clock) -> None:
    """The sensor picks up .xlsx (not Excel's ~$ lock file), and enrichment.yaml's columns: reach its run."""
    import duckdb
    from dagster import materialize
    from openpyxl import Workbook

    from enrichment_assets.dagster_defs.lead_assets import lead_ingestion
    from enrichment_assets.definitions import build_resources

    config = tmp_path / "enrichment.yaml"
    config.write_text('columns:\n  record_id: "LinkedIn Profile"\n', encoding="utf-8")
    monkeypatch.setenv("ENRICHMENT_CONFIG", str(config))
    inbox = Path(isolated_env["ENRICHMENT_INBOX"])
    book = Workbook()
    book.active.append(["First Name", "Last Name", "Company Name", "LinkedIn Profile", "Country"])  # Clay: no id
    book.active.append(["Priya", "Shah", "Brightline", "linkedin.com/in/priya-shah", "United Kingdom"])
    book.active.append(["Luca", "Rossi", "Rossi Srl", "https://www.linkedin.com/in/lucarossi/", "Italia"])
    book.save(inbox / "Clay Export.xlsx")
    (inbox / "~$Clay Export.xlsx").write_bytes(b"\x00lock")
    with DagsterInstance.ephemeral() as instance:
        result = _settled(instance, None, clock)
        assert isinstance(result, SensorResult)
        (request,) = result.run_requests
        assert request.partition_key == "clay_export"
        instance.add_dynamic_partitions(lead_lists.name, ["clay_export"])
        run = materialize([lead_ingestion], instance=instance, partition_key=request.partition_key,
                          run_config=request.run_config, resources=build_resources())
        assert run.success
    with duckdb.connect(isolated_env["ENRICHMENT_DB"], read_only=True) as conn:
        assert conn.execute("SELECT record_id, country FROM raw_leads ORDER BY row_number").fetchall() == [
            ("linkedin.com/in/priya-shah", "GB"), ("https://www.linkedin.com/in/lucarossi/", "IT")]
