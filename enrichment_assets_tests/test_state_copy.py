"""Carrying a SQLite state store over (``enrich copy-state``): every paid answer, kept answer, journal row and
reported cost arrives once, in the journal's order; copying again changes nothing; a key opens both; a store a
process is still writing is refused. The target is each backend (a real throw-away PostgreSQL among them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enrichment_assets.storage.ledger import ledger_table
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.storage.state_copy import LiveSource, copy_state
from enrichment_assets.storage.store_crypto import PLAIN, cipher_for
from enrichment_assets.vendors.base import ReceivedAnswer
from enrichment_assets_tests.personal_data.helpers import KEY
from enrichment_assets_tests.test_state_store import answer, finished, lease, sent

FOREVER = timedelta(days=10_000)


def fill(store: ResponseStore) -> None:
    """A journal of ten requests: answered, unknown, one kept unread, one batch, a vendor-reported cost."""
    for i in range(6):
        row = sent(f"a{i}", fps=[f"fp{i}"])
        store.record_sent(row)
        store.record_outcome([finished(row, "found", 5.0)], [answer(f"fp{i}", f"a{i}")])
    lost = sent("lost", fps=["fp-lost"])
    store.record_sent(lost)
    store.record_outcome([finished(lost, "unknown", None)], [])
    batch = sent("batch", fps=["fp-b1", "fp-b2"], provider="crustdata")
    store.record_sent(batch)
    store.record_outcome([finished(batch, "found", 6.0, "vendor_reported")],
                         [answer("fp-b1", "batch", provider="crustdata"),
                          answer("fp-b2", "batch", status="not_found", provider="crustdata")])
    unread = sent("unread", fps=["fp-unread"])
    store.record_sent(unread)
    done = replace(unread, finished_at=datetime.now(UTC), http_status=200)
    store.record_finished(done, ReceivedAnswer(request={"json": {"email": "x@example.com"}}, http_status=200,
                                               headers={"content-type": "application/json"}, content=b'{"odd": 1}'))
    open_row = sent("open", fps=["fp-open"], owner="gone-owner")  # its owner died: unknown in the ledger
    store.record_sent(open_row)


def snapshot(store) -> tuple:
    fps = [f"fp{i}" for i in range(6)] + ["fp-b1", "fp-b2"]
    return (store.attempts(), [store.fresh_response(fp, FOREVER) for fp in fps], store.kept_answers("fp-unread"),
            store.reported_cost("crustdata", "/x"), ledger_table(store, set()).to_pylist())


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "encrypted"])
def test_everything_paid_arrives_once_and_a_second_copy_changes_nothing(make_store, tmp_path: Path,
                                                                         keyed: bool) -> None:
    cipher = cipher_for(KEY) if keyed else PLAIN
    source = tmp_path / "source.sqlite"
    with ResponseStore(source, cipher) as store:
        fill(store)
        expected = snapshot(store)
    target = make_store("target")
    with target.open(cipher) as store:
        counts = copy_state(source, store)
        assert counts.copied == counts.source and counts.source["attempts"] == 10
        assert counts.source["responses"] == 8 and counts.source["kept_answers"] == 1
        assert snapshot(store) == expected
        again = copy_state(source, store)
        assert again.source == counts.source and set(again.copied.values()) == {0}
        assert snapshot(store) == expected


def test_answers_already_in_the_target_stay_and_only_the_missing_are_added(make_store, tmp_path: Path) -> None:
    source = tmp_path / "source.sqlite"
    with ResponseStore(source) as store:
        fill(store)
    newer = answer("fp0", "a-new", received_at=datetime.now(UTC) + timedelta(minutes=1))
    with make_store("target").open() as store:
        row = sent("a-new", fps=["fp0"], run_id="run-pg")
        store.record_sent(row)
        store.record_outcome([finished(row, "found", 5.0)], [newer])
        counts = copy_state(source, store)
        assert counts.copied["responses"] == 7  # fp0's answer in the target is newer: kept
        assert store.fresh_response("fp0", FOREVER).attempt_id == "a-new"
        assert store.attempts()[0].attempt_id == "a-new" and len(store.attempts()) == 11


def test_a_store_a_process_is_still_writing_is_refused(make_store, tmp_path: Path) -> None:
    source = tmp_path / "source.sqlite"
    with ResponseStore(source) as store:
        fill(store)
        store.acquire_lease(lease("still-running"))
    with make_store("target").open() as store:
        with pytest.raises(LiveSource, match="lease"):
            copy_state(source, store)
        assert store.attempts() == []
