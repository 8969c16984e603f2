"""Lead files as people have them: CRM and prospecting-tool exports, legacy encodings, Excel, binaries.

The fixtures in ``fixtures/`` are in the export shapes of HubSpot, Salesforce reports, Apollo, Clay,
ZoomInfo, a Sales Navigator export made with PhantomBuster and Pipedrive (header sets and their sources:
docs/lead_files.md), a few rows each with the values real exports have.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from openpyxl import Workbook

from enrichment_assets.leads.ingest import LeadFileError, check_lead_file, ingest_lead_file
from enrichment_assets.leads.sources import open_table
from enrichment_assets.storage.warehouse import connect

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def db(tmp_path: Path):
    conn = connect(tmp_path / "w.duckdb")
    yield conn
    conn.close()


def ingest(db, path: Path, **kwargs):
    @contextmanager
    def factory():
        yield db

    return ingest_lead_file(factory, path, "leads", **kwargs)


def leads(db) -> dict[str, tuple]:
    rows = db.execute("SELECT record_id, first_name, last_name, company, domain, email, linkedin_url, country "
                      "FROM raw_leads WHERE list_id = 'leads' ORDER BY row_number").fetchall()
    return {r[0]: r[1:] for r in rows}


# --------------------------------------------------------------------------- each tool's export shape

EXPECTED = {
    "hubspot_contacts.csv": {
        "5101": ("José", "García López", "Acme Iberia, S.L.", "acme-iberia.es", "jose.garcia@acme-iberia.es",
                 "https://www.linkedin.com/in/jose-garcia-lopez", "ES"),
        "5102": ("María", "Núñez", "Ventas, Norte y Sur S.A.", "ventas-nys.es", None,
                 "https://www.linkedin.com/in/maria-nunez", "ES"),
        "5103": ("Jürgen", "Weiß", "Beispiel GmbH", "beispiel.de", "j.weiss@beispiel.de", None, "DE"),
        "5104": ("Ann", "Lee", "Lee Ventures", "lee-ventures.com", "ann@lee-ventures.com",
                 "https://www.linkedin.com/in/annlee", "US"),
    },
    "salesforce_leads_report.csv": {
        "00Q5g00000AbCdEEAV": ("Lena", "Schmidt", "Schmidt & Söhne KG", "schmidt-soehne.de", "lena@schmidt-soehne.de",
                               None, "DE"),
        "00Q5g00000AbCdFEAV": ("Carlos", "Ruiz", "Ruiz, Ortega y Asociados", "ruiz-ortega.es", None, None, "ES"),
        "00Q5g00000AbCdGEAV": ("Sam", "Taylor", "Taylor Freight", "taylorfreight.com", "sam@taylorfreight.com", None,
                               "US"),
    },
    "salesforce_contacts_report.csv": {
        "0035g00000XyZaBAAV": ("Émilie", "Durand", "Durand Logistique", "durand-logistique.fr",
                               "emilie.durand@durand-logistique.fr", None, "FR"),
        "0035g00000XyZaCAAV": ("Pieter", "de Vries", "Vries & Co", "vriesco.nl", None, None, "NL"),
    },
    "apollo_export.csv": {
        "64f1a2b3c4d5e6f708192a3b": ("Maya", "Patel", "Metric AI, Inc.", "metric-ai.com", "maya@metric-ai.com",
                                     "https://www.linkedin.com/in/mayapatel", "US"),
        "64f1a2b3c4d5e6f708192a3c": ("Tom", "Becker", "Nordlicht Software", "nordlicht-software.de", None,
                                     "https://www.linkedin.com/in/tom-becker-4a1b2c", "DE"),
    },
    "zoominfo_contacts.csv": {
        "1234567890": ("Chidi", "Okafor", "Lagos Tech Ltd", "lagostech.ng", "chidi.okafor@lagostech.ng",
                       "https://www.linkedin.com/in/chidiokafor", "NG"),
        "1234567891": ("Anna", "Schneider", "Alpenwerk AG", "alpenwerk.at", "anna.schneider@alpenwerk.at", None, "AT"),
    },
    "pipedrive_people.csv": {
        "42": ("Sofia", "Lindqvist", "Nordvik AB", "nordvik.se", "sofia@nordvik.se", None, None),
        # One column per field: the work email ("Person - Email - Home" is not read).
        "43": ("Kwame", "Mensah", "Mensah, Boateng & Co", "mensahboateng.com.gh", None, None, None),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_tools_export_loads_with_ids_domains_countries_and_linkedin(name: str, db) -> None:
    summary = ingest(db, FIXTURES / name)
    assert leads(db) == EXPECTED[name]
    assert summary.file_format == "csv"


def test_hubspot_row_without_record_id_is_kept_as_rejected(db) -> None:
    summary = ingest(db, FIXTURES / "hubspot_contacts.csv")
    assert (summary.leads, summary.rejected) == (4, 1)
    assert summary.encoding == "utf-8-sig"
    assert summary.columns["country"] == "Country/Region" and summary.columns["domain"] == "Website URL"
    assert db.execute("SELECT row_number, reason FROM rejected_leads").fetchall() == [(6, "missing record_id")]


def test_tools_without_an_id_column_are_refused_until_one_is_chosen(tmp_path: Path, db) -> None:
    for name in ("clay_people.csv", "sales_navigator_phantombuster.csv"):
        with pytest.raises(LeadFileError, match=r"no record_id column .*--map record_id="):
            check_lead_file(FIXTURES / name)
    ingest(db, FIXTURES / "clay_people.csv", columns={"record_id": "LinkedIn Profile"})
    assert leads(db) == {
        "https://www.linkedin.com/in/priya-shah-brightline": (
            "Priya", "Shah", "Brightline", "brightline.co.uk", None, "https://www.linkedin.com/in/priya-shah-brightline",
            "GB"),
        "linkedin.com/in/lucarossi": ("Luca", "Rossi", "Rossi Srl", "rossi.it", None,
                                      "https://www.linkedin.com/in/lucarossi", "IT"),
    }


def test_sales_navigator_export_takes_the_public_profile_not_the_sales_page(db) -> None:
    ingest(db, FIXTURES / "sales_navigator_phantombuster.csv", columns={"record_id": "vmid"})
    assert leads(db) == {
        "ACwAAAB1x2y3": ("Hana", "Sato", "Sakura Robotics", None, None,
                         "https://www.linkedin.com/in/hana-sato-robotics", None),
        "ACwAAAC4d5e6": ("Omar", "Haddad", "Desert Bloom", None, None, "https://www.linkedin.com/in/omar-haddad", None),
    }


def test_config_columns_apply_where_the_file_has_the_column(db) -> None:
    # One enrichment.yaml for every export: a mapping to a column a file lacks is not an error for that file.
    summary = ingest(db, FIXTURES / "clay_people.csv",
                     config_columns={"record_id": "LinkedIn Profile", "country": "Pays"})
    assert summary.leads == 2 and summary.columns["country"] == "Country"


def test_map_overrides_the_recognised_column(db) -> None:
    summary = ingest(db, FIXTURES / "apollo_export.csv", columns={"country": "Company Country",
                                                                   "company": "Company Name for Emails"})
    assert {r[2] for r in leads(db).values()} == {"Metric AI", "Nordlicht"}
    assert summary.columns["country"] == "Company Country"


def test_map_to_a_missing_column_or_an_unknown_field_is_refused() -> None:
    with pytest.raises(LeadFileError, match="--map record_id='Contact Key': the file has no such column"):
        check_lead_file(FIXTURES / "apollo_export.csv", {"record_id": "Contact Key"})
    with pytest.raises(LeadFileError, match=r"unknown target field.*'phone'"):
        check_lead_file(FIXTURES / "apollo_export.csv", {"phone": "Mobile Phone"})


def test_two_candidate_id_columns_are_refused_with_how_to_choose(tmp_path: Path, db) -> None:
    path = tmp_path / "hubspot_with_sf_ids.csv"
    path.write_text("Record ID,Contact ID,First Name,Last Name,Email\n1,003A,Ann,Lee,ann@lee.io\n", encoding="utf-8")
    with pytest.raises(LeadFileError) as refused:
        check_lead_file(path)
    message = str(refused.value)
    assert "'Record ID' and 'Contact ID'" in message and '--map record_id="Record ID"' in message
    assert "columns:" in message and len(message.splitlines()) == 1
    ingest(db, path, columns={"record_id": "Contact ID"})
    assert list(leads(db)) == ["003A"]


# --------------------------------------------------------------------------- encodings


def _hubspot_text() -> str:
    return (FIXTURES / "hubspot_contacts.csv").read_bytes().decode("utf-8-sig")


@pytest.mark.parametrize(("encoding", "recorded"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"), ("utf-16-be", None), ("cp1252", "cp1252"),
    ("latin-1", "cp1252"),
])
def test_encodings_are_detected_and_recorded(encoding: str, recorded: str | None, tmp_path: Path,
                                             db) -> None:
    path = tmp_path / "hubspot.csv"
    data = _hubspot_text().encode(encoding)
    if encoding == "utf-16-be":  # Excel's "Unicode Text" always writes a BOM; a BOM-less UTF-16 is not text
        path.write_bytes(data)
        with pytest.raises(LeadFileError, match="not a CSV, Parquet or Excel file"):
            check_lead_file(path)
        return
    path.write_bytes(data)
    summary = ingest(db, path)
    assert summary.encoding == recorded
    assert leads(db) == EXPECTED["hubspot_contacts.csv"]


def test_windows_1252_punctuation_is_read_as_windows_1252(tmp_path: Path, db) -> None:
    path = tmp_path / "excel_export.csv"
    text = "id;first_name;last_name;company;country\r\n7;Zoë;O’Brien;Café “Noir” – €uro;Österreich\r\n"
    path.write_bytes(text.encode("cp1252"))
    summary = ingest(db, path)
    assert summary.encoding == "cp1252"
    assert leads(db) == {"7": ("Zoë", "O’Brien", "Café “Noir” – €uro", None, None, None, "AT")}


def test_a_utf8_file_with_one_broken_row_stays_utf8_and_rejects_that_row(tmp_path: Path, db) -> None:
    path = tmp_path / "mixed.csv"
    good = "id,first_name,last_name,company\n1,José,Núñez,Acme\n2,Jürgen,Weiß,Beispiel\n3,Zoë,Ünal,Zeta\n"
    path.write_bytes(good.encode("utf-8") + "4,Ana,Peña,Broken\n".encode("cp1252"))
    summary = ingest(db, path)
    assert summary.encoding == "utf-8"
    assert set(leads(db)) == {"1", "2", "3"} and leads(db)["2"][1] == "Weiß"
    assert db.execute("SELECT record_id, reason FROM rejected_leads").fetchall() == [
        ("4", "last_name is not valid UTF-8 text")]


# --------------------------------------------------------------------------- Excel


def _workbook(path: Path, rows: list[list], title: str = "Contacts", extra_sheets: tuple[str, ...] = ()) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    for name in extra_sheets:
        wb.create_sheet(name).append(["Record ID", "Email"])
    wb.save(path)


def test_xlsx_export_with_numbers_dates_and_a_second_sheet(tmp_path: Path, db) -> None:
    path = tmp_path / "hubspot.xlsx"
    _workbook(path, [
        ["Record ID", "First Name", "Last Name", "Company Name", "Website URL", "LinkedIn URL", "Country/Region",
         "Create Date", None],
        [5101, "José", "García", "Acme Iberia, S.L.", "acme-iberia.es", "linkedin.com/in/jose-garcia", "España",
         dt.datetime(2024, 3, 2, 10, 14)],
        [],  # an empty row in the middle of the sheet
        [5102.0, "Jürgen", "Weiß", "Beispiel GmbH", "https://www.beispiel.de/", None, "Deutschland",
         dt.date(2024, 3, 3)],
    ], extra_sheets=("Notes",))
    summary = ingest(db, path)
    assert (summary.file_format, summary.sheet, summary.encoding) == ("xlsx", "Contacts", None)
    assert leads(db) == {
        "5101": ("José", "García", "Acme Iberia, S.L.", "acme-iberia.es", None,
                 "https://www.linkedin.com/in/jose-garcia", "ES"),
        "5102": ("Jürgen", "Weiß", "Beispiel GmbH", "beispiel.de", None, None, "DE"),
    }
    assert [r[0] for r in db.execute("SELECT row_number FROM raw_leads ORDER BY 1").fetchall()] == [2, 4]
    table = open_table(path)
    assert next(values for _n, values, _p in table.rows)[7] == "2024-03-02 10:14:00"


def test_a_formatted_report_workbook_with_a_title_above_the_table(tmp_path: Path, db) -> None:
    path = tmp_path / "Open Leads.xlsx"  # Salesforce's "Formatted Report" export puts these rows on top
    _workbook(path, [
        ["Open Leads"], ["Filtered By:", "Lead Status equals Open - Not Contacted"], [],
        ["Lead ID", "First Name", "Last Name", "Company / Account", "Email", "Country"],
        ["00Q5g00000AbCdEEAV", "Lena", "Schmidt", "Schmidt & Söhne KG", "lena@schmidt-soehne.de", "Germany"],
    ])
    ingest(db, path)
    assert leads(db) == {"00Q5g00000AbCdEEAV": ("Lena", "Schmidt", "Schmidt & Söhne KG", None,
                                                "lena@schmidt-soehne.de", None, "DE")}
    assert db.execute("SELECT row_number FROM raw_leads").fetchall() == [(5,)]


def test_excel_cells_read_as_a_csv_export_would_hold_them() -> None:
    from enrichment_assets.leads.sources import cell_text

    assert [cell_text(v) for v in (5102.0, 5102, 0.5, 1e16, True, None, "  x ")] == [
        "5102", "5102", "0.5", "1e+16", "TRUE", "", "  x "]
    assert cell_text(dt.datetime(2024, 3, 2)) == "2024-03-02"
    assert cell_text(dt.datetime(2024, 3, 2, 10, 14, 5)) == "2024-03-02 10:14:05"
    assert cell_text(dt.time(9, 30)) == "09:30:00"


def test_xlsx_sheet_by_name_and_a_missing_sheet(tmp_path: Path, db) -> None:
    path = tmp_path / "book.xlsx"
    _workbook(path, [["Notes"], ["nothing here"]], title="Readme", extra_sheets=("Leads",))
    wb_rows = [["Record ID", "Email"], ["9", "a@b.io"]]
    from openpyxl import load_workbook
    wb = load_workbook(path)
    for row in wb_rows[1:]:
        wb["Leads"].append(row)
    wb.save(path)
    with pytest.raises(LeadFileError, match="no record_id column"):
        check_lead_file(path)  # the first sheet is the readme
    assert ingest(db, path, sheet="Leads").sheet == "Leads"
    assert list(leads(db)) == ["9"]
    with pytest.raises(LeadFileError, match=r"no sheet named 'Prospects' \(sheets: 'Readme', 'Leads'\)"):
        check_lead_file(path, sheet="Prospects")


def test_a_string_that_looks_like_a_formula_in_a_workbook_is_still_rejected(tmp_path: Path, db) -> None:
    path = tmp_path / "formula.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["id", "first_name", "last_name", "company"])
    ws.append(["1", "Ann", "Lee", "Acme"])
    ws.append(["2", "Bob", "Ray", "Ray Co"])
    ws["B3"].value = "=cmd|' /C calc'!A0"
    ws["B3"].data_type = "s"  # a text cell holding a formula's text
    wb.save(path)
    ingest(db, path)
    assert list(leads(db)) == ["1"]
    assert db.execute("SELECT reason FROM rejected_leads").fetchone() == (
        "first_name looks like a spreadsheet formula",
    )


# --------------------------------------------------------------------------- what is not a table


def test_a_stray_nul_in_a_text_file_rejects_its_row_not_the_file(tmp_path: Path, db) -> None:
    path = tmp_path / "leads.csv"
    body = "".join(f"{i},person{i}@acme.io\n" for i in range(1, 200))
    path.write_bytes(b"id,email\n" + body.encode() + b"200,bad\x00@acme.io\n")
    summary = ingest(db, path)
    assert (summary.leads, summary.rejected) == (199, 1)

def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("leads.txt", "id,email\n1,a@b.io\n")
    return buffer.getvalue()


BINARIES = {
    "random.csv": random.Random(7).randbytes(5000),
    "photo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
    "archive.xlsx": _zip_bytes(),
    "truncated.xlsx": b"PK\x03\x04" + random.Random(3).randbytes(300),
    "legacy.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500),
    "latin1_noise.csv": bytes(random.Random(11).randrange(0x80, 0x100) for _ in range(3000)),
    "utf16_no_bom.csv": "id,email\r\n1,a@b.io\r\n".encode("utf-16-le"),
}


@pytest.mark.parametrize("name", sorted(BINARIES))
def test_binary_files_are_refused_without_echoing_bytes(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(BINARIES[name])
    with pytest.raises(LeadFileError) as refused:
        check_lead_file(path)
    message = str(refused.value)
    assert message.startswith(name + ": ") and len(message.splitlines()) == 1
    assert message.isprintable() and message.isascii(), repr(message)
    if name != "legacy.xls":
        assert message == f"{name}: not a CSV, Parquet or Excel file"
    else:
        assert "save it as .xlsx or CSV" in message
