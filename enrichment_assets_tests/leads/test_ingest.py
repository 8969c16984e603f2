from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enrichment_assets.leads.ingest import LeadFileError, check_lead_file, ingest_lead_file, list_id_for
from enrichment_assets.storage.warehouse import connect

MESSY = (
    "\ufeffID ,First Name,LAST_NAME,Company Name,Website,Work Email,LinkedIn,Country\n"
    "r1,  Jane ,Doe,Acme GmbH,https://www.Acme.de/kontakt,JANE.DOE@ACME.DE,http://linkedin.com/in/Jane-Doe/,Germany\n"
    "r2,Li,Wei,Beta,beta.cn,,,cn\n"
    "r1,Dup,Licate,X,x.io,dup@x.io,,\n"
    ",No,Id,Acme,acme.de,,,\n"
    "r3,Only,First,,,,,\n"
    "r4,Bad,Email,,,not-an-email,,\n"
    "r5,,,,,,jane-roe,uk\n"
)


@pytest.fixture
def db(tmp_path: Path):
    conn = connect(tmp_path / "w.duckdb")
    yield conn
    conn.close()


def _ingest(db, path: Path, list_id: str = "leads"):
    @contextmanager
    def factory():
        yield db

    return ingest_lead_file(factory, path, list_id)


def test_messy_csv_with_bom_and_aliases(tmp_path: Path, db) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(MESSY, encoding="utf-8")
    summary = _ingest(db, path)
    assert (summary.leads, summary.rejected, summary.rows_read) == (3, 4, 7)
    jane = db.execute("SELECT first_name, domain, email, linkedin_url, country FROM raw_leads "
                      "WHERE record_id = 'r1'").fetchone()
    assert jane == ("Jane", "acme.de", "jane.doe@acme.de", "https://www.linkedin.com/in/jane-doe", "DE")
    reasons = dict(db.execute("SELECT row_number, reason FROM rejected_leads").fetchall())
    assert reasons[4].startswith("duplicate record_id (first seen on row 2)")
    assert reasons[5] == "missing record_id"
    assert "nothing to look up" in reasons[6]
    assert "email" in reasons[7]
    raw = json.loads(db.execute("SELECT raw FROM rejected_leads WHERE row_number = 4").fetchone()[0])
    assert raw["First Name"] == "Dup"


def test_rerun_replaces_the_partition(tmp_path: Path, db) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(MESSY, encoding="utf-8")
    _ingest(db, path)
    _ingest(db, path)
    assert db.execute("SELECT count(*) FROM raw_leads").fetchone()[0] == 3
    _ingest(db, path, "other")
    assert db.execute("SELECT count(*) FROM raw_leads").fetchone()[0] == 6


def test_parquet_input(tmp_path: Path, db) -> None:
    path = tmp_path / "leads.parquet"
    pq.write_table(pa.table({"record_id": [1, 2], "linkedin": ["x-y", None], "email": [None, "A@B.IO"]}), path)
    summary = _ingest(db, path)
    assert summary.leads == 2
    assert db.execute("SELECT email FROM raw_leads WHERE record_id = '2'").fetchone()[0] == "a@b.io"


def test_semicolon_delimited_and_mixed_rows(tmp_path: Path, db) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("id;email\n1;a@b.io\n2,b@b.io;x;y\n", encoding="utf-8")
    summary = _ingest(db, path)
    assert summary.leads == 1 and summary.rejected == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("", "empty"), ("name,email\nx,a@b.io\n", "no record_id column")],
)
def test_unusable_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(LeadFileError, match=message):
        check_lead_file(path)


def test_list_id_is_a_sanitized_stem() -> None:
    assert list_id_for(Path("Q3 Leads (final).CSV")) == "q3_leads_final"
    assert list_id_for(Path("/x/sample_leads.csv")) == "sample_leads"


def test_same_bytes_are_not_read_again_and_any_change_is(tmp_path: Path, db) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(MESSY, encoding="utf-8")
    first = _ingest(db, path)
    loaded_at = db.execute("SELECT DISTINCT loaded_at FROM raw_leads").fetchall()
    again = _ingest(db, path)
    assert again.reused and not first.reused
    assert (again.leads, again.rejected, again.rows_read, again.countries) == \
        (first.leads, first.rejected, first.rows_read, first.countries)
    assert db.execute("SELECT DISTINCT loaded_at FROM raw_leads").fetchall() == loaded_at  # rows untouched

    path.write_text(MESSY.replace("Beta,beta.cn", "Gamma,gamma.cn"), encoding="utf-8")
    changed = _ingest(db, path)
    assert not changed.reused
    assert db.execute("SELECT company FROM raw_leads WHERE record_id = 'r2'").fetchone() == ("Gamma",)

    db.execute("DELETE FROM raw_leads WHERE record_id = 'r2'")  # e.g. an erasure: the file is read again
    assert not _ingest(db, path).reused
    assert db.execute("SELECT count(*) FROM raw_leads WHERE record_id = 'r2'").fetchone() == (1,)
