from __future__ import annotations

import json
from pathlib import Path

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from enrichment_assets.dagster_defs.partitions import lead_lists
from enrichment_assets.dagster_defs.sensors import lead_inbox


def _evaluate(instance: DagsterInstance, cursor: str | None):  # noqa: ANN202
    context = build_sensor_context(instance=instance, cursor=cursor)
    result = lead_inbox(context)
    return result


def test_new_changed_and_unchanged_files(isolated_env: dict[str, str]) -> None:
    inbox = Path(isolated_env["ENRICHMENT_INBOX"])
    (inbox / "Spring Leads.csv").write_text("id,email\n1,a@b.io\n", encoding="utf-8")
    (inbox / "notes.md").write_text("not a lead file", encoding="utf-8")
    with DagsterInstance.ephemeral() as instance:
        first = _evaluate(instance, None)
        assert isinstance(first, SensorResult)
        assert [r.partition_key for r in first.run_requests] == ["spring_leads"]
        assert first.dynamic_partitions_requests[0].partition_keys == ["spring_leads"]
        assert first.run_requests[0].run_config["ops"]["lead_ingestion"]["config"]["path"].endswith(
            "Spring Leads.csv")
        instance.add_dynamic_partitions(lead_lists.name, ["spring_leads"])

        # Same content, cursor carried over (as after a restart): nothing to do.
        assert isinstance(_evaluate(instance, first.cursor), SkipReason)

        # Changed content: a rerun of the same partition, no new partition.
        (inbox / "Spring Leads.csv").write_text("id,email\n1,a@b.io\n2,c@d.io\n", encoding="utf-8")
        changed = _evaluate(instance, first.cursor)
        assert isinstance(changed, SensorResult)
        assert [r.partition_key for r in changed.run_requests] == ["spring_leads"]
        assert changed.run_requests[0].run_key != first.run_requests[0].run_key
        assert changed.dynamic_partitions_requests == []
        assert json.loads(changed.cursor)["Spring Leads.csv"] != json.loads(first.cursor)["Spring Leads.csv"]


def test_missing_inbox_skips(isolated_env: dict[str, str], monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ENRICHMENT_INBOX", isolated_env["ENRICHMENT_INBOX"] + "/nope")
    with DagsterInstance.ephemeral() as instance:
        assert isinstance(_evaluate(instance, None), SkipReason)


def test_an_xlsx_export_in_the_inbox_is_enriched_with_the_configs_columns(isolated_env: dict[str, str],
                                                                          tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
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
        result = _evaluate(instance, None)
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
