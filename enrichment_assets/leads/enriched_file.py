"""The enriched copy of a lead file: the user's rows, in their order, with their own columns, plus the phones.

``<out>/<list>.enriched.csv`` (and ``.xlsx`` when the list came as a workbook) is what a spreadsheet user
takes back to the CRM: every row of the file they gave, keyed by their own id column, with

- ``best_phone``, ``best_phone_type``, ``phone_status`` (``contacts``: the number to dial, its type and
  the lead's status; ``rejected`` for a row that was set aside),
- ``all_phones`` (every valid, not suppressed number found for the person, best first, ``; ``-separated),
- ``phone_sources`` (the providers that returned ``best_phone``),
- ``rejected_reason`` (why a row was set aside; empty for a lead).

A column of the input with one of those names is replaced in place (re-enriching an enriched file keeps
one set of phone columns). Nothing is held in memory whole: the file is read again as a stream and
staged to Parquet, the list's results are copied out of the warehouse in one query, and DuckDB joins the
two by row number and writes the CSV; the workbook is written row by row with XlsxWriter's
constant-memory mode. In the CSV a cell that a spreadsheet would run as a formula (``=``, ``+``, ``-`` or
``@`` first, after any whitespace, and not a plain number) gets a leading ``'``; the workbook stores every
cell as text, which is never run.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from enrichment_assets.leads.ingest import file_digest
from enrichment_assets.leads.sources import CHUNK_ROWS, LeadFileError, LeadTable, open_table, printable
from enrichment_assets.storage.warehouse import memory_limit

ADDED_COLUMNS = ("best_phone", "best_phone_type", "phone_status", "all_phones", "phone_sources", "rejected_reason")
XLSX_CELL_LIMIT = 32_767

# Per file row: the lead's results, or the reason it was set aside. Row numbers are the ingestion's, so they
# match the rows the same reader yields again.
_RESULTS_SQL = """
WITH leads AS (SELECT row_number, record_id FROM raw_leads WHERE list_id = $list),
phones AS (
    SELECT cp.record_id, string_agg(cp.e164, '; ' ORDER BY cp.score DESC, cp.e164) AS all_phones
    FROM contact_phones cp SEMI JOIN leads USING (record_id)
    WHERE cp.e164 IS NOT NULL AND cp.number_type <> 'invalid' AND NOT coalesce(cp.suppressed, false)
    GROUP BY cp.record_id
)
SELECT l.row_number, l.record_id, c.best_phone, c.best_phone_type, c.status AS phone_status, p.all_phones,
       array_to_string(c.best_phone_sources, ', ') AS phone_sources, NULL::VARCHAR AS rejected_reason
FROM leads l LEFT JOIN contacts c USING (record_id) LEFT JOIN phones p USING (record_id)
UNION ALL
SELECT row_number, record_id, NULL, NULL, 'rejected', NULL, NULL, reason
FROM rejected_leads WHERE list_id = $list
"""

# A leading = + - @ (also after tabs, line breaks or spaces, which some programs strip) makes a spreadsheet
# evaluate the cell; numbers and phone numbers are data.
_FORMULA_LIKE = r"^\s*[=+\-@]"
_NUMBER_LIKE = r"^\s*[+-]?[0-9][0-9 ().\-]*$"


class EnrichedFileError(Exception):
    """The enriched file cannot be written (the source file is gone or changed); one line for the user."""


@dataclass
class EnrichedFileSummary:
    csv_path: Path
    xlsx_path: Path | None
    rows: int
    leads: int
    rejected: int
    with_phone: int
    by_status: dict[str, int] = field(default_factory=dict)
    #: First rows: (row_number, record_id, best_phone, best_phone_type, phone_status, rejected_reason).
    preview: list[tuple] = field(default_factory=list)
    #: The list's last contact change the file was written from (None: no contacts yet).
    contacts_as_of: datetime | None = None


def output_paths(out_dir: Path, list_id: str) -> tuple[Path, Path]:
    return out_dir / f"{list_id}.enriched.csv", out_dir / f"{list_id}.enriched.xlsx"


def delete_enriched_files(out_dir: Path, list_ids: list[str]) -> list[str]:
    """Delete the enriched copies of these lists (erasure, retention); the names of the files deleted."""
    deleted = []
    for list_id in list_ids:
        for path in output_paths(out_dir, list_id):
            if path.exists():
                path.unlink()
                deleted.append(path.name)
    return deleted


def stale_enriched_lists(conn: duckdb.DuckDBPyConnection, out_dir: Path, exclude: str | None = None
                         ) -> list[str]:
    """Lists (other than ``exclude``) whose enriched CSV was written from older contacts than they have now.

    Another list's merge re-scores the leads of earlier lists whose numbers it reveals as switchboards; their
    enriched files must follow, or a CRM re-import would bring the switchboard back as the number to dial.
    A file's modification time is the contacts' last change it was written from (:func:`write_enriched_file`
    sets it), not the time of writing: a file whose write began before another list's merge committed and
    ended after it is stale, and is found so.
    """
    stale = []
    for list_id, changed_at in conn.execute(
            "SELECT list_id, max(enriched_at) FROM contacts WHERE list_id IS DISTINCT FROM ? GROUP BY list_id "
            "ORDER BY list_id", [exclude]).fetchall():
        csv_path, _ = output_paths(out_dir, list_id)
        if changed_at is not None and csv_path.exists() and _mtime_ns(changed_at) > csv_path.stat().st_mtime_ns:
            stale.append(list_id)
    return stale


def _mtime_ns(moment: datetime) -> int:
    """Whole microseconds since the epoch, in nanoseconds: exact, unlike a float timestamp."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def _contacts_as_of(conn: duckdb.DuckDBPyConnection, list_id: str) -> datetime | None:
    return conn.execute("SELECT max(enriched_at) FROM contacts WHERE list_id = ?", [list_id]).fetchone()[0]


def output_columns(headers: list[str]) -> list[tuple[str, str]]:
    """(output header, SQL expression) per output column: the input's, then the added ones not already there."""
    existing = {h.strip().casefold(): i for i, h in enumerate(headers)}
    columns = []
    for i, header in enumerate(headers):
        added = next((a for a in ADDED_COLUMNS if a == header.strip().casefold()), None)
        columns.append((header, f"r.{added}" if added else f"nullif(s.c{i}, '')"))
    columns += [(a, f"r.{a}") for a in ADDED_COLUMNS if a not in existing]
    return columns


def _arrow_batch(columns: list[list], schema: pa.Schema) -> pa.Table:
    try:
        arrays = [pa.array(c, t) for c, t in zip(columns, schema.types, strict=True)]
    except (UnicodeEncodeError, pa.ArrowException):
        # Undecodable bytes are lone surrogates in Python, which Arrow cannot store: keep them, escaped.
        arrays = [pa.array(columns[0], pa.int64())] + [
            pa.array([None if v is None else v.encode("utf-8", "backslashreplace").decode("utf-8") for v in c],
                     pa.string()) for c in columns[1:]]
    return pa.Table.from_arrays(arrays, schema=schema)


def _stage_source(table: LeadTable, target: Path) -> None:
    """The file's rows as text columns c0..cN plus row_number, in Parquet."""
    width = len(table.headers)
    schema = pa.schema([("row_number", pa.int64()), *((f"c{i}", pa.string()) for i in range(width))])
    with pq.ParquetWriter(str(target), schema) as writer:
        batch: list[list] = [[] for _ in range(width + 1)]
        for row_number, values, _problem in table.rows:
            batch[0].append(row_number)
            cells = (values or [])[:width]
            cells = cells + [None] * (width - len(cells))
            for column, value in zip(batch[1:], cells, strict=True):
                column.append(value)
            if len(batch[0]) >= CHUNK_ROWS:
                writer.write_table(_arrow_batch(batch, schema))
                batch = [[] for _ in range(width + 1)]
        writer.write_table(_arrow_batch(batch, schema))


def _csv_safe(expression: str) -> str:
    return (f"CASE WHEN regexp_matches({expression}, '{_FORMULA_LIKE}') "
            f"AND NOT regexp_matches({expression}, '{_NUMBER_LIKE}') THEN '''' || {expression} "
            f"ELSE {expression} END")


def _csv_safe_text(text: str) -> str:
    if re.match(_FORMULA_LIKE, text) and not re.match(_NUMBER_LIKE, text):
        return "'" + text
    return text


def _write_csv(mem: duckdb.DuckDBPyConnection, select_sql: str, headers: list[str], target: Path) -> None:
    body = _partial_path(target, ".body")
    # COPY takes no parameters; the path is ours (the output folder and the list id, sanitized).
    mem.execute(f"COPY ({select_sql}) TO '{_sql_path(body)}' (HEADER false, DELIMITER ',', QUOTE '\"')")
    partial = _partial_path(target)
    with partial.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow([_csv_safe_text(h) for h in headers])
        with body.open("r", encoding="utf-8", newline="") as rows:
            shutil.copyfileobj(rows, handle, 1 << 20)
    body.unlink()
    os.replace(partial, target)


def _partial_path(target: Path, suffix: str = ".partial") -> Path:
    """A name of its own for a file being written: two runs may rewrite the same list's file at once."""
    return target.with_name(f"{target.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}{suffix}")


def _xlsx_text(value: object) -> str:
    text = "" if value is None else str(value)
    # Control characters are not allowed in a worksheet; the limit is Excel's own per cell.
    text = "".join(ch if ch.isprintable() or ch in "\t\n" else "\ufffd" for ch in text)
    return text[:XLSX_CELL_LIMIT]


def _write_xlsx(mem: duckdb.DuckDBPyConnection, select_sql: str, headers: list[str], sheet: str,
                target: Path) -> None:
    import xlsxwriter

    partial = _partial_path(target)
    workbook = xlsxwriter.Workbook(str(partial), {"constant_memory": True, "strings_to_numbers": False,
                                                  "strings_to_formulas": False, "strings_to_urls": False})
    try:
        worksheet = workbook.add_worksheet(sheet[:31] or "Leads")
        for col, header in enumerate(headers):
            worksheet.write_string(0, col, _xlsx_text(header))
        result = mem.execute(select_sql)
        row = 1
        while chunk := result.fetchmany(10_000):
            for values in chunk:
                for col, value in enumerate(values):
                    if value is not None and value != "":
                        worksheet.write_string(row, col, _xlsx_text(value))
                row += 1
    finally:
        workbook.close()
    os.replace(partial, target)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def write_enriched_file(conn_factory: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
                        list_id: str, source: Path, out_dir: Path, *, sheet: str | None = None,
                        expected_sha256: str | None = None, excel: bool | None = None) -> EnrichedFileSummary:
    """Write ``<out_dir>/<list_id>.enriched.csv`` (and ``.xlsx`` for a workbook, or when ``excel``).

    ``source`` must be the file the list was loaded from: when ``expected_sha256`` is given and the file's
    bytes differ, nothing is written. ``conn_factory`` yields a warehouse connection, held only while the
    list's results are copied out.
    """
    if not source.is_file():
        raise EnrichedFileError(f"{printable(str(source), 300)}: the lead file is gone; its enriched copy "
                                "needs it")
    if expected_sha256 and file_digest(source) != expected_sha256:
        raise EnrichedFileError(f"{printable(source.name, 200)} changed since the list was loaded: run the list "
                                "again to enrich the new file")
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = output_paths(out_dir, list_id)
    with tempfile.TemporaryDirectory(prefix="enriched-") as tmp:
        staged, results = Path(tmp) / "source.parquet", Path(tmp) / "results.parquet"
        try:
            table = open_table(source, sheet)
            headers = table.headers
            _stage_source(table, staged)
        except LeadFileError as exc:
            raise EnrichedFileError(str(exc)) from None
        write_excel = table.file_format == "xlsx" if excel is None else excel
        with conn_factory() as conn:
            # Read before the rows: a merge committing in between makes the file look older than it is (one
            # needless rewrite later), never newer.
            as_of = _contacts_as_of(conn, list_id)
            conn.execute(f"COPY ({_RESULTS_SQL}) TO '{_sql_path(results)}' (FORMAT parquet)", {"list": list_id})
        columns = output_columns(headers)
        with duckdb.connect(":memory:") as mem:
            # The pipeline's DuckDB cap here too: beyond it the join and the sort spill to disk.
            mem.execute(f"SET memory_limit = '{memory_limit()}'")
            mem.execute(f"SET temp_directory = '{_sql_path(Path(tmp) / 'spill')}'")
            mem.execute("SET preserve_insertion_order = true")
            join = (f"FROM read_parquet('{_sql_path(staged)}') s "
                    f"LEFT JOIN read_parquet('{_sql_path(results)}') r USING (row_number) ORDER BY s.row_number")
            original = {f"nullif(s.c{i}, '')" for i in range(len(headers))}
            csv_select = "SELECT " + ", ".join(_csv_safe(expr) if expr in original else expr
                                               for _name, expr in columns) + " " + join
            out_headers = [name for name, _expr in columns]
            _write_csv(mem, csv_select, out_headers, csv_path)
            if write_excel:
                xlsx_select = "SELECT " + ", ".join(expr for _name, expr in columns) + " " + join
                _write_xlsx(mem, xlsx_select, out_headers, table.sheet or list_id, xlsx_path)
            elif xlsx_path.exists():
                xlsx_path.unlink()  # from an earlier workbook of the same list: it would be stale
            summary = _summarize(mem, staged, results)
    if as_of is not None:
        stamp = _mtime_ns(as_of)
        for path in (csv_path, xlsx_path) if write_excel else (csv_path,):
            os.utime(path, ns=(stamp, stamp))
    return EnrichedFileSummary(csv_path=csv_path, xlsx_path=xlsx_path if write_excel else None,
                               contacts_as_of=as_of, **summary)


def _summarize(mem: duckdb.DuckDBPyConnection, staged: Path, results: Path) -> dict:
    base = f"FROM read_parquet('{_sql_path(staged)}') s LEFT JOIN read_parquet('{_sql_path(results)}') r " \
           "USING (row_number)"
    rows, rejected, with_phone = mem.execute(
        f"SELECT count(*), count(*) FILTER (WHERE r.phone_status = 'rejected'), "
        f"count(*) FILTER (WHERE r.best_phone IS NOT NULL) {base}").fetchone()
    by_status = dict(mem.execute(f"SELECT coalesce(r.phone_status, 'unknown'), count(*) {base} GROUP BY 1 "
                                 "ORDER BY 2 DESC").fetchall())
    preview = mem.execute(f"SELECT s.row_number, r.record_id, r.best_phone, r.best_phone_type, r.phone_status, "
                          f"r.rejected_reason {base} ORDER BY s.row_number LIMIT 10").fetchall()
    return {"rows": rows, "leads": rows - rejected, "rejected": rejected, "with_phone": with_phone,
            "by_status": by_status, "preview": preview}
