"""A list's merge is kept when nothing it reads or wrote changed, and redone when anything did."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrichment_assets.contacts.merge import merge_list_if_changed
from enrichment_assets.storage.warehouse import connect
from enrichment_assets.waterfall.suppression import Suppression

ORDER = ["leadmagic", "pronto"]


@pytest.fixture
def conn(tmp_path: Path):
    connection = connect(tmp_path / "m.duckdb")
    for n, (record_id, company) in enumerate([("a", "Acme"), ("b", "Acme"), ("c", "Globex")]):
        connection.execute("INSERT INTO raw_leads (list_id, record_id, first_name, company, country, fingerprint, "
                           "loaded_at, row_number) VALUES ('l1', ?, 'Ann', ?, 'US', ?, now(), ?)",
                           [record_id, company, f"f{record_id}", n + 2])
    connection.execute("INSERT INTO leadmagic_results (list_id, record_id, outcome, phones, claimed_types) VALUES "
                       "('l1', 'a', 'found', ['+14155550123'], ['mobile']), ('l1', 'b', 'not_found', [], []), "
                       "('l1', 'c', 'error', [], [])")
    yield connection
    connection.close()


def test_unchanged_list_keeps_its_contacts(conn) -> None:
    first = merge_list_if_changed(conn, "l1", ORDER, Suppression())
    assert not first.reused and first.contacts == 3
    before = conn.execute("SELECT * FROM contacts ORDER BY record_id").fetchall()
    again = merge_list_if_changed(conn, "l1", ORDER, Suppression())
    assert again.reused
    assert (again.contacts, again.phones, again.by_status) == (first.contacts, first.phones, first.by_status)
    assert conn.execute("SELECT * FROM contacts ORDER BY record_id").fetchall() == before  # same enriched_at


@pytest.mark.parametrize("change", [
    "UPDATE leadmagic_results SET outcome = 'found', phones = ['+14155550199'], claimed_types = ['mobile'] "
    "WHERE record_id = 'c'",
    "UPDATE raw_leads SET company = 'Initech' WHERE record_id = 'b'",
    "DELETE FROM contacts WHERE record_id = 'a'",  # another list took the record over
    "UPDATE number_evidence SET shared = NOT shared WHERE record_id = 'a'",  # what other lists say of its numbers
])
def test_any_change_merges_again(conn, change: str) -> None:
    merge_list_if_changed(conn, "l1", ORDER, Suppression())
    conn.execute(change)
    assert not merge_list_if_changed(conn, "l1", ORDER, Suppression()).reused
    assert conn.execute("SELECT count(*) FROM contacts WHERE list_id = 'l1'").fetchone()[0] == 3


def test_new_order_or_suppression_merges_again(conn) -> None:
    merge_list_if_changed(conn, "l1", ORDER, Suppression())
    assert not merge_list_if_changed(conn, "l1", ORDER[::-1], Suppression()).reused
    merged = merge_list_if_changed(conn, "l1", ORDER[::-1], Suppression(phones={"+14155550123"}))
    assert not merged.reused
    assert merged.by_status["mobile_found"] == 0


def test_windows_of_file_rows_give_the_same_merge(conn, monkeypatch) -> None:
    from enrichment_assets.contacts import answers, merge

    whole = merge.merge_list(conn, "l1", ORDER, Suppression())
    rows = conn.execute("SELECT * EXCLUDE (enriched_at) FROM contacts ORDER BY record_id").fetchall()
    phones = conn.execute("SELECT * FROM contact_phones ORDER BY record_id, e164").fetchall()
    monkeypatch.setattr(answers, "WINDOW_ROWS", 1)  # one query per lead
    windowed = merge.merge_list(conn, "l1", ORDER, Suppression())
    assert windowed == whole
    assert conn.execute("SELECT * EXCLUDE (enriched_at) FROM contacts ORDER BY record_id").fetchall() == rows
    assert conn.execute("SELECT * FROM contact_phones ORDER BY record_id, e164").fetchall() == phones
