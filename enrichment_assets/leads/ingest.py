"""Stream a lead file (CSV or Parquet) into ``raw_leads`` and ``rejected_leads``.

Rows are read and normalized in chunks and staged to Parquet files on disk, so
a file of any size ingests in bounded memory; DuckDB then deduplicates
``record_id`` (the first row wins) and loads the partition in one short
transaction. A bad row never stops the run: it lands in ``rejected_leads``
with the reason and the raw row. Only a file that cannot be used at all
(missing, unreadable, not a table, no ``record_id`` column) raises
:class:`LeadFileError`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from enrichment_assets.leads.normalize import InvalidField, map_headers, normalize_row
from enrichment_assets.storage.step_state import read_digest, stable_digest, table_digest, write_digest
from enrichment_assets.storage.warehouse import transaction

CHUNK_ROWS = 50_000
RAW_PREVIEW_CHARS = 2_000
SUPPORTED_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq")
_DELIMITERS = (",", ";", "\t", "|")


class LeadFileError(Exception):
    """The file cannot be used at all; the message is one line for the user."""


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


#: Raise when normalization changes: every list is read again from its file at its next run.
INGEST_RULES_VERSION = 1
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


def _printable(text: str) -> str:
    """Text from the file, safe to show on one terminal line: control characters and undecodable bytes -> '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _open_text(path: Path):
    return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")


def _skip_to_header(handle) -> str:  # noqa: ANN001
    first = handle.readline()
    while first and not first.strip():
        first = handle.readline()
    return first


def _iter_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str] | None, str | None]]]:
    """Header and an iterator of (row_number, values or None, problem) for a delimited text file."""
    csv.field_size_limit(16 * 1024 * 1024)
    with _open_text(path) as handle:
        first = _skip_to_header(handle)
    if not first:
        raise LeadFileError(f"{path.name}: the file is empty")
    delimiter = _sniff_delimiter(first)
    headers = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]

    def rows() -> Iterator[tuple[int, list[str] | None, str | None]]:
        with _open_text(path) as handle:
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
                if len(values) > len(headers) and any(v.strip() for v in values[len(headers):]):
                    yield row_number, values, (f"row has {len(values)} fields but the header has {len(headers)} "
                                               "(mixed delimiters or unquoted commas?)")
                    continue
                yield row_number, values, None

    return headers, rows()


def _iter_parquet(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str] | None, str | None]]]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise LeadFileError(f"{path.name}: not a readable Parquet file ({exc.__class__.__name__})") from None
    headers = list(parquet.schema_arrow.names)

    def rows() -> Iterator[tuple[int, list[str] | None, str | None]]:
        row_number = 1
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            columns = [col.cast(pa.string(), safe=False).to_pylist() if not pa.types.is_string(col.type)
                       else col.to_pylist() for col in batch.columns]
            for i in range(batch.num_rows):
                row_number += 1
                yield row_number, ["" if c[i] is None else str(c[i]) for c in columns], None

    return headers, rows()


def open_lead_file(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str] | None, str | None]]]:
    """Check the file is usable and return its header and a row iterator; raise LeadFileError if not."""
    if not path.exists():
        raise LeadFileError(f"{path}: no such file")
    if not path.is_file():
        raise LeadFileError(f"{path}: not a file")
    try:
        with path.open("rb") as probe:
            head = probe.read(4)
    except OSError as exc:
        raise LeadFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if head == b"PAR1" or path.suffix.lower() in (".parquet", ".pq"):
        headers, rows = _iter_parquet(path)
    else:
        try:
            headers, rows = _iter_csv(path)
        except OSError as exc:
            raise LeadFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if "record_id" not in map_headers(headers):
        shown = ", ".join(_printable(h[:40]) for h in headers[:8]) or "(none)"
        raise LeadFileError(f"{_printable(path.name)}: no record_id column (an 'id' or 'record_id' header); "
                            f"found: {shown}")
    return headers, rows


def check_lead_file(path: Path) -> list[str]:
    """Raise LeadFileError unless the file is usable; return its header."""
    headers, _rows = open_lead_file(path)
    return headers


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


def stage_lead_file(path: Path, workdir: Path) -> tuple[Path, Path, int]:
    """Normalize every row of ``path`` into two Parquet files (valid, rejected); no DuckDB involved."""
    headers, rows = open_lead_file(path)
    mapping = map_headers(headers)
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


def ingest_lead_file(conn_factory, path: Path, list_id: str, loaded_at: datetime | None = None) -> IngestSummary:
    """Stage the file without touching DuckDB, then load it with a connection from ``conn_factory``.

    ``conn_factory`` is a context manager factory yielding a DuckDB connection, so the
    write lock is only held for the final load. When the list was last loaded from the very same bytes
    (and its rows are as that load left them), nothing is read or written again.
    """
    source = file_digest(path)
    with conn_factory() as conn:
        if read_digest(conn, _STEP, list_id) == _loaded_digest(conn, list_id, source):
            return _current_summary(conn, list_id)
    with tempfile.TemporaryDirectory(prefix="leads-") as tmp:
        valid_path, rejected_path, rows_read = stage_lead_file(path, Path(tmp))
        with conn_factory() as conn:
            summary = load_staged(conn, list_id, valid_path, rejected_path, rows_read, loaded_at)
            with transaction(conn):
                write_digest(conn, _STEP, list_id, _loaded_digest(conn, list_id, source))
            return summary
