"""Asset checks evaluated directly against a DuckDB file."""

from __future__ import annotations

from pathlib import Path

from dagster_duckdb import DuckDBResource

from enrichment_assets.dagster_defs.checks import best_phone_is_valid_e164
from enrichment_assets.storage.warehouse import connect


def _contacts(path: Path, phones: list[str]) -> None:
    conn = connect(path)
    conn.execute("DELETE FROM contacts")
    for n, phone in enumerate(phones):
        conn.execute("INSERT INTO contacts (record_id, list_id, best_phone, status) VALUES (?, 'l1', ?, "
                     "'mobile_found')", [f"r{n}", phone])
    conn.close()


def test_best_phone_check_fails_on_a_bad_number_even_after_passing(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    resource = DuckDBResource(database=str(db))
    _contacts(db, ["+14155552671", "+447911123456"])
    first = best_phone_is_valid_e164(duckdb=resource)
    assert first.passed and first.metadata["checked"].value == 2
    again = best_phone_is_valid_e164(duckdb=resource)
    assert again.passed and again.metadata["unchanged_since_last_pass"].value is True

    _contacts(db, ["+14155552671", "+447911123456", "4155552671"])  # not E.164
    failed = best_phone_is_valid_e164(duckdb=resource)
    assert not failed.passed and failed.metadata["invalid"].value == 1
    assert not best_phone_is_valid_e164(duckdb=resource).passed  # a failure is never remembered
