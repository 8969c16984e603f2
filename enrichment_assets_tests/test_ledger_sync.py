"""The incremental ledger sync gives the same ``credit_ledger`` as a full rebuild, and skips what did not change.

Fast: a response store in a temporary folder and an in-memory DuckDB, no network.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrichment_assets.storage import erasure
from enrichment_assets.storage.ledger import ledger_table, rebuild_ledger, sync_ledger
from enrichment_assets.storage.response_store import AttemptRow, ResponseStore
from enrichment_assets.storage.warehouse import connect, ensure_schema

T0 = datetime(2025, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------- helpers


def sent(attempt_id: str, run_id: str | None, record_ids: list[str], extra_fps: Sequence[str] = ()) -> AttemptRow:
    """An attempt as the engine journals it before sending: no outcome yet (see ``_StoreJournal.sent``)."""
    return AttemptRow(
        attempt_id=attempt_id, run_id=run_id, list_id="list-1", provider="leadmagic", endpoint="/mobile",
        request_fingerprints=[f"fp-{r}" for r in record_ids] + list(extra_fps), record_ids=sorted(set(record_ids)),
        sent_at=T0, finished_at=None, http_status=None, outcome=None,
        credits=None, credit_basis=None, usd=None, worst_case_credits=2.0, error=None)


def finish(store: ResponseStore, row: AttemptRow, outcome: str = "found", credits: float = 1.0,
           basis: str | None = "price_rule", http_status: int | None = 200, error: str | None = None) -> None:
    """Its answer, as the engine records it (``_attempt_row``: identifiers are not part of the update)."""
    store.record_outcome([dataclasses.replace(
        row, record_ids=[], finished_at=T0 + timedelta(minutes=1), http_status=http_status, outcome=outcome,
        credits=credits, credit_basis=basis, usd=credits * 0.01, error=error)], [])


def ledger_rows(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return conn.sql("SELECT * FROM credit_ledger ORDER BY entry_id").to_arrow_table().to_pylist()


def expected_rows(store: ResponseStore, active: set[str]) -> list[dict[str, Any]]:
    """What a full rebuild gives."""
    return ledger_table(store, active).sort_by("entry_id").to_pylist()


class JournalReads:
    """Counts the journal rows a sync turns into ledger rows (wraps ``store.attempt_batches``)."""

    def __init__(self, store: ResponseStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        original = store.attempt_batches

        def counting(*args: Any, **kwargs: Any) -> Iterator[list[AttemptRow]]:
            for batch in original(*args, **kwargs):
                self.rows += len(batch)
                yield batch

        monkeypatch.setattr(store, "attempt_batches", counting)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResponseStore]:
    with ResponseStore(tmp_path / "responses.sqlite") as s:
        yield s


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = connect(tmp_path / "warehouse.duckdb")
    yield c
    c.close()


# ---------------------------------------------------------------------------------------- scenarios


def test_sync_with_nothing_new_reads_no_journal_rows(store: ResponseStore, conn: duckdb.DuckDBPyConnection,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(30):
        row = sent(f"a{i:03d}", f"run-{i % 3}", [f"R{i}"])
        store.record_sent(row)
        finish(store, row, credits=0.5 * i)
    assert sync_ledger(conn, store) == 30
    reads = JournalReads(store, monkeypatch)

    assert sync_ledger(conn, store) == 30
    assert reads.rows == 0

    # One new request: only its run is read again.
    late = sent("a999", "run-1", ["R999"])
    store.record_sent(late)
    finish(store, late)
    assert sync_ledger(conn, store) == 31
    assert reads.rows == 11
    assert ledger_rows(conn) == expected_rows(store, set())


def test_a_run_active_then_dead_shows_its_unanswered_requests(store: ResponseStore,
                                                              conn: duckdb.DuckDBPyConnection) -> None:
    answered, pending = sent("a1", "run-a", ["R1"]), sent("a2", "run-a", ["R2"])
    for row in (answered, pending):
        store.record_sent(row)
    finish(store, answered)
    assert sync_ledger(conn, store, {"run-a"}) == 1  # still running: the open request is not unknown yet
    assert ledger_rows(conn) == expected_rows(store, {"run-a"})

    assert sync_ledger(conn, store, set()) == 2  # died: now it is
    assert ledger_rows(conn) == expected_rows(store, set())
    assert {r["entry_id"]: r["outcome"] for r in ledger_rows(conn)} == {"a1": "found", "a2": "unknown"}

    finish(store, pending, outcome="not_found", credits=0.0)  # a late answer still replaces the unknown
    sync_ledger(conn, store, set())
    assert ledger_rows(conn) == expected_rows(store, set())


def test_a_second_outcome_of_the_same_request_is_synced(store: ResponseStore,
                                                        conn: duckdb.DuckDBPyConnection) -> None:
    # Enrich Layer's 404: first journaled as a failed attempt, then settled as a paid "not found".
    row = sent("a1", "run-a", ["R1"])
    store.record_sent(row)
    finish(store, row, outcome="error", credits=0.0, http_status=404)
    sync_ledger(conn, store)
    finish(store, row, outcome="not_found", credits=0.0, http_status=404)
    sync_ledger(conn, store)
    assert [r["outcome"] for r in ledger_rows(conn)] == ["not_found"]
    assert ledger_rows(conn) == expected_rows(store, set())


def test_forget_then_sync_equals_a_rebuild(store: ResponseStore, conn: duckdb.DuckDBPyConnection) -> None:
    # A request naming two people: forgetting one leaves one record id, which a rebuild shows as record_id.
    both = sent("a1", "run-a", ["R1", "R2"])
    alone = sent("a2", "run-a", ["R1"])
    other = sent("a3", "run-b", ["R3"], extra_fps=["fp-R1"])  # names R1's fingerprint, not R1
    for row in (both, alone, other):
        store.record_sent(row)
        finish(store, row)
    sync_ledger(conn, store)
    report = erasure.forget(conn, store, None, record_id="R1")
    assert report.found

    sync_ledger(conn, store)
    assert ledger_rows(conn) == expected_rows(store, set())
    by_id = {r["entry_id"]: r for r in ledger_rows(conn)}
    assert by_id["a1"]["record_id"] == "R2" and by_id["a1"]["record_ids"] == ["R2"]
    assert by_id["a3"]["request_fingerprints"] == ["fp-R3"]


def test_forget_interrupted_after_the_journal_is_repaired(store: ResponseStore,
                                                          conn: duckdb.DuckDBPyConnection) -> None:
    row = sent("a1", "run-a", ["R1", "R2"])
    store.record_sent(row)
    finish(store, row)
    sync_ledger(conn, store)
    store.forget(["fp-R1"], ["R1"])  # the process died before the ledger was scrubbed
    sync_ledger(conn, store)
    assert ledger_rows(conn) == expected_rows(store, set())
    assert "R1" not in str(ledger_rows(conn))


def test_requests_without_a_run(store: ResponseStore, conn: duckdb.DuckDBPyConnection) -> None:
    for i, run_id in enumerate([None, None, "run-a"]):
        store.record_sent(sent(f"a{i}", run_id, [f"R{i}"]))
    sync_ledger(conn, store)
    assert ledger_rows(conn) == expected_rows(store, set())
    finish(store, sent("a0", None, ["R0"]))
    sync_ledger(conn, store)
    assert ledger_rows(conn) == expected_rows(store, set())
    assert conn.execute("SELECT count(*) FROM credit_ledger WHERE run_id IS NULL").fetchone()[0] == 2


def test_ledger_rows_not_in_the_journal_go(store: ResponseStore, conn: duckdb.DuckDBPyConnection) -> None:
    row = sent("a1", "run-a", ["R1"])
    store.record_sent(row)
    finish(store, row)
    sync_ledger(conn, store)
    conn.execute("INSERT INTO credit_ledger (entry_id, run_id, provider, outcome, credits, usd) "
                 "VALUES ('x1', 'run-elsewhere', 'pronto', 'found', 1, 0.1), ('x2', NULL, 'pronto', 'found', 1, 0)")
    conn.execute("DELETE FROM credit_ledger WHERE entry_id = 'a1'")
    assert sync_ledger(conn, store) == 1
    assert ledger_rows(conn) == expected_rows(store, set())


def test_sync_and_rebuild_agree_on_the_row_count(store: ResponseStore, conn: duckdb.DuckDBPyConnection) -> None:
    for i in range(25):
        row = sent(f"a{i:02d}", f"run-{i % 4}", [f"R{i}"])
        store.record_sent(row)
        if i % 5:
            finish(store, row)
    assert sync_ledger(conn, store, {"run-1"}) == rebuild_ledger(conn, store, {"run-1"}) == 20 + 4


# ---------------------------------------------------------------------------------------- a hand-computed ledger


def journal_row(attempt_id: str, run_id: str | None, provider: str, fps: list[str], record_ids: list[str],
                worst: float) -> AttemptRow:
    return AttemptRow(
        attempt_id=attempt_id, run_id=run_id, list_id="list-1", provider=provider, endpoint=f"/{provider}",
        request_fingerprints=fps, record_ids=record_ids, sent_at=T0, finished_at=None, http_status=None,
        outcome=None, credits=None, credit_basis=None, usd=None, worst_case_credits=worst, error=None)


def answer(store: ResponseStore, row: AttemptRow, http_status: int, outcome: str, credits: float, basis: str,
           usd: float, error: str | None = None) -> None:
    store.record_outcome([dataclasses.replace(
        row, record_ids=[], finished_at=T0 + timedelta(seconds=1), http_status=http_status, outcome=outcome,
        credits=credits, credit_basis=basis, usd=usd, error=error)], [])


LEDGER_COLUMNS = ("entry_id", "run_id", "record_id", "provider", "request_fingerprint", "http_status", "outcome",
                  "credits", "credit_basis", "usd", "worst_case_credits", "record_ids", "request_fingerprints",
                  "error")


def ledger_view(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM credit_ledger ORDER BY entry_id").fetchall()


def test_sync_gives_the_hand_computed_ledger(store: ResponseStore, conn: duckdb.DuckDBPyConnection) -> None:
    """A small journal whose ledger rows are written out by hand from the README's ledger contract.

    One row per request; a Crustdata batch has no single ``record_id`` / ``request_fingerprint`` but lists its
    leads; a request that never got an answer is ``unknown`` at 0 credits with its worst case once its run is
    dead, and absent while its run is still going; failed requests cost nothing.
    """
    lm = journal_row("a1", "run-a", "leadmagic", ["fp1"], ["R1"], 5.0)
    batch = journal_row("a2", "run-a", "crustdata", ["fp2", "fp3", "fp4"], ["R2", "R3", "R4"], 9.0)
    limited = journal_row("a3", "run-a", "pronto", ["fp5"], ["R5"], 12.0)
    lost = journal_row("a4", "run-b", "enrichlayer", ["fp6"], ["R6"], 3.0)
    open_ = journal_row("a5", "run-c", "lantern", ["fp7"], ["R7"], 1.0)
    no_run = journal_row("a6", None, "lantern", ["fp8"], ["R8"], 1.0)
    for row in (lm, batch, limited, lost, open_, no_run):
        store.record_sent(row)
    answer(store, lm, 200, "found", 5.0, "vendor_reported", 0.25)
    answer(store, batch, 200, "found", 6.0, "price_rule", 1.5)
    answer(store, limited, 429, "rate_limited", 0.0, "price_rule", 0.0, "429 Too Many Requests")
    answer(store, no_run, 200, "not_found", 0.0, "price_rule", 0.0)

    assert sync_ledger(conn, store, {"run-c"}) == 5
    assert ledger_view(conn) == [
        ("a1", "run-a", "R1", "leadmagic", "fp1", 200, "found", 5.0, "vendor_reported", 0.25, 5.0, ["R1"], ["fp1"],
         None),
        ("a2", "run-a", None, "crustdata", None, 200, "found", 6.0, "price_rule", 1.5, 9.0, ["R2", "R3", "R4"],
         ["fp2", "fp3", "fp4"], None),
        ("a3", "run-a", "R5", "pronto", "fp5", 429, "rate_limited", 0.0, "price_rule", 0.0, 12.0, ["R5"], ["fp5"],
         "429 Too Many Requests"),
        ("a4", "run-b", "R6", "enrichlayer", "fp6", None, "unknown", 0.0, "unknown", 0.0, 3.0, ["R6"], ["fp6"], None),
        ("a6", None, "R8", "lantern", "fp8", 200, "not_found", 0.0, "price_rule", 0.0, 1.0, ["R8"], ["fp8"], None),
    ]
    assert conn.execute("SELECT sum(credits), sum(usd) FROM credit_ledger").fetchone() == (11.0, 1.75)

    # Later: run-c ends with its answer, run-b's lost request is answered after all, run-a sends one more.
    answer(store, open_, 200, "found", 1.0, "price_rule", 0.125)
    answer(store, lost, 200, "found", 2.0, "price_rule", 0.5)
    extra = journal_row("a7", "run-a", "leadmagic", ["fp9"], ["R9"], 5.0)
    store.record_sent(extra)
    answer(store, extra, 200, "not_found", 0.0, "vendor_reported", 0.0)

    assert sync_ledger(conn, store, set()) == 7
    assert ledger_view(conn) == [
        ("a1", "run-a", "R1", "leadmagic", "fp1", 200, "found", 5.0, "vendor_reported", 0.25, 5.0, ["R1"], ["fp1"],
         None),
        ("a2", "run-a", None, "crustdata", None, 200, "found", 6.0, "price_rule", 1.5, 9.0, ["R2", "R3", "R4"],
         ["fp2", "fp3", "fp4"], None),
        ("a3", "run-a", "R5", "pronto", "fp5", 429, "rate_limited", 0.0, "price_rule", 0.0, 12.0, ["R5"], ["fp5"],
         "429 Too Many Requests"),
        ("a4", "run-b", "R6", "enrichlayer", "fp6", 200, "found", 2.0, "price_rule", 0.5, 3.0, ["R6"], ["fp6"], None),
        ("a5", "run-c", "R7", "lantern", "fp7", 200, "found", 1.0, "price_rule", 0.125, 1.0, ["R7"], ["fp7"], None),
        ("a6", None, "R8", "lantern", "fp8", 200, "not_found", 0.0, "price_rule", 0.0, 1.0, ["R8"], ["fp8"], None),
        ("a7", "run-a", "R9", "leadmagic", "fp9", 200, "not_found", 0.0, "vendor_reported", 0.0, 5.0, ["R9"],
         ["fp9"], None),
    ]
    assert conn.execute("SELECT provider, sum(credits), sum(usd) FROM credit_ledger GROUP BY 1 ORDER BY 1"
                        ).fetchall() == [("crustdata", 6.0, 1.5), ("enrichlayer", 2.0, 0.5), ("lantern", 1.0, 0.125),
                                         ("leadmagic", 5.0, 0.25), ("pronto", 0.0, 0.0)]


def test_a_changed_amount_alone_is_synced(store: ResponseStore, conn: duckdb.DuckDBPyConnection) -> None:
    """Same outcome, same basis, same status: only the credits (then only the USD) of an answer change."""
    row = journal_row("a1", "run-a", "lantern", ["fp1"], ["R1"], 1.0)
    store.record_sent(row)
    answer(store, row, 200, "found", 1.0, "price_rule", 0.5)
    sync_ledger(conn, store)
    answer(store, row, 200, "found", 2.0, "price_rule", 0.5)
    sync_ledger(conn, store)
    assert conn.execute("SELECT credits, usd FROM credit_ledger").fetchall() == [(2.0, 0.5)]
    answer(store, row, 200, "found", 2.0, "price_rule", 1.0)
    sync_ledger(conn, store)
    assert conn.execute("SELECT credits, usd FROM credit_ledger").fetchall() == [(2.0, 1.0)]


# ---------------------------------------------------------------------------------------- random histories

RUNS = ("run-a", "run-b", "run-c", None)
PEOPLE = ("R1", "R2", "R3", "R4")

operations = st.lists(st.one_of(
    st.tuples(st.just("send"), st.sampled_from(RUNS), st.lists(st.sampled_from(PEOPLE), max_size=3, unique=True),
              st.booleans()),
    st.tuples(st.just("finish"), st.integers(0, 50), st.sampled_from(["found", "not_found", "error", "rate_limited"]),
              st.sampled_from([0.0, 0.1, 1.0, 2.5, 1 / 3]), st.sampled_from(["price_rule", "vendor_reported", None]),
              st.sampled_from([200, 404, 429, None]), st.sampled_from([None, "timeout"])),
    st.tuples(st.just("active"), st.sets(st.sampled_from(RUNS[:3]))),
    st.tuples(st.just("sync")),
    st.tuples(st.just("forget"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("forget_journal_only"), st.sampled_from(PEOPLE)),
), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_incremental_sync_equals_a_full_rebuild(ops: list[tuple]) -> None:
    """Any history of sends, answers (also a second one), liveness changes, syncs and erasures."""
    with tempfile.TemporaryDirectory() as tmp, ResponseStore(Path(tmp) / "responses.sqlite") as store, \
            duckdb.connect() as conn:
        ensure_schema(conn)
        journal: list[AttemptRow] = []
        active: set[str] = set()
        for op in ops:
            match op:
                case ("send", run_id, people, extra):
                    row = sent(f"a{len(journal):03d}", run_id, list(people), [f"fp-x{len(journal)}"] if extra else [])
                    store.record_sent(row)
                    journal.append(row)
                case ("finish", k, outcome, credits, basis, http_status, error) if journal:
                    finish(store, journal[k % len(journal)], outcome, credits, basis, http_status, error)
                case ("active", runs):
                    active = set(runs)
                case ("sync",):
                    sync_ledger(conn, store, active)
                    assert ledger_rows(conn) == expected_rows(store, active)
                case ("forget", person):
                    erasure.forget(conn, store, None, record_id=person)
                case ("forget_journal_only", person):
                    store.forget([f"fp-{person}"], [person])
        count = sync_ledger(conn, store, active)
        assert ledger_rows(conn) == expected_rows(store, active)
        assert count == len(expected_rows(store, active))
