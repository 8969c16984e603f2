"""The state store's interface, once per backend: SQLite (a file) and PostgreSQL (a real throw-away server).

Stored answers, the request journal and its settlement of ``unknown`` requests, leases, in-flight claims
(free, held, released, taken over from a dead owner), erasure, grouped writes, and what two processes
starting at once on one empty store do (migrate once, exactly one claim each fingerprint).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enrichment_assets.storage.response_store import AttemptRow, Lease, StoredResponse
from enrichment_assets.storage.state_store import StateStore, open_state_store
from enrichment_assets.vendors.base import ReceivedAnswer
from enrichment_assets_tests.conftest import REPO_ROOT


@pytest.fixture
def store(state_backend: tuple[Path, str | None]):
    with open_state_store(*state_backend) as s:
        yield s


def sent(attempt_id: str, run_id: str = "run1", fps: list[str] | None = None, owner: str | None = None,
         provider: str = "leadmagic") -> AttemptRow:
    return AttemptRow(attempt_id=attempt_id, run_id=run_id, list_id="l1", provider=provider, endpoint="/x",
                      request_fingerprints=fps or [f"fp-{attempt_id}"], record_ids=[f"r-{attempt_id}"],
                      sent_at=datetime.now(UTC), finished_at=None, http_status=None, outcome=None, credits=None,
                      credit_basis=None, usd=None, worst_case_credits=5.0, error=None, owner_id=owner)


def finished(row: AttemptRow, outcome: str | None, credits: float | None, basis: str | None = "price_rule"
             ) -> AttemptRow:
    return AttemptRow(**{**{f: getattr(row, f) for f in row.__dataclass_fields__},
                         "finished_at": datetime.now(UTC), "http_status": 200, "outcome": outcome,
                         "credits": credits, "credit_basis": basis, "usd": credits, "worst_case_credits": None})


def answer(fp: str, attempt_id: str, status: str = "found", received_at: datetime | None = None,
           provider: str = "leadmagic") -> StoredResponse:
    return StoredResponse(request_fingerprint=fp, provider=provider, status=status,
                          phones=[("+4915112345678", "mobile")] if status == "found" else [],
                          raw={"ok": True, "n": 1}, http_status=200, vendor_credits=5.0, matched=True,
                          received_at=received_at or datetime.now(UTC), attempt_id=attempt_id, parser_version=2)


def lease(owner: str, seconds: float = 60) -> Lease:
    """A lease that lives ``seconds`` from now (negative: already expired)."""
    return Lease(owner_id=owner, run_id=f"run-{owner}", pid=1, host="h",
                 expires_at=datetime.now(UTC) + timedelta(seconds=seconds))


def test_both_backends_implement_the_interface(store: StateStore) -> None:
    assert isinstance(store, StateStore)


def test_a_paid_answer_is_stored_and_read_back_while_fresh(store: StateStore) -> None:
    row = sent("a1")
    store.record_sent(row)
    store.record_outcome([finished(row, "found", 5.0, "vendor_reported")], [answer("fp-a1", "a1")])
    got = store.fresh_response("fp-a1", timedelta(days=30))
    assert got is not None
    assert (got.status, got.phones, got.raw, got.http_status, got.vendor_credits, got.matched, got.attempt_id,
            got.parser_version) == ("found", [("+4915112345678", "mobile")], {"ok": True, "n": 1}, 200, 5.0, True,
                                    "a1", 2)
    assert store.fresh_response("fp-a1", timedelta(days=30), now=datetime.now(UTC) + timedelta(days=31)) is None
    assert store.fresh_response("fp-other", timedelta(days=30)) is None
    assert store.reported_cost("leadmagic", "/x") == 5.0
    assert store.copy_response("fp-a1", "fp-new") is True
    assert store.copy_response("fp-a1", "fp-new") is False
    assert store.fresh_response("fp-new", timedelta(days=30)).received_at == got.received_at


def test_the_journal_keeps_order_outcomes_and_totals(store: StateStore) -> None:
    rows = [sent(f"a{i}", run_id="run1" if i % 2 else "run2") for i in range(5)]
    for row in rows:
        store.record_sent(row)
    store.record_outcome([finished(rows[0], "found", 5.0)], [answer("fp-a0", "a0")])
    store.record_finished(finished(rows[1], "unknown", 0.0, "unknown"))
    store.record_finished(finished(rows[2], "error", 0.0))
    assert [a.attempt_id for a in store.attempts()] == [f"a{i}" for i in range(5)]
    assert [a.attempt_id for a in store.attempts(run_id="run1")] == ["a1", "a3"]
    a1 = store.attempt("a1")
    assert (a1.outcome, a1.credits, a1.worst_case_credits, a1.record_ids) == ("unknown", 0.0, 5.0, ["r-a1"])
    batches = list(store.attempt_batches(2, run_ids=["run2"]))
    assert [[a.attempt_id for a in b] for b in batches] == [["a0", "a2"], ["a4"]]
    assert sum(len(b) for b in store.attempt_batches(2)) == 5
    totals = {(t.run_id, t.outcome): t for t in store.attempt_totals()}
    assert totals[("run2", "found")].credits == 5.0 and totals[("run2", "found")].attempts == 1
    assert totals[("run1", "unknown")].uncertain == 5.0  # worst case 5, nothing certain
    assert totals[("run1", None)].attempts == 1 and totals[("run1", None)].single_record_ids == 1


def test_a_later_answer_settles_an_unknown_request(store: StateStore) -> None:
    first = sent("u1", fps=["fp-q"])
    store.record_sent(first)
    store.record_finished(finished(first, "unknown", 0.0, "unknown"))
    second = sent("u2", fps=["fp-q"])
    store.record_sent(second)
    settled = store.record_outcome([finished(second, "found", 5.0)], [answer("fp-q", "u2")],
                                   settlement="asked_again", same_answer_ids=["u2"])
    assert settled.by == {"u1": "u2"}
    assert (store.attempt("u1").settled_by, store.attempt("u1").settlement) == ("u2", "asked_again")


def test_a_kept_answer_waits_to_be_read(store: StateStore) -> None:
    row = sent("k1", fps=["fp-k"])
    store.record_sent(row)
    body = ReceivedAnswer(request={"q": 1}, http_status=200, headers={"a": "b"}, content=b"\x00not json\xff")
    store.record_finished(finished(row, None, None, None), body)
    (kept,) = store.kept_answers("fp-k")
    assert (kept.attempt_id, kept.answer.content, kept.answer.request, kept.read_by_parser) == (
        "k1", b"\x00not json\xff", {"q": 1}, None)
    store.record_outcome([finished(row, "found", 5.0)], [answer("fp-k", "k1")], answers_read=[("k1", 3, None)],
                         read_later_ids=["k1"])
    assert store.kept_answers("fp-k") == []
    assert store.attempt("k1").settlement == "read_later"


def test_leases_live_renew_and_end(store: StateStore) -> None:
    store.acquire_lease(lease("o1"))
    store.acquire_lease(lease("o2", seconds=-1))  # already expired: a dead process
    assert store.live_owners() == {"o1"}
    assert store.renew_lease("o2", datetime.now(UTC) + timedelta(seconds=60)) is True
    assert store.live_owners() == {"o1", "o2"}
    store.release_lease("o1")
    assert store.renew_lease("o1", datetime.now(UTC) + timedelta(seconds=60)) is False
    assert store.live_owners() == {"o2"}
    assert [lease.owner_id for lease in store.leases()] == ["o1", "o2"]


def test_a_claim_is_held_by_one_live_owner_and_released_with_its_outcome(store: StateStore) -> None:
    store.acquire_lease(lease("o1"))
    store.acquire_lease(lease("o2"))
    assert store.claim_of("fp") is None
    assert store.claim("fp", "o1") is None
    assert store.claim("fp", "o1") is None  # its own claim, again
    held = store.claim("fp", "o2")
    assert held is not None and held.owner_id == "o1" and held.held and held.outcome is None
    store.release_claim("fp", "o2", "answered")  # not o2's to release
    assert store.claim_of("fp").held
    store.release_claim("fp", "o1", "unknown")
    released = store.claim_of("fp")
    assert released.same_as(held) and not released.held and released.outcome == "unknown"
    assert store.claim("fp", "o2") is None  # released: free to take
    assert store.claim_of("fp").owner_id == "o2"
    store.release_claim("fp", "o2", "answered")  # the answer is stored: nothing left to wait for
    assert store.claim_of("fp") is None
    with pytest.raises(ValueError, match="released as one of"):
        store.release_claim("fp", "o2", "maybe")


def test_the_claim_of_a_dead_owner_expires_with_its_lease(store: StateStore) -> None:
    store.acquire_lease(lease("dead", seconds=30))
    store.acquire_lease(lease("alive"))
    assert store.claim("fp", "dead") is None
    assert store.claim("fp", "alive") is not None
    later = datetime.now(UTC) + timedelta(seconds=31)  # the dead owner's lease lapsed: its heartbeat stopped
    assert not store.claim_of("fp", now=later).held
    assert store.claim("fp", "alive", now=later) is None
    assert store.claim_of("fp").owner_id == "alive"
    store.acquire_lease(lease("ended"))
    assert store.claim("fp2", "ended") is None
    store.release_lease("ended")  # a process that ended without releasing a claim (a bug): free too
    assert store.claim("fp2", "alive") is None


def test_writes_in_a_group_commit_together_and_a_failed_one_alone_is_undone(store: StateStore) -> None:
    store.acquire_lease(lease("o1"))
    with store.group():
        store.record_sent(sent("g1"))
        with pytest.raises(ValueError, match="released as one of"):
            store.release_claim("fp", "o1", "bad")  # fails before writing
        broken = StoredResponse("fp-g", "leadmagic", "found", [], None, 200, None, None, None)  # type: ignore[arg-type]
        with pytest.raises(Exception, match=r"(?i)not[ -]null"):  # each backend raises its own NOT NULL error
            store.record_outcome([], [broken])
        assert store.claim("fp-g", "o1") is None
    assert store.attempt("g1") is not None
    assert store.claim_of("fp-g").owner_id == "o1"
    assert store.fresh_response("fp-g", timedelta(days=1)) is None


def test_forget_deletes_answers_and_strips_identifiers(store: StateStore) -> None:
    row = sent("f1", fps=["fp-f", "fp-keep"])
    store.record_sent(row)
    store.record_outcome([finished(row, "found", 5.0)], [answer("fp-f", "f1"), answer("fp-keep", "f1")])
    removed, scrubbed = store.forget(["fp-f"], ["r-f1"])
    assert (removed, scrubbed) == (1, 1)
    assert store.fresh_response("fp-f", timedelta(days=1)) is None
    assert store.fresh_response("fp-keep", timedelta(days=1)) is not None
    kept = store.attempt("f1")
    assert (kept.request_fingerprints, kept.record_ids, kept.credits) == (["fp-keep"], [], 5.0)


def test_forget_deletes_the_claims_of_the_erased(store: StateStore) -> None:
    store.acquire_lease(lease("o1"))
    store.claim("fp-f", "o1")
    store.release_claim("fp-f", "o1", "unknown")
    store.forget(["fp-f"], [])
    assert store.claim_of("fp-f") is None


RACE = textwrap.dedent("""
    import json, sys, time
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from enrichment_assets.storage.response_store import Lease
    from enrichment_assets.storage.state_store import open_state_store
    path, url, owner, start = sys.argv[1], sys.argv[2] or None, sys.argv[3], float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    with open_state_store(Path(path), url) as store:  # the first open migrates an empty store
        store.acquire_lease(Lease(owner, None, 0, "h", datetime.now(UTC) + timedelta(seconds=60)))
        won = [fp for fp in (f"fp{i}" for i in range(20)) if store.claim(fp, owner) is None]
    print(json.dumps(won))
""")


def test_processes_starting_at_once_migrate_once_and_each_request_is_claimed_once(
        state_backend: tuple[Path, str | None]) -> None:
    path, url = state_backend
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(path), url or "", f"owner{i}", str(start)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    won = [json.loads(out) for out, _ in outputs]
    claimed = [fp for fps in won for fp in fps]
    assert sorted(claimed) == sorted(f"fp{i}" for i in range(20)), won  # every one once, by one process


def test_a_claim_on_a_row_locked_by_a_waiting_group_reports_it_held_instead_of_waiting(state_db_url: str) -> None:
    """PostgreSQL: a claim runs outside its process's group of writes, so it could wait on a group of another
    process that waits on ours, a cycle PostgreSQL cannot see. The claim gives up on the lock and reports the
    request held: the caller looks again later, after its own group has committed."""
    import psycopg

    with open_state_store(Path("unused.sqlite"), state_db_url) as store:
        store.acquire_lease(lease("o1"))
        store.acquire_lease(lease("o2"))
        assert store.claim("fp", "o1") is None
        with psycopg.connect(state_db_url) as other, other.transaction():
            other.execute("SELECT 1 FROM claims WHERE request_fingerprint = 'fp' FOR UPDATE")
            got = store.claim("fp", "o2")  # without a lock timeout: waits here for as long as `other` holds on
            assert got is not None and got.held
        assert store.claim_of("fp").owner_id == "o1"


@pytest.mark.parametrize(("url", "described"), [
    ("postgresql://alice:s3cr3t@db.internal:5433/enrichment_state", "postgresql://db.internal:5433/enrichment_state"),
    ("postgresql://alice:p%40ss%3Aword@db.internal/state?sslmode=require&password=also-secret",
     "postgresql://db.internal/state"),
    ("postgresql:///state", "postgresql://localhost/state"),
])
def test_a_state_url_is_described_without_user_or_password(url: str, described: str) -> None:
    from enrichment_assets.storage.state_postgres import describe_url

    assert describe_url(url) == described
    assert not any(secret in describe_url(url) for secret in ("alice", "s3cr3t", "p%40ss", "also-secret"))
