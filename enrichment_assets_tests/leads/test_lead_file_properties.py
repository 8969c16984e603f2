"""Property: any table of strings, written as CSV in a supported encoding or as an Excel workbook, either
reads back as the same rows (and every row is then a lead or a rejected row) or is refused with a one-line
message. Never a traceback, never other rows."""

from __future__ import annotations

import csv
import io
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from enrichment_assets.leads.ingest import LeadFileError, check_lead_file, ingest_lead_file
from enrichment_assets.leads.sources import open_table
from enrichment_assets.storage.warehouse import ensure_schema

# Header sets of the exports (docs/lead_files.md) and the plain one.
HEADERS = [
    ["Record ID", "First Name", "Last Name", "Email", "Company Name", "Website URL", "LinkedIn URL", "Country/Region"],
    ["Lead ID", "First Name", "Last Name", "Company / Account", "Email", "Website", "Country"],
    ["First Name", "Last Name", "Company", "Email", "Person Linkedin Url", "Website", "Country", "Apollo Contact Id"],
    ["ZoomInfo Contact ID", "Last Name", "First Name", "Email Address", "LinkedIn Contact Profile URL", "Country"],
    ["Person - ID", "Person - Name", "Person - Organization", "Person - Email - Work"],
    ["record_id", "first_name", "last_name", "company", "email", "linkedin_url", "country"],
]
CSV_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "cp1252"]

REALISTIC = ["José", "Núñez", "Jürgen Weiß", "Zoë", "O’Brien", "Café “Noir” – €", "España", "Deutschland",
             "United States of America", "acme.es", "https://www.linkedin.com/in/ann-lee", "ann@lee.io", "Acme, Inc.",
             "=cmd|' /C calc'!A0", "+1 (415) 555-0100", "  padded  ", "", "ÿþ", "Ã©", "line\nbreak", 'quote "x"']

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_cell = st.one_of(_text, st.sampled_from(REALISTIC))


def _xlsx_cell_ok(value: str) -> bool:
    # What a worksheet cell can hold as typed text: no control characters, no literal "_xHHHH_" escapes.
    return all(ch.isprintable() or ch in "\t\n" for ch in value) and "_x" not in value


# Drawn as a worksheet can hold them, rather than drawn as any text and filtered: with the filter, about 16 of
# every 17 tables were thrown away (2,574 drawn for 150 kept, most of the test's time).
_xlsx_text = st.text(alphabet=st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Co", "Cn", "Zl", "Zp", "Zs")), st.sampled_from(" \t\n")),
    max_size=20).filter(lambda v: "_x" not in v)
_xlsx_cell = st.one_of(_xlsx_text, st.sampled_from([v for v in REALISTIC if _xlsx_cell_ok(v)]))


@st.composite
def tables(draw, cell: st.SearchStrategy[str] = _cell) -> tuple[list[str], list[list[str]]]:
    header = draw(st.sampled_from(HEADERS))
    rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=8))
    return header, rows


def _csv_bytes(header: list[str], rows: list[list[str]], encoding: str, delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _xlsx_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("Leads")
    for r, values in enumerate([header, *rows]):
        for c, value in enumerate(values):
            sheet.write_string(r, c, value)  # text cells, never formulas
    workbook.close()
    return buffer.getvalue()


def _expected(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    return [row for row in rows if any(v.strip() for v in row)]


def _read_back(path: Path, width: int) -> list[list[str]]:
    table = open_table(path)
    return [(values or []) + [""] * (width - len(values or [])) for _n, values, _p in table.rows]


def _check(path: Path, header: list[str], rows: list[list[str]]) -> None:
    try:
        check_lead_file(path)
    except LeadFileError as exc:
        message = str(exc)
        assert message.strip() and len(message.splitlines()) == 1 and message.isprintable(), repr(message)
        return
    expected = _expected(header, rows)
    assert _read_back(path, len(header)) == expected
    conn = duckdb.connect(":memory:")
    ensure_schema(conn)

    @contextmanager
    def factory():
        yield conn

    summary = ingest_lead_file(factory, path, "prop")
    assert summary.rows_read == len(expected) == summary.leads + summary.rejected
    numbers = sorted(r[0] for r in conn.execute(
        "SELECT row_number FROM raw_leads UNION ALL SELECT row_number FROM rejected_leads").fetchall())
    assert len(numbers) == len(expected) == len(set(numbers))


_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_SETTINGS
@given(tables(), st.sampled_from(CSV_ENCODINGS), st.sampled_from([",", ";", "\t"]))
@example((HEADERS[0], [["5101", "José", "García", "", "Acme, Inc.", "acme.es", "", "España"]]), "cp1252", ",")
@example((HEADERS[5], [["1", "Ã©", "x", "", "", "", ""]]), "utf-16", ",")
@example((HEADERS[5], [["ÿþ", "x", "", "", "", "", ""]]), "cp1252", ";")
def test_a_csv_table_reads_back_as_written_or_is_refused(table, encoding: str, delimiter: str) -> None:
    header, rows = table
    if encoding == "cp1252":
        try:
            data = _csv_bytes(header, rows, encoding, delimiter)
        except UnicodeEncodeError:
            assume(False)
        # Bytes that are also valid UTF-8 with non-ASCII text are UTF-8 by definition (e.g. "Ã©" is "é").
        with suppress(UnicodeDecodeError):
            assume(data.isascii() or not data.decode("utf-8"))
    else:
        data = _csv_bytes(header, rows, encoding, delimiter)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        path.write_bytes(data)
        _check(path, header, rows)


@_SETTINGS
@given(tables(_xlsx_cell))
@example((HEADERS[0], [["5101", "José", "=1+1", "", "Acme, Inc.", "acme.es", "", "España"], [""] * 8]))
def test_an_xlsx_table_reads_back_as_written_or_is_refused(table) -> None:
    header, rows = table
    assume(all(_xlsx_cell_ok(v) for row in rows for v in row))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.xlsx"
        path.write_bytes(_xlsx_bytes(header, rows))
        _check(path, header, rows)
