"""The enriched copy of a lead file, from the tables as a run leaves them (no vendors involved)."""

from __future__ import annotations

import csv
from contextlib import contextmanager
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from enrichment_assets.leads.enriched_file import (
    ADDED_COLUMNS,
    EnrichedFileError,
    stale_enriched_lists,
    write_enriched_file,
)
from enrichment_assets.leads.ingest import file_digest, ingest_lead_file
from enrichment_assets.storage.warehouse import connect


@pytest.fixture
def db(tmp_path: Path):
    conn = connect(tmp_path / "w.duckdb")
    yield conn
    conn.close()


def _factory(conn):
    @contextmanager
    def factory():
        yield conn

    return factory


def _merge_by_hand(conn, list_id: str, best: dict[str, tuple], phones: dict[str, list[tuple]]) -> None:
    """What the merge writes, for the leads given: contacts (best phone) and contact_phones."""
    for rid, (phone, kind, status, sources) in best.items():
        conn.execute("INSERT INTO contacts (record_id, list_id, best_phone, best_phone_type, best_phone_sources, "
                     "status) VALUES (?, ?, ?, ?, ?, ?)", [rid, list_id, phone, kind, sources, status])
    for rid, numbers in phones.items():
        for e164, kind, score, suppressed in numbers:
            conn.execute("INSERT INTO contact_phones (record_id, list_id, e164, number_type, score, suppressed) "
                         "VALUES (?, ?, ?, ?, ?, ?)", [rid, list_id, e164, kind, score, suppressed])


CSV_INPUT = (
    "\ufeffRecord ID,First Name,Last Name,Company Name,Notes,best_phone,\r\n"
    "11,Ann,Lee,\"Lee, Ventures\",=HYPERLINK(\"http://x\"),old,\r\n"
    "12,,,,no way to look this one up,,\r\n"
    "13,Bob,Ray,Ray Co,- called twice,,\r\n"
    "11,Dup,Licate,Dupco,,,\r\n"
    "14,Cy,Moe,Moe Inc,+1 415 555 0100,,\r\n"
)


def test_csv_keeps_rows_order_and_columns_and_adds_the_phones(tmp_path: Path, db) -> None:
    source = tmp_path / "q3 leads.csv"
    source.write_text(CSV_INPUT, encoding="utf-8")
    ingest_lead_file(_factory(db), source, "q3")
    _merge_by_hand(db, "q3", {
        "11": ("+14155550101", "mobile", "mobile_found", ["leadmagic", "pronto"]),
        "13": (None, None, "not_found", []),
        "14": ("+442079460000", "fixed_line", "phone_found", ["enrichlayer"]),
    }, {
        "11": [("+14155550101", "mobile", 6.0, False), ("+14155550102", "fixed_line", 2.0, False),
               ("+14155550109", "mobile", 3.0, True), (None, "invalid", -1.0, False)],
        "14": [("+442079460000", "fixed_line", 1.0, False)],
    })
    summary = write_enriched_file(_factory(db), "q3", source, tmp_path / "out",
                                  expected_sha256=file_digest(source))
    assert summary.csv_path == tmp_path / "out" / "q3.enriched.csv" and summary.xlsx_path is None
    assert (summary.rows, summary.leads, summary.rejected, summary.with_phone) == (5, 3, 2, 2)
    raw = summary.csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel opens the accents right"
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    # The input's columns as named (an input column named like an added one is filled in place), then ours.
    assert rows[0] == ["Record ID", "First Name", "Last Name", "Company Name", "Notes", "best_phone", "",
                       "best_phone_type", "phone_status", "all_phones", "phone_sources", "rejected_reason"]
    assert [r[0] for r in rows[1:]] == ["11", "12", "13", "11", "14"], "every row, in the file's order"
    assert rows[1] == ["11", "Ann", "Lee", "Lee, Ventures", "'=HYPERLINK(\"http://x\")", "+14155550101", "",
                       "mobile", "mobile_found", "+14155550101; +14155550102", "leadmagic, pronto", ""]
    assert rows[2][5:] == ["", "", "", "rejected", "", "",
                           "nothing to look up: needs a LinkedIn URL, an email, or first and last name with a "
                           "company or domain"]
    assert rows[3][4] == "'- called twice" and rows[3][8] == "not_found"
    assert rows[4][8] == "rejected" and rows[4][11] == "duplicate record_id (first seen on row 2)"
    assert rows[5][4] == "+1 415 555 0100", "a phone number is data, not a formula"
    assert rows[5][5] == "+442079460000" and rows[5][10] == "enrichlayer"
    assert summary.by_status == {"rejected": 2, "mobile_found": 1, "not_found": 1, "phone_found": 1}


def test_xlsx_input_gets_an_xlsx_back_with_text_cells(tmp_path: Path, db) -> None:
    source = tmp_path / "export.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.title = "HubSpot"
    ws.append(["Record ID", "First Name", "Last Name", "Company Name", "Country/Region"])
    ws.append([501, "José", "García", "Acme", "España"])
    ws.append([502, "=1+2", "X", "Y", "Spain"])
    ws["B3"].data_type = "s"
    wb.save(source)
    ingest_lead_file(_factory(db), source, "export")
    _merge_by_hand(db, "export", {"501": ("+34600111222", "mobile", "mobile_found", ["lantern"])},
                   {"501": [("+34600111222", "mobile", 4.0, False)]})
    summary = write_enriched_file(_factory(db), "export", source, tmp_path / "out")
    assert summary.xlsx_path == tmp_path / "out" / "export.enriched.xlsx"
    book = load_workbook(summary.xlsx_path)
    sheet = book.worksheets[0]
    assert sheet.title == "HubSpot"
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["Record ID", "First Name", "Last Name", "Company Name", "Country/Region", *ADDED_COLUMNS]
    assert values[1][:9] == ["501", "José", "García", "Acme", "España", "+34600111222", "mobile", "mobile_found",
                             "+34600111222"]
    assert values[2][1] == "=1+2" and sheet["B3"].data_type == "s", "kept as text: never run as a formula"
    assert values[2][7] == "rejected" and values[2][10] == "first_name looks like a spreadsheet formula"


def test_a_changed_or_missing_source_writes_nothing(tmp_path: Path, db) -> None:
    source = tmp_path / "l.csv"
    source.write_text("id,email\n1,a@b.io\n", encoding="utf-8")
    ingest_lead_file(_factory(db), source, "l")
    loaded = file_digest(source)
    source.write_text("id,email\n1,a@b.io\n2,c@d.io\n", encoding="utf-8")
    with pytest.raises(EnrichedFileError, match="changed since the list was loaded"):
        write_enriched_file(_factory(db), "l", source, tmp_path / "out", expected_sha256=loaded)
    source.unlink()
    with pytest.raises(EnrichedFileError, match="the lead file is gone"):
        write_enriched_file(_factory(db), "l", source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_long_list_comes_back_in_the_files_order(tmp_path: Path, db) -> None:
    """Enough rows for DuckDB to join in parallel (several row groups): the order is the file's, not the join's."""
    n = 150_000
    source = tmp_path / "long.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,email\n")
        handle.writelines(f"R{i},p{i}@acme.io\n" for i in range(n))
    # The tables as an ingestion and a merge leave them (written directly: the join is what is under test).
    db.execute("INSERT INTO raw_leads (list_id, record_id, fingerprint, loaded_at, row_number) "
               "SELECT 'long', 'R' || i, 'f', now(), i + 2 FROM range(?) t(i)", [n])
    db.execute("INSERT INTO contacts (record_id, list_id, best_phone, status) "
               "SELECT 'R' || i, 'long', '+4930' || lpad(i::VARCHAR, 7, '0'), 'phone_found' FROM range(?) t(i) "
               "ORDER BY random()", [n])
    summary = write_enriched_file(_factory(db), "long", source, tmp_path / "out")
    rows = list(csv.reader(summary.csv_path.read_text("utf-8-sig").splitlines()))[1:]
    assert [r[0] for r in rows] == [f"R{i}" for i in range(n)]
    assert all(r[2] == "+4930" + str(i).zfill(7) for i, r in enumerate(rows))


def test_a_list_whose_contacts_changed_after_its_file_was_written_is_stale(tmp_path: Path, db) -> None:
    """Another list's merge re-scores some leads of this one (switchboards it revealed): its file must follow."""
    import os

    source = tmp_path / "q3.csv"
    source.write_text(CSV_INPUT, encoding="utf-8")
    ingest_lead_file(_factory(db), source, "q3")
    db.execute("INSERT INTO contacts (record_id, list_id, status, enriched_at) VALUES "
               "('11', 'q3', 'not_found', now() - INTERVAL 1 HOUR), ('x', 'q4', 'not_found', now())")
    out = tmp_path / "out"
    assert stale_enriched_lists(db, out, exclude="q4") == [], "no file yet: nothing to keep up to date"
    summary = write_enriched_file(_factory(db), "q3", source, out)
    assert stale_enriched_lists(db, out, exclude="q4") == []
    # Re-scored after the file was written (the file's time set back rather than sleeping).
    earlier = summary.csv_path.stat().st_mtime - 7200
    os.utime(summary.csv_path, (earlier, earlier))
    assert stale_enriched_lists(db, out, exclude="q4") == ["q3"]
    assert stale_enriched_lists(db, out, exclude="q3") == [], "the run's own list is written anyway"


def test_a_merge_committed_while_the_file_was_written_leaves_it_stale(tmp_path: Path, db) -> None:
    """Two runs at once: list B's merge re-scores a lead of list A after A's file read its contacts but before
    A's file was on disk. A's file is then older than its contacts, whatever its write time says."""
    source = tmp_path / "q3.csv"
    source.write_text(CSV_INPUT, encoding="utf-8")
    ingest_lead_file(_factory(db), source, "q3")
    db.execute("INSERT INTO contacts (record_id, list_id, best_phone, status, enriched_at) VALUES "
               "('11', 'q3', '+14155550100', 'phone_found', now() - INTERVAL 1 HOUR)")

    @contextmanager
    def read_then_other_merge():
        yield db
        # The other run's merge commits now: the switchboard is no longer this lead's best phone.
        db.execute("UPDATE contacts SET best_phone = NULL, status = 'not_found', enriched_at = now() "
                   "WHERE record_id = '11'")

    out = tmp_path / "out"
    first = write_enriched_file(read_then_other_merge, "q3", source, out)
    assert "+14155550100" in first.csv_path.read_text("utf-8-sig"), "written from the contacts it read"
    assert stale_enriched_lists(db, out) == ["q3"]
    again = write_enriched_file(_factory(db), "q3", source, out)
    assert "+14155550100" not in again.csv_path.read_text("utf-8-sig")
    assert stale_enriched_lists(db, out) == []
    assert sorted(p.name for p in out.iterdir()) == ["q3.enriched.csv"], "no partial file left behind"
