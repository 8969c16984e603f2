"""Switchboard evidence across lists: maintained at each merge and erasure, and only the leads it concerns are
re-scored."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from enrichment_assets.contacts.evidence import lists_without_evidence
from enrichment_assets.contacts.merge import merge_list, merge_list_if_changed
from enrichment_assets.contacts.people import people_of, person_keys
from enrichment_assets.leads.model import Lead
from enrichment_assets.storage.erasure import forget
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.storage.warehouse import connect
from enrichment_assets.waterfall.suppression import Suppression

from .helpers import ANN_MOBILE, BOARD, BOB_MOBILE, ORDER, Lists, two_lists


@pytest.fixture
def conn(tmp_path: Path):
    connection = connect(tmp_path / "m.duckdb")
    yield connection
    connection.close()


def merge(conn: duckdb.DuckDBPyConnection, list_id: str):
    return merge_list_if_changed(conn, list_id, ORDER, Suppression())


def contact(conn: duckdb.DuckDBPyConnection, record_id: str) -> tuple:
    return conn.execute("SELECT best_phone, status, enriched_at FROM contacts WHERE record_id = ?",
                        [record_id]).fetchone()


def shared_flags(conn: duckdb.DuckDBPyConnection, e164: str) -> dict[str, bool]:
    return dict(conn.execute("SELECT record_id, shared_with_others FROM contact_phones WHERE e164 = ?",
                             [e164]).fetchall())


def rows_of(conn: duckdb.DuckDBPyConnection, list_id: str) -> dict[str, tuple]:
    contacts = {r[0]: r for r in conn.execute("SELECT * FROM contacts WHERE list_id = ?", [list_id]).fetchall()}
    phones = conn.execute("SELECT * FROM contact_phones WHERE list_id = ? ORDER BY e164", [list_id]).fetchall()
    return {rid: (row, [p for p in phones if p[0] == rid]) for rid, row in contacts.items()}


def test_a_list_that_reveals_a_switchboard_rescores_only_the_other_lists_holders(conn) -> None:
    two_lists(conn)
    merge(conn, "l1")
    assert contact(conn, "ann")[:2] == (BOARD, "phone_found")  # alone, l1 cannot tell a board from a direct line
    before = rows_of(conn, "l1")

    summary = merge(conn, "l2")
    assert (summary.rescored, summary.newly_shared, summary.no_longer_shared) == ({"l1": 1}, 1, 0)
    assert contact(conn, "ann")[:2] == (None, "not_found")  # a switchboard is nobody's number
    assert contact(conn, "bob")[:2] == (BOB_MOBILE, "mobile_found")
    assert shared_flags(conn, BOARD) == {"ann": True, "bob": True}
    after = rows_of(conn, "l1")
    assert after["cy"] == before["cy"]  # not rewritten: same rows, same enriched_at
    assert after["ann"] != before["ann"]
    assert conn.execute("SELECT DISTINCT shared FROM number_evidence WHERE e164 = ?", [BOARD]).fetchall() == [(True,)]

    # The re-scored list's digest still holds: an unchanged rerun keeps both lists.
    assert merge(conn, "l1").reused and merge(conn, "l2").reused
    assert rows_of(conn, "l1") == after


def test_evidence_that_goes_away_rescores_again(conn) -> None:
    lists = two_lists(conn)
    merge(conn, "l1")
    merge(conn, "l2")
    lists.answer("enrichlayer", "l2", "bob", [])  # a rerun of l2's waterfall no longer returns the board for Bob
    summary = merge(conn, "l2")
    assert (summary.rescored, summary.newly_shared, summary.no_longer_shared) == ({"l1": 1}, 0, 1)
    assert contact(conn, "ann")[:2] == (BOARD, "phone_found")
    assert shared_flags(conn, BOARD) == {"ann": False}
    assert merge(conn, "l1").reused


def test_unrelated_lists_are_not_touched(conn) -> None:
    lists = two_lists(conn)
    lists.lead("l3", "dee", company="Initech", domain="initech.co.uk", mobile="+447400123411", board=False,
               other=(BOARD,))  # the same digits at another company are not Acme's switchboard
    merge(conn, "l1")
    merge(conn, "l3")
    before = rows_of(conn, "l3")
    summary = merge(conn, "l2")
    assert summary.rescored == {"l1": 1}
    assert rows_of(conn, "l3") == before and merge(conn, "l3").reused
    assert shared_flags(conn, BOARD)["dee"] is False


def test_a_list_whose_inputs_changed_is_rescored_but_still_merged_whole_later(conn) -> None:
    lists = two_lists(conn)
    merge(conn, "l1")
    lists.answer("lantern", "l1", "cy", ["+447400123400"])  # l1's waterfall ran again; its merge has not yet
    assert merge(conn, "l2").rescored == {"l1": 1}
    assert not merge(conn, "l1").reused  # its digest was not in force: not blessed by the re-score


def test_same_person_under_two_record_ids_is_not_their_own_colleague(conn) -> None:
    lists = Lists(conn)
    ann = {"linkedin": "https://www.linkedin.com/in/ann", "email": "ann@acme.co.uk"}
    lists.lead("l1", "ann-crm", mobile=ANN_MOBILE, board=True, **ann)
    lists.lead("l2", "ann-erp", mobile=ANN_MOBILE, linkedin=ann["linkedin"])  # same LinkedIn URL
    lists.lead("l3", "ann-mail", mobile=ANN_MOBILE, email=ann["email"])  # no LinkedIn, the same email
    lists.lead("l3", "ann-name", mobile=ANN_MOBILE, board=True, linkedin=None, email=None)  # name only: its own
    for list_id in ("l1", "l2", "l3"):
        merge(conn, list_id)
    flags = shared_flags(conn, ANN_MOBILE)
    # The name-only lead cannot be told apart from a colleague: with it the mobile is shared; without it, not.
    assert flags == dict.fromkeys(("ann-crm", "ann-erp", "ann-mail", "ann-name"), True)
    conn.execute("DELETE FROM raw_leads WHERE record_id = 'ann-name'")
    merge(conn, "l3")
    assert shared_flags(conn, ANN_MOBILE) == dict.fromkeys(("ann-crm", "ann-erp", "ann-mail"), False)
    for record_id in ("ann-crm", "ann-erp", "ann-mail"):
        assert contact(conn, record_id)[:2] == (ANN_MOBILE, "mobile_found"), record_id


def test_a_record_taken_over_by_another_list_is_not_rescored_back(conn) -> None:
    lists = two_lists(conn)
    merge(conn, "l1")
    lists.lead("l2", "ann", linkedin="https://www.linkedin.com/in/ann-2", board=True)  # l2 reuses the id
    summary = merge(conn, "l2")
    assert conn.execute("SELECT list_id FROM contacts WHERE record_id = 'ann'").fetchall() == [("l2",)]
    assert "l1" not in summary.rescored
    assert not merge(conn, "l1").reused  # it lost a record: merged again when it runs


def test_forget_unshares_the_number_for_the_colleague_left(conn, tmp_path: Path) -> None:
    two_lists(conn)
    merge(conn, "l1")
    merge(conn, "l2")
    assert contact(conn, "ann")[:2] == (None, "not_found")
    with ResponseStore(tmp_path / "store.sqlite") as store:
        report = forget(conn, store, None, linkedin_url="https://www.linkedin.com/in/bob", provider_order=ORDER)
    assert report.record_ids == ["bob"] and report.rescored == {"l1": 1}
    assert conn.execute("SELECT count(*) FROM number_evidence WHERE record_id = 'bob'").fetchone() == (0,)
    assert shared_flags(conn, BOARD) == {"ann": False}
    assert contact(conn, "ann")[:2] == (BOARD, "phone_found")
    assert merge(conn, "l1").reused  # l1 held none of Bob's rows: its digest stays in force
    assert lists_without_evidence(conn) == []  # l2's evidence (minus Bob) is still there


def test_lists_merged_before_the_evidence_existed_are_found(conn) -> None:
    two_lists(conn)
    merge(conn, "l1")
    merge(conn, "l2")
    conn.execute("DELETE FROM number_evidence WHERE list_id = 'l1'")
    conn.execute("DELETE FROM step_state WHERE step = 'number_evidence' AND scope = 'l1'")  # as after an upgrade
    assert lists_without_evidence(conn) == ["l1"]
    merge_list(conn, "l1", ORDER, Suppression())
    assert lists_without_evidence(conn) == []
    assert shared_flags(conn, BOARD) == {"ann": True, "bob": True}


def test_person_keys_and_aliases() -> None:
    both = Lead("l", "1", email="ann@acme.io", linkedin_url="https://www.linkedin.com/in/ann")
    by_url = Lead("l", "2", linkedin_url="https://www.linkedin.com/in/ann")
    by_mail = Lead("l", "3", email="ann@acme.io")
    named = Lead("l", "4", first_name="Ann", fingerprint="f4")
    keys = [person_keys(lead) for lead in (both, by_url, by_mail, named)]
    assert keys[0][0] == keys[1][0] and keys[1][1] is None and keys[0][1] == keys[2][0]
    assert "ann" not in "".join(k for pair in keys for k in pair if k)  # stored hashed
    people = people_of(keys)
    assert people[keys[0][0]] == people[keys[2][0]] != people[keys[3][0]]
    assert person_keys(Lead("l", "5", fingerprint="f4"))[0] == keys[3][0]  # same fields, another record id
