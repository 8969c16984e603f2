"""`enrich run` on exports as people have them: --map, --sheet, columns:, refusals, and the enriched file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from openpyxl import Workbook, load_workbook

from enrichment_assets_tests.support import REPO_ROOT
from enrichment_assets_tests.support.cli import run_enrich as enrich


def _one_line_refusal(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("enrich: "), result.stderr
    return lines[0]


def test_map_with_an_unknown_target_exits_2_naming_it(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("Contact Key,Email\nK1,a@b.io\n", encoding="utf-8")
    line = _one_line_refusal(enrich(["run", str(path), "--map", "phone_number=Email"], cli_env))
    assert "unknown target field(s) 'phone_number'" in line and "record_id" in line
    line = _one_line_refusal(enrich(["run", str(path), "--map", "record_id"], cli_env))
    assert 'expected TARGET="Source column"' in line


def test_config_columns_with_an_unknown_target_exits_2_naming_it(cli_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "enrichment.yaml"
    config.write_text("columns:\n  record_id: Contact Key\n  mobile: Phone\n", encoding="utf-8")
    path = tmp_path / "leads.csv"
    path.write_text("Contact Key,Email\nK1,a@b.io\n", encoding="utf-8")
    line = _one_line_refusal(enrich(["run", str(path)], {**cli_env, "ENRICHMENT_CONFIG": str(config)}))
    assert "columns" in line and "'mobile'" in line


def test_two_id_columns_exit_2_with_how_to_choose(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Record ID,Contact ID,First Name,Last Name,Email\n1,003A,Ann,Lee,ann@lee.io\n", encoding="utf-8")
    line = _one_line_refusal(enrich(["run", str(path)], cli_env))
    assert "'Record ID' and 'Contact ID'" in line and '--map record_id="Record ID"' in line


def test_a_binary_file_exits_2_without_its_bytes(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "leads.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00\x1b[31m" + bytes(range(256)) * 8)
    line = _one_line_refusal(enrich(["run", str(path)], cli_env))
    assert line == "enrich: leads.xlsx: not a CSV, Parquet or Excel file"


@pytest.mark.e2e
def test_enrich_run_on_an_xlsx_export_writes_an_enriched_xlsx(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A HubSpot export saved as a workbook (leads on its second sheet, an id column named by the user):
    the enriched workbook has the input's rows in order with its own columns, and the phones of `contacts`."""
    import csv

    with (REPO_ROOT / "data" / "inbox" / "sample_leads.csv").open(encoding="utf-8-sig", newline="") as handle:
        sample = list(csv.reader(handle))[1:26]
    header = ["Contact Key", "First Name", "Last Name", "Company Name", "Website URL", "Email", "LinkedIn URL",
              "Country/Region", "Lifecycle Stage"]
    rows = [[*r[:8], "lead"] for r in sample]
    rows[3][0] = ""  # a row without an id: kept, with its reason
    book = Workbook()
    book.active.title = "Read me"
    book.active.append(["Exported from HubSpot"])
    sheet = book.create_sheet("Contacts")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path = tmp_path / "HubSpot Export.xlsx"
    book.save(path)

    result = enrich(["run", str(path), "--sheet", "Contacts", "--map", "record_id=Contact Key"], cli_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    out = Path(cli_env["ENRICHMENT_DB"]).parent / "out"
    enriched = load_workbook(out / "hubspot_export.enriched.xlsx", read_only=True)
    assert enriched.sheetnames == ["Contacts"]
    got = [list(r) for r in enriched["Contacts"].iter_rows(values_only=True)]
    added = ["best_phone", "best_phone_type", "phone_status", "all_phones", "phone_sources", "rejected_reason"]
    assert got[0] == header + added
    assert len(got) == len(rows) + 1
    width = len(header)
    for written, back in zip(rows, got[1:], strict=True):  # same rows, same order, same original columns
        assert [v or "" for v in back[:width]] == [str(v) for v in written]

    with duckdb.connect(cli_env["ENRICHMENT_DB"], read_only=True) as conn:
        contacts = {rid: (phone, kind, status) for rid, phone, kind, status in conn.execute(
            "SELECT record_id, best_phone, best_phone_type, status FROM contacts WHERE list_id = 'hubspot_export'"
        ).fetchall()}
        reasons = dict(conn.execute("SELECT row_number, reason FROM rejected_leads").fetchall())
    assert len(contacts) >= 20 and sum(1 for p, _, _ in contacts.values() if p) >= 10
    for number, back in enumerate(got[1:], start=2):
        phone, kind, status, _all, _sources, reason = back[width:]
        if number in reasons:
            assert (status, reason) == ("rejected", reasons[number])
        else:
            assert (phone, kind, status) == contacts[back[0].strip()], back  # ids are trimmed on load
    assert reasons.get(5) == "missing record_id"
    assert (out / "hubspot_export.enriched.csv").exists()

    # --map and --sheet reached the Dagster run (the ingestion op's run config), not only the pre-check.
    from dagster import AssetKey, DagsterInstance, RunsFilter

    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs(RunsFilter(job_name="enrich_list"))
        config = run.run_config["ops"]["lead_ingestion"]["config"]
        assert config["columns"] == {"record_id": "Contact Key"} and config["sheet"] == "Contacts"
        raw = instance.get_latest_materialization_event(AssetKey("raw_leads")).asset_materialization
        assert raw.metadata["file_format"].value == "xlsx" and raw.metadata["sheet"].value == "Contacts"
        assert json.loads(raw.metadata["run_columns"].value) == {"record_id": "Contact Key"}
        exported = instance.get_latest_materialization_event(AssetKey("enriched_lead_file")).asset_materialization
        assert exported.metadata["rows"].value == len(rows)
        shown = json.dumps({k: str(v.value) for k, v in exported.metadata.items()}, ensure_ascii=False)
    # The preview masks the numbers: no full E.164 number of the list appears in the metadata.
    full_numbers = {p for p, _, _ in contacts.values() if p}
    assert full_numbers and not [n for n in full_numbers if n in shown or n.lstrip("+") in shown]
    assert re.search(r"•{4,}\d\d", shown)
