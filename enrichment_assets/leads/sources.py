"""Read a lead file as a header and a stream of rows of text, whatever it is: CSV, Parquet or Excel.

- **CSV** (``,`` ``;`` tab or ``|``): UTF-8 with or without BOM, UTF-16 and UTF-32 with BOM, or a legacy
  single-byte file (Windows-1252 / Latin-1), detected with charset-normalizer. A file that is valid UTF-8
  is UTF-8; a mostly-UTF-8 file with a few broken rows stays UTF-8 and those rows are rejected.
- **Parquet**: read in record batches.
- **Excel** (``.xlsx``/``.xlsm``): the first visible sheet, or the one named, read with openpyxl in
  read-only mode: rows are parsed from the sheet's XML as they are iterated, never the whole workbook
  at once. Cells give their displayed value (a formula's cached result), as text.

Anything else (a binary file, an old ``.xls``, a zip that is not a workbook) is refused with a message
that names the file and echoes none of its bytes. Rows come as ``(row_number, values, problem)``: the
row number in the file (header = 1; for Excel, the sheet's own row number), the values as strings, and
a reason when the row cannot be used as it is.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_ROWS = 50_000
SUPPORTED_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq", ".xlsx", ".xlsm")
_DELIMITERS = (",", ";", "\t", "|")
NOT_A_TABLE = "not a CSV, Parquet or Excel file"

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SNIFF_BYTES = 64 * 1024
_SAMPLE_BYTES = 512 * 1024
#: The single-byte encodings detection chooses between when a file is not UTF-8 (what Excel writes on
#: Western Windows: "CSV (Comma delimited)").
LEGACY_ENCODINGS = ("cp1252", "latin_1")

Row = tuple[int, list[str] | None, str | None]


class LeadFileError(Exception):
    """The file cannot be used at all; the message is one line for the user."""


def printable(text: str, limit: int = 60) -> str:
    """Text from a file, safe to show on one terminal line: control characters and undecodable bytes -> '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])


@dataclass
class LeadTable:
    """An opened lead file: its header, its rows (an iterator, read once) and how it was read."""

    headers: list[str]
    rows: Iterator[Row]
    file_format: str  # csv | parquet | xlsx
    encoding: str | None = None  # csv only
    sheet: str | None = None  # xlsx only


def open_table(path: Path, sheet: str | None = None) -> LeadTable:
    """Open ``path`` as a table; raise LeadFileError (one line, no file bytes) if it cannot be one."""
    if not path.exists():
        raise LeadFileError(f"{path}: no such file")
    if not path.is_file():
        raise LeadFileError(f"{path}: not a file")
    name = printable(path.name, 200)
    try:
        with path.open("rb") as probe:
            head = probe.read(8)
    except OSError as exc:
        raise LeadFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if sheet and not head.startswith(b"PK\x03\x04"):
        raise LeadFileError(f"{name}: --sheet applies to Excel files only")
    try:
        if head.startswith(b"PAR1") or path.suffix.lower() in (".parquet", ".pq"):
            return _parquet_table(path, name)
        if head.startswith(b"PK\x03\x04"):
            return _excel_table(path, name, sheet)
        if head.startswith(_OLE2):
            raise LeadFileError(f"{name}: an old-style Excel (.xls) or other Office file; save it as .xlsx or CSV")
        return _csv_table(path, name)
    except OSError as exc:
        raise LeadFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------- CSV and its encoding


def detect_encoding(path: Path) -> str:
    """The text encoding of a delimited file; raise LeadFileError if it is not text.

    BOMs decide first. Then a file that decodes as UTF-8 from end to end is UTF-8 (checked in 1 MiB
    blocks). Otherwise charset-normalizer reads the lines that are not valid UTF-8 (up to 512 KiB of
    them) and chooses between the single-byte encodings spreadsheets write; unless those lines are fewer
    than the lines that are valid UTF-8 with non-ASCII text: then it is a UTF-8 file with broken rows.
    """
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    # Text has no NUL bytes (a stray one in a cell is that row's problem); binaries and BOM-less UTF-16 do.
    if b"\x00" in head.split(b"\n", 1)[0] or head.count(b"\x00") * 1000 > len(head):
        raise LeadFileError(f"{printable(path.name, 200)}: {NOT_A_TABLE}")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    return _legacy_encoding(path)


def _legacy_encoding(path: Path) -> str:
    from charset_normalizer import from_bytes

    utf8_lines = invalid_lines = 0
    sample = bytearray()
    with path.open("rb") as handle:
        for line in iter(lambda: handle.readline(1 << 20), b""):  # bounded: a binary may have no line breaks
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8_lines += 1
            except UnicodeDecodeError:
                invalid_lines += 1
                if len(sample) < _SAMPLE_BYTES:
                    sample += line
    if utf8_lines > invalid_lines:
        return "utf-8"
    best = from_bytes(bytes(sample), cp_isolation=list(LEGACY_ENCODINGS)).best()
    if best is None:
        raise LeadFileError(f"{printable(path.name, 200)}: {NOT_A_TABLE}")
    return best.encoding


def _errors_for(encoding: str) -> str:
    # surrogateescape keeps undecodable bytes as lone surrogates, so the row is rejected with a reason
    # instead of being loaded garbled; it cannot represent bytes below 0x80, which broken UTF-16/32 has.
    return "replace" if encoding.startswith(("utf-16", "utf-32")) else "surrogateescape"


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _skip_to_header(handle) -> str:
    first = handle.readline()
    while first and not first.strip():
        first = handle.readline()
    return first


def _csv_table(path: Path, name: str) -> LeadTable:
    encoding = detect_encoding(path)
    errors = _errors_for(encoding)
    csv.field_size_limit(16 * 1024 * 1024)

    def open_text():
        return path.open("r", encoding=encoding, errors=errors, newline="")

    with open_text() as handle:
        first = _skip_to_header(handle)
    if not first:
        raise LeadFileError(f"{name}: the file is empty")
    delimiter = _sniff_delimiter(first)
    headers = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]

    def rows() -> Iterator[Row]:
        with open_text() as handle:
            _skip_to_header(handle)
            reader = csv.reader(handle, delimiter=delimiter)
            row_number = 1
            while True:
                row_number += 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield row_number, None, f"unreadable CSV row: {exc}"
                    continue
                if not values or all(not v.strip() for v in values):
                    continue
                yield row_number, values, _width_problem(values, headers)

    return LeadTable(headers=headers, rows=rows(), file_format="csv", encoding=encoding)


def _width_problem(values: list[str], headers: list[str]) -> str | None:
    if len(values) > len(headers) and any(v.strip() for v in values[len(headers):]):
        return (f"row has {len(values)} fields but the header has {len(headers)} "
                "(mixed delimiters or unquoted commas?)")
    return None


# --------------------------------------------------------------------------- Parquet


def _parquet_table(path: Path, name: str) -> LeadTable:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise LeadFileError(f"{name}: not a readable Parquet file ({exc.__class__.__name__})") from None
    headers = list(parquet.schema_arrow.names)

    def rows() -> Iterator[Row]:
        row_number = 1
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            columns = [col.cast(pa.string(), safe=False).to_pylist() if not pa.types.is_string(col.type)
                       else col.to_pylist() for col in batch.columns]
            for i in range(batch.num_rows):
                row_number += 1
                yield row_number, ["" if c[i] is None else str(c[i]) for c in columns], None

    return LeadTable(headers=headers, rows=rows(), file_format="parquet")


# --------------------------------------------------------------------------- Excel


def cell_text(value: object) -> str:
    """An Excel cell's value as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # Ids and numbers typed into Excel are floats; 12345.0 is the id 12345.
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _open_workbook(path: Path, name: str):
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any parse failure of an untrusted file means: not a workbook
        raise LeadFileError(f"{name}: {NOT_A_TABLE}") from None


def _pick_sheet(workbook, name: str, sheet: str | None):
    sheets = list(workbook.worksheets)
    if sheet:
        for candidate in sheets:
            if candidate.title == sheet:
                return candidate
        for candidate in sheets:
            if candidate.title.casefold() == sheet.strip().casefold():
                return candidate
        names = ", ".join(f"'{printable(s.title, 40)}'" for s in sheets[:10])
        raise LeadFileError(f"{name}: no sheet named '{printable(sheet, 40)}' (sheets: {names})")
    visible = [s for s in sheets if getattr(s, "sheet_state", "visible") == "visible"]
    if not (visible or sheets):
        raise LeadFileError(f"{name}: the workbook has no worksheet")
    return (visible or sheets)[0]


_HEADER_SEARCH_ROWS = 30


def _find_header(worksheet) -> tuple[int, list[str]]:
    """The header row: the first of the top rows naming two lead fields, else the first non-empty row.

    Formatted report exports (Salesforce's, for one) put a title and filters above the table.
    """
    from enrichment_assets.leads.headers import map_headers

    first: tuple[int, list[str]] = (0, [])
    for row_number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
        texts = [cell_text(v) for v in values]
        if not any(t.strip() for t in texts):
            continue
        if not first[0]:
            first = (row_number, texts)
        if len(map_headers(texts)) >= 2:
            return row_number, texts
        if row_number >= _HEADER_SEARCH_ROWS:
            break
    return first


def _excel_table(path: Path, name: str, sheet: str | None) -> LeadTable:
    workbook = _open_workbook(path, name)
    try:
        worksheet = _pick_sheet(workbook, name, sheet)
        title = worksheet.title
        # Trust the rows, not the <dimension> the writing program declared (some write a wrong one).
        worksheet.reset_dimensions()
        header_row, headers = _find_header(worksheet)
    except LeadFileError:
        workbook.close()
        raise
    except Exception:  # noqa: BLE001 - a damaged sheet
        workbook.close()
        raise LeadFileError(f"{name}: {NOT_A_TABLE}") from None
    workbook.close()
    if not header_row:
        raise LeadFileError(f"{name}: the sheet '{printable(title, 40)}' is empty")
    while headers and not headers[-1].strip():
        headers.pop()
    headers = [h.strip() for h in headers]

    def rows() -> Iterator[Row]:
        book = _open_workbook(path, name)
        try:
            rows_of_sheet = book[title]
            rows_of_sheet.reset_dimensions()
            try:
                for row_number, values in enumerate(rows_of_sheet.iter_rows(values_only=True), start=1):
                    if row_number <= header_row:
                        continue
                    texts = [cell_text(v) for v in values]
                    if not any(t.strip() for t in texts):
                        continue
                    problem = _width_problem(texts, headers)
                    if problem is None:
                        del texts[len(headers):]
                    yield row_number, texts, problem
            except Exception:  # noqa: BLE001 - damaged XML further down the sheet
                raise LeadFileError(f"{name}: the sheet '{printable(title, 40)}' is damaged after its first "
                                    "rows") from None
        finally:
            book.close()

    return LeadTable(headers=headers, rows=rows(), file_format="xlsx", sheet=title)
