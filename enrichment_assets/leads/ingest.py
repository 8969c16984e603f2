"""Stream a lead file (CSV, Parquet or Excel) into ``raw_leads`` and ``rejected_leads``.

Rows are read and normalized in chunks and staged to Parquet files on disk, so
a file of any size ingests in bounded memory; DuckDB then deduplicates
``record_id`` (the first row wins) and loads the partition in one short
transaction. A bad row never stops the run: it lands in ``rejected_leads``
with the reason and the raw row. Only a file that cannot be used at all
(missing, unreadable, not a table, no ``record_id`` column or two candidates) raises
:class:`LeadFileError`. Reading the file (formats, encodings) is ``sources.py``; which column is which
field is ``headers.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from enrichment_assets.leads.headers import ColumnError, ColumnMapping, resolve_columns
from enrichment_assets.leads.normalize import InvalidField, normalize_row
from enrichment_assets.leads.sources import (
    CHUNK_ROWS,
    SUPPORTED_SUFFIXES,
    LeadFileError,
    Row,
    open_table,
    printable,
)
from enrichment_assets.storage.step_state import read_digest, stable_digest, table_digest, write_digest
from enrichment_assets.storage.warehouse import transaction

RAW_PREVIEW_CHARS = 2_000

__all__ = ["CHUNK_ROWS", "SUPPORTED_SUFFIXES", "IngestSummary", "LeadFile", "LeadFileError", "check_lead_file",
           "ingest_lead_file", "list_id_for", "open_lead_file", "stage_lead_file"]


def list_id_for(path: Path) -> str:
    """The partition key of a lead file: its stem, lowercased, with anything unusual turned into '_'."""
    stem = path.name
    for suffix in SUPPORTED_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    key = re.sub(r"[^a-z0-9_\-]+", "_", stem.lower()).strip("_-")
    return key[:120] or "list"


@dataclass(frozen=True)
class IngestSummary:
    list_id: str
    rows_read: int
    leads: int
    rejected: int
    countries: int
    #: True when the file was byte for byte the one the list was last loaded from: its rows were kept.
    reused: bool = False
    file_format: str | None = None
    #: The text encoding a CSV was read with (utf-8, utf-8-sig, utf-16, cp1252, ...).
    encoding: str | None = None
    sheet: str | None = None
    #: sha256 of the file's bytes: which file the rows came from.
    source_sha256: str | None = None
    #: Lead field -> the file's column it was read from.
    columns: dict[str, str] = field(default_factory=dict)


#: Raise when normalization changes: every list is read again from its file at its next run.
INGEST_RULES_VERSION = 2
_STEP = "lead_ingestion"


_STAGED_SCHEMA = pa.schema([
    ("row_number", pa.int64()),
    ("record_id", pa.string()),
    ("first_name", pa.string()),
    ("last_name", pa.string()),
    ("company", pa.string()),
    ("domain", pa.string()),
    ("email", pa.string()),
    ("linkedin_url", pa.string()),
    ("country", pa.string()),
    ("fingerprint", pa.string()),
    ("raw", pa.string()),
])

_REJECTED_SCHEMA = pa.schema([
    ("row_number", pa.int64()),
    ("record_id", pa.string()),
    ("reason", pa.string()),
    ("raw", pa.string()),
])


def _raw_json(headers: list[str], values: list[str]) -> str:
    pairs: dict[str, str] = {}
    for index, value in enumerate(values):
        key = headers[index] if index < len(headers) else f"_extra_{index - len(headers) + 1}"
        pairs[key or f"_column_{index + 1}"] = value
    text = json.dumps(pairs, ensure_ascii=False, default=str)
    # Undecodable bytes survive as lone surrogates, which cannot be stored as UTF-8: escape them.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:RAW_PREVIEW_CHARS]


@dataclass
class LeadFile:
    """A lead file ready to be read: its table, and which of its columns feeds which lead field."""

    path: Path
    headers: list[str]
    rows: Iterator[Row]
    mapping: ColumnMapping
    file_format: str
    encoding: str | None = None
    sheet: str | None = None

    @property
    def columns(self) -> dict[str, str]:
        """Lead field -> header of the column it is read from."""
        return {target: self.headers[index] for target, index in sorted(self.mapping.indexes.items())}


def open_lead_file(path: Path, columns: Mapping[str, str] | None = None, sheet: str | None = None,
                   config_columns: Mapping[str, str] | None = None) -> LeadFile:
    """Check the file is usable and return it with a row iterator; raise LeadFileError if not.

    ``columns`` maps lead fields to the file's headers (``--map``; each must exist), ``config_columns``
    likewise (``columns:`` in enrichment.yaml; applied where the file has the column); both win over the
    recognised header names. ``sheet`` picks an Excel sheet (default: the first visible one).
    """
    table = open_table(path, sheet)
    name = printable(path.name, 200)
    try:
        mapping = resolve_columns(table.headers, columns, config_columns)
    except ColumnError as exc:
        raise LeadFileError(f"{name}: {exc}") from None
    if "record_id" not in mapping.indexes:
        shown = ", ".join(printable(h, 40) for h in table.headers[:8]) or "(none)"
        raise LeadFileError(f"{name}: no record_id column (an 'id' or 'record_id' header, or a CRM's own such "
                            f"as 'Record ID'; or choose one with --map record_id=\"...\"); found: {shown}")
    return LeadFile(path=path, headers=table.headers, rows=table.rows, mapping=mapping,
                    file_format=table.file_format, encoding=table.encoding, sheet=table.sheet)


def check_lead_file(path: Path, columns: Mapping[str, str] | None = None, sheet: str | None = None,
                    config_columns: Mapping[str, str] | None = None) -> LeadFile:
    """Raise LeadFileError unless the file is usable; return it (its rows are not read)."""
    return open_lead_file(path, columns, sheet, config_columns)


class _ChunkWriter:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(str(path), schema)
        self._schema = schema
        self._columns: dict[str, list] = {name: [] for name in schema.names}
        self.count = 0

    def add(self, **values: object) -> None:
        for name, column in self._columns.items():
            column.append(values.get(name))
        self.count += 1
        if len(self._columns["row_number"]) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._columns["row_number"]:
            self._writer.write_table(pa.table(self._columns, schema=self._schema))
            self._columns = {name: [] for name in self._schema.names}

    def close(self) -> None:
        self.flush()
        self._writer.close()


def stage_lead_file(path: Path, workdir: Path, columns: Mapping[str, str] | None = None,
                    sheet: str | None = None, config_columns: Mapping[str, str] | None = None
                    ) -> tuple[Path, Path, int]:
    """Normalize every row of ``path`` into two Parquet files (valid, rejected); no DuckDB involved."""
    return _stage(open_lead_file(path, columns, sheet, config_columns), workdir)


def _stage(lead_file: LeadFile, workdir: Path) -> tuple[Path, Path, int]:
    headers, rows, mapping = lead_file.headers, lead_file.rows, lead_file.mapping.indexes
    valid_path, rejected_path = workdir / "valid.parquet", workdir / "rejected.parquet"
    valid, rejected = _ChunkWriter(valid_path, _STAGED_SCHEMA), _ChunkWriter(rejected_path, _REJECTED_SCHEMA)
    rows_read = 0
    try:
        for row_number, values, problem in rows:
            rows_read += 1
            if values is None:
                rejected.add(row_number=row_number, record_id=None, reason=problem, raw=None)
                continue
            raw = _raw_json(headers, values)
            by_column = {canon: values[index] if index < len(values) else None for canon, index in mapping.items()}
            if problem:
                rid = (by_column.get("record_id") or "").strip()[:200]
                rid = rid.encode("utf-8", "backslashreplace").decode("utf-8") or None  # undecodable bytes
                rejected.add(row_number=row_number, record_id=rid, reason=problem, raw=raw)
                continue
            try:
                lead = normalize_row(by_column)
            except InvalidField as exc:
                rid = str(by_column.get("record_id") or "").strip()[:200]
                rid = rid.encode("utf-8", "backslashreplace").decode("utf-8") or None
                rejected.add(row_number=row_number, record_id=rid, reason=str(exc), raw=raw)
                continue
            valid.add(row_number=row_number, record_id=lead.record_id, first_name=lead.first_name,
                      last_name=lead.last_name, company=lead.company, domain=lead.domain, email=lead.email,
                      linkedin_url=lead.linkedin_url, country=lead.country, fingerprint=lead.fingerprint, raw=raw)
    finally:
        valid.close()
        rejected.close()
    return valid_path, rejected_path, rows_read


def load_staged(conn: duckdb.DuckDBPyConnection, list_id: str, valid_path: Path, rejected_path: Path,
                rows_read: int, loaded_at: datetime | None = None) -> IngestSummary:
    """Replace the list's rows in raw_leads/rejected_leads in one short transaction."""
    loaded_at = loaded_at or datetime.now(UTC)
    with transaction(conn):
        conn.execute("DELETE FROM raw_leads WHERE list_id = ?", [list_id])
        conn.execute("DELETE FROM rejected_leads WHERE list_id = ?", [list_id])
        # Streamed from the staged Parquet in a few passes, never a full in-memory copy with the raw rows:
        # duplicates are found by a small aggregate first, then only their rows are read back.
        conn.execute(
            """
            CREATE OR REPLACE TEMP TABLE duplicate_ids AS
            SELECT record_id, min(row_number) AS first_row FROM read_parquet(?)
            GROUP BY record_id HAVING count(*) > 1
            """,
            [str(valid_path)],
        )
        conn.execute(
            """
            INSERT INTO raw_leads (list_id, record_id, first_name, last_name, company, domain, email,
                                   linkedin_url, country, fingerprint, loaded_at, row_number)
            SELECT ?, s.record_id, first_name, last_name, company, domain, email, linkedin_url, country,
                   fingerprint, ?, s.row_number
            FROM read_parquet(?) s LEFT JOIN duplicate_ids d USING (record_id)
            WHERE d.first_row IS NULL OR s.row_number = d.first_row
            """,
            [list_id, loaded_at, str(valid_path)],
        )
        conn.execute(
            """
            INSERT INTO rejected_leads (list_id, row_number, record_id, reason, raw, loaded_at)
            SELECT ?, s.row_number, s.record_id,
                   'duplicate record_id (first seen on row ' || d.first_row || ')', s.raw, ?
            FROM read_parquet(?) s JOIN duplicate_ids d USING (record_id)
            WHERE s.row_number <> d.first_row
            UNION ALL
            SELECT ?, row_number, record_id, reason, raw, ? FROM read_parquet(?)
            """,
            [list_id, loaded_at, str(valid_path), list_id, loaded_at, str(rejected_path)],
        )
        conn.execute("DROP TABLE duplicate_ids")
        leads, rejected, countries = _list_counts(conn, list_id)
    return IngestSummary(list_id=list_id, rows_read=rows_read, leads=leads, rejected=rejected, countries=countries)


def file_digest(path: Path) -> str:
    """sha256 of the file's bytes (read in 1 MiB blocks: a 170 MB list takes well under a second)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _loaded_digest(conn: duckdb.DuckDBPyConnection, list_id: str, source: str) -> str:
    """The file that was loaded, and the rows it left in both tables (an erasure or a hand edit changes them)."""
    return stable_digest(INGEST_RULES_VERSION, source,
                         table_digest(conn, "raw_leads", "list_id = ?", [list_id]),
                         table_digest(conn, "rejected_leads", "list_id = ?", [list_id]))


def _list_counts(conn: duckdb.DuckDBPyConnection, list_id: str) -> tuple[int, int, int]:
    """The list's leads, rejected rows and distinct countries as the tables hold them."""
    leads, countries = conn.execute(
        "SELECT count(*), count(DISTINCT country) FROM raw_leads WHERE list_id = ?", [list_id]).fetchone()
    (rejected,) = conn.execute("SELECT count(*) FROM rejected_leads WHERE list_id = ?", [list_id]).fetchone()
    return leads, rejected, countries


def _current_summary(conn: duckdb.DuckDBPyConnection, list_id: str) -> IngestSummary:
    leads, rejected, countries = _list_counts(conn, list_id)
    # Every row of the file is either a lead or rejected (duplicates included).
    return IngestSummary(list_id=list_id, rows_read=leads + rejected, leads=leads, rejected=rejected,
                         countries=countries, reused=True)


def ingest_lead_file(conn_factory, path: Path, list_id: str, loaded_at: datetime | None = None, *,
                     columns: Mapping[str, str] | None = None, sheet: str | None = None,
                     config_columns: Mapping[str, str] | None = None) -> IngestSummary:
    """Stage the file without touching DuckDB, then load it with a connection from ``conn_factory``.

    ``conn_factory`` is a context manager factory yielding a DuckDB connection, so the
    write lock is only held for the final load. When the list was last loaded from the very same bytes
    with the same column mapping and sheet (and its rows are as that load left them), nothing is read or
    written again.
    """
    lead_file = check_lead_file(path, columns, sheet, config_columns)
    sha256 = file_digest(path)
    described = {"file_format": lead_file.file_format, "encoding": lead_file.encoding, "sheet": lead_file.sheet,
                 "source_sha256": sha256, "columns": lead_file.columns}
    # The same bytes read with another mapping or sheet are other rows.
    source = stable_digest(sha256, sorted(lead_file.columns.items()), lead_file.sheet)
    with conn_factory() as conn:
        if read_digest(conn, _STEP, list_id) == _loaded_digest(conn, list_id, source):
            return replace(_current_summary(conn, list_id), **described)
    with tempfile.TemporaryDirectory(prefix="leads-") as tmp:
        valid_path, rejected_path, rows_read = _stage(lead_file, Path(tmp))
        with conn_factory() as conn:
            summary = load_staged(conn, list_id, valid_path, rejected_path, rows_read, loaded_at)
            with transaction(conn):
                write_digest(conn, _STEP, list_id, _loaded_digest(conn, list_id, source))
            return replace(summary, **described)
