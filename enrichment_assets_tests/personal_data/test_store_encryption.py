"""Encryption at rest of the response store: the personal fields sealed, lookups keyed, a wrong key refused.

The unit tests run on both backends: they write answers through the real store (a SQLite file, a database on a
real throw-away PostgreSQL server) and read what it holds at rest (the file's bytes; every row the server
holds); the end-to-end tests run the sample list through the real `enrich` command, with and without
``ENRICHMENT_ENCRYPTION_KEY``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enrichment_assets.storage.response_store import AttemptRow, ResponseStore, StoredResponse
from enrichment_assets.storage.state_store import StateStore
from enrichment_assets.storage.store_crypto import (
    PLAIN,
    AesGcmCipher,
    StoreKeyError,
    cipher_for,
)
from enrichment_assets.vendors.base import ReceivedAnswer
from enrichment_assets_tests.personal_data.helpers import (
    KEY,
    OTHER_KEY,
    copy_sample,
    digests,
    enrich,
    isolated_env,
    query,
    run_ok,
    store_path,
)

PHONE, EMAIL = "+33612345678", "jeanne.martin@example.fr"


def _answer(fp: str, phone: str = PHONE, email: str = EMAIL, *, age_days: float = 0) -> StoredResponse:
    return StoredResponse(request_fingerprint=fp, provider="leadmagic", status="found", phones=[(phone, "mobile")],
                          raw={"mobile_number": phone, "email": email}, http_status=200, vendor_credits=5.0,
                          matched=None, received_at=datetime.now(UTC) - timedelta(days=age_days))


def _file_bytes(path: Path) -> bytes:
    """The store's database file and its WAL, as they are on disk now."""
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def test_cipher_round_trip_and_keyed_lookups() -> None:
    cipher, other = AesGcmCipher(KEY), AesGcmCipher(OTHER_KEY)
    sealed = cipher.seal('[["+33612345678", "mobile"]]', "phones")
    assert sealed is not None and "33612345678" not in sealed
    assert cipher.open(sealed, "phones") == '[["+33612345678", "mobile"]]'
    assert cipher.seal("x", "phones") != cipher.seal("x", "phones")  # a fresh nonce each time
    with pytest.raises(StoreKeyError):
        other.open(sealed, "phones")
    with pytest.raises(StoreKeyError):  # bound to its column: a body cannot be passed off as numbers
        cipher.open(cipher.seal("x", "raw"), "phones")
    assert cipher.lookup_key("fp") == AesGcmCipher(KEY).lookup_key("fp") != other.lookup_key("fp") != "fp"
    with pytest.raises(StoreKeyError):
        PLAIN.open(sealed, "phones")
    with pytest.raises(StoreKeyError, match="at least 32"):
        cipher_for("short")


def test_encrypted_store_holds_no_number_or_email_but_answers_lookups(make_store) -> None:
    at = make_store()
    store = at.open(cipher_for(KEY))
    try:
        store.record_outcome([], [_answer("fp-1")])
        # Open, with the answer just written (SQLite: in the WAL): nothing at rest holds the number, the email or
        # the fingerprint.
        data = at.at_rest()
        if at.backend == "sqlite":
            assert at.path.with_name(at.path.name + "-wal").exists()
        for needle in (PHONE, PHONE.lstrip("+"), EMAIL, "fp-1"):
            assert needle.encode() not in data, needle
        got = store.fresh_response("fp-1", timedelta(days=1))
        assert got is not None and got.phones == [(PHONE, "mobile")] and got.raw["email"] == EMAIL
        assert store.fresh_response("fp-2", timedelta(days=1)) is None
    finally:
        store.close()
    data = at.at_rest()
    for needle in (PHONE, PHONE.lstrip("+"), EMAIL, "fp-1"):
        assert needle.encode() not in data, needle
    # The same store without the key keeps them in clear: the check above can see them when they are there.
    plain = make_store("plain")
    with plain.open() as store:
        store.record_outcome([], [_answer("fp-1")])
    assert PHONE.encode() in plain.at_rest() and EMAIL.encode() in plain.at_rest()


@pytest.mark.parametrize("cipher", [PLAIN, cipher_for(OTHER_KEY)], ids=["no key", "wrong key"])
def test_wrong_or_missing_key_is_refused_before_anything_is_written(make_store, cipher) -> None:
    at = make_store()
    with at.open(cipher_for(KEY)) as store:
        store.record_outcome([], [_answer("fp-1")])
    before = at.snapshot()
    with pytest.raises(StoreKeyError, match="ENRICHMENT_ENCRYPTION_KEY"):
        at.verify(cipher)
    with pytest.raises(StoreKeyError, match="ENRICHMENT_ENCRYPTION_KEY"):
        at.open(cipher)
    assert at.snapshot() == before


def test_a_key_on_a_store_holding_clear_answers_is_refused(make_store) -> None:
    at = make_store()
    with at.open() as store:
        store.record_outcome([], [_answer("fp-1")])
    before = at.snapshot()
    with pytest.raises(StoreKeyError, match="rotate-key"):
        at.open(cipher_for(KEY))
    assert at.snapshot() == before


def test_rekey_encrypts_rotates_and_decrypts(make_store) -> None:
    at = make_store()
    answers = [_answer(f"fp-{i}", f"+336123456{i:02d}", f"p{i}@example.fr") for i in range(20)]
    with at.open() as store:
        store.record_outcome([], answers)
        assert store.rekey(cipher_for(KEY)) == 20
    assert b"+33612345600" not in at.at_rest()
    with at.open(cipher_for(KEY)) as store:
        assert store.rekey(cipher_for(OTHER_KEY)) == 20
    with pytest.raises(StoreKeyError):
        at.open(cipher_for(KEY))
    with at.open(cipher_for(OTHER_KEY)) as store:
        for a in answers:
            got = store.fresh_response(a.request_fingerprint, timedelta(days=1))
            assert got is not None and got.phones == a.phones and got.raw == a.raw
        store.rekey(PLAIN)
    with at.open() as store:
        assert store.fresh_response("fp-7", timedelta(days=1)).phones == answers[7].phones
    assert b"+33612345607" in at.at_rest()


def test_expire_deletes_exactly_the_older_answers_and_strips_old_journal_rows(make_store) -> None:
    now = datetime.now(UTC)
    with make_store().open(cipher_for(KEY)) as store:
        store.record_outcome([], [_answer("old", age_days=400), _answer("edge", age_days=364.9),
                                  _answer("new", age_days=1)])
        for attempt_id, age, list_id in (("a-old", 400, "kept"), ("a-new", 1, "kept"), ("a-dropped", 1, "gone")):
            store.record_sent(AttemptRow(attempt_id=attempt_id, run_id="r", list_id=list_id, provider="leadmagic",
                                         endpoint="/x", request_fingerprints=[attempt_id], record_ids=["R1"],
                                         sent_at=now - timedelta(days=age), finished_at=None, http_status=None,
                                         outcome=None, credits=3.0, credit_basis=None, usd=None,
                                         worst_case_credits=5.0, error=None))
        expired = store.expire(now - timedelta(days=365), ["gone"])
        assert (expired.answers, expired.kept_answers, expired.journal_rows) == (1, 0, 2)
        forever = timedelta(days=10_000)
        assert store.fresh_response("old", forever) is None
        assert store.fresh_response("edge", forever) is not None and store.fresh_response("new", forever) is not None
        rows = {a.attempt_id: a for a in store.attempts()}
    assert rows["a-old"].record_ids == [] and rows["a-old"].request_fingerprints == []
    assert rows["a-dropped"].record_ids == [] and rows["a-new"].record_ids == ["R1"]
    assert {a.worst_case_credits for a in rows.values()} == {5.0}


# --------------------------------------------------------------------------- kept answers, copies, settlement

def _sent(attempt_id: str, fps: list[str], *, age_days: float = 0, list_id: str = "l1") -> AttemptRow:
    return AttemptRow(attempt_id=attempt_id, run_id="r", list_id=list_id, provider="leadmagic", endpoint="/x",
                      request_fingerprints=fps, record_ids=["R1"],
                      sent_at=datetime.now(UTC) - timedelta(days=age_days), finished_at=None, http_status=None,
                      outcome=None, credits=None, credit_basis=None, usd=None, worst_case_credits=5.0, error=None)


def _received(phone: str = PHONE, email: str = EMAIL) -> ReceivedAnswer:
    """A paid 2xx body as it arrived: the number and the email in the body, the email in what was asked."""
    return ReceivedAnswer(request={"json": {"email": email}}, http_status=200,
                          headers={"content-type": "application/json", "x-echo-email": email},
                          content=json.dumps({"mobile_number": phone, "email": email}).encode())


def _keep(store: StateStore, attempt_id: str, fp: str, *, age_days: float = 0, list_id: str = "l1",
          answer: ReceivedAnswer | None = None) -> ReceivedAnswer:
    """Journal an attempt and keep its answer unread, as the client does before it parses the body."""
    row = _sent(attempt_id, [fp], age_days=age_days, list_id=list_id)
    store.record_sent(row)
    row.finished_at, row.http_status = row.sent_at, 200
    answer = answer or _received()
    store.record_finished(row, answer)
    return answer


def test_kept_answers_are_sealed_and_read_back(make_store) -> None:
    at = make_store()
    store = at.open(cipher_for(KEY))
    try:
        answer = _keep(store, "a-1", "fp-1")
        data = at.at_rest()  # SQLite: the WAL holds the kept answer now
        for needle in (PHONE, PHONE.lstrip("+"), EMAIL):
            assert needle.encode() not in data, needle
        (kept,) = store.kept_answers("fp-1")
        assert kept.answer == answer and kept.attempt_id == "a-1"
    finally:
        store.close()
    for needle in (PHONE, PHONE.lstrip("+"), EMAIL):
        assert needle.encode() not in at.at_rest(), needle
    plain = make_store("plain")  # the check can see them when they are there
    with plain.open() as store:
        _keep(store, "a-1", "fp-1")
    assert PHONE.encode() in plain.at_rest() and EMAIL.encode() in plain.at_rest()


def test_a_key_on_a_store_holding_only_clear_kept_answers_is_refused(make_store) -> None:
    at = make_store()
    with at.open() as store:
        _keep(store, "a-1", "fp-1")
        assert store.fresh_response("fp-1", timedelta(days=1)) is None  # nothing read into responses
    before = at.snapshot()
    with pytest.raises(StoreKeyError, match="rotate-key"):
        at.verify(cipher_for(KEY))
    with pytest.raises(StoreKeyError, match="rotate-key"):
        at.open(cipher_for(KEY))
    assert at.snapshot() == before


def test_a_copied_answer_is_keyed_and_survives_rotation(make_store) -> None:
    at = make_store()
    with at.open(cipher_for(KEY)) as store:
        store.record_outcome([], [_answer("fp-old-normalization")])
        assert store.copy_response("fp-old-normalization", "fp-new-normalization")
        assert not store.copy_response("fp-old-normalization", "fp-new-normalization")  # there already
        assert not store.copy_response("fp-unknown", "fp-other")
        got = store.fresh_response("fp-new-normalization", timedelta(days=1))
        assert got is not None and got.phones == [(PHONE, "mobile")]
        assert b"fp-new-normalization" not in at.at_rest()
        assert store.rekey(cipher_for(OTHER_KEY)) == 2
    with at.open(cipher_for(OTHER_KEY)) as store:
        for fp in ("fp-old-normalization", "fp-new-normalization"):
            got = store.fresh_response(fp, timedelta(days=1))
            assert got is not None and got.raw["email"] == EMAIL, fp


def test_an_unknown_attempt_is_settled_by_a_later_answer_in_an_encrypted_store(make_store) -> None:
    with make_store().open(cipher_for(KEY)) as store:
        lost = _sent("a-lost", ["fp-1", "fp-2"], age_days=0.01)
        store.record_sent(lost)
        lost.finished_at, lost.outcome = lost.sent_at, "unknown"
        store.record_outcome([lost], [])
        first = store.record_outcome([], [replace(_answer("fp-1"), attempt_id="a-next")], settlement="asked_again")
        assert first.by == {}  # a batch is settled once every one of its questions is answered again
        second = store.record_outcome([], [replace(_answer("fp-2"), attempt_id="a-last")], settlement="asked_again")
        assert second.by == {"a-lost": "a-last"}
        (row,) = store.attempts()
    assert (row.settled_by, row.settlement) == ("a-last", "asked_again")


def test_expire_deletes_old_kept_answers_and_the_question_index_of_stripped_attempts(make_store) -> None:
    now = datetime.now(UTC)
    at = make_store()
    with at.open(cipher_for(KEY)) as store:
        _keep(store, "a-old", "fp-old", age_days=400, answer=_received("+33611111111", "old@example.fr"))
        _keep(store, "a-new", "fp-new", age_days=1)
        _keep(store, "a-dropped", "fp-dropped", age_days=1, list_id="gone")
        expired = store.expire(now - timedelta(days=365), ["gone"])
        assert (expired.answers, expired.kept_answers, expired.journal_rows) == (0, 2, 2)
        assert store.kept_answers("fp-old") == [] and store.kept_answers("fp-dropped") == []
        assert [k.attempt_id for k in store.kept_answers("fp-new")] == ["a-new"]
    assert at.query("SELECT attempt_id FROM kept_answers") == [("a-new",)]
    assert at.query("SELECT request_fingerprint, attempt_id FROM attempt_fingerprints") == [("fp-new", "a-new")]


def test_rekey_re_encrypts_kept_answers(make_store) -> None:
    at = make_store()
    with at.open() as store:
        answer = _keep(store, "a-1", "fp-1")
        store.rekey(cipher_for(KEY))
    assert PHONE.encode() not in at.at_rest() and EMAIL.encode() not in at.at_rest()
    with at.open(cipher_for(KEY)) as store:
        assert store.kept_answers("fp-1")[0].answer == answer
        store.rekey(cipher_for(OTHER_KEY))
    with at.open(cipher_for(OTHER_KEY)) as store:
        assert store.kept_answers("fp-1")[0].answer == answer
        store.rekey(PLAIN)
    with at.open() as store:
        assert store.kept_answers("fp-1")[0].answer == answer
    assert PHONE.encode() in at.at_rest()


def test_a_store_from_before_encryption_gains_the_sealed_fingerprint_column(tmp_path: Path) -> None:
    """SQLite only: a PostgreSQL state store was created with the column."""
    path = tmp_path / "store.sqlite"
    with ResponseStore(path) as store:
        store.record_outcome([], [_answer("fp-1")])
    conn = sqlite3.connect(str(path))
    conn.execute("ALTER TABLE responses DROP COLUMN fingerprint_sealed")
    conn.close()
    with ResponseStore(path) as store:
        assert store.rekey(cipher_for(KEY)) == 1
    with ResponseStore(path, cipher_for(KEY)) as store:
        assert store.fresh_response("fp-1", timedelta(days=1)).phones == [(PHONE, "mobile")]


# --------------------------------------------------------------------------- end to end, the real CLI

def _results(env: dict[str, str]) -> dict[str, list[tuple]]:
    """What a run produced, without what differs between two runs anyway (run ids, times)."""
    providers = ("leadmagic", "pronto", "enrichlayer", "lantern", "crustdata")
    out = {p: query(env, f"SELECT record_id, request_fingerprint, outcome, phones, claimed_types, credits, from_cache "
                         f"FROM {p}_results ORDER BY ALL") for p in providers}
    out["contacts"] = query(env, "SELECT record_id, best_phone, best_phone_type, best_phone_score, best_phone_sources, "
                                 "phone_count, status FROM contacts ORDER BY ALL")
    out["contact_phones"] = query(env, "SELECT record_id, e164, number_type, sources, shared_with_others, score, "
                                       "is_personal_mobile FROM contact_phones ORDER BY ALL")
    # Per provider, not per outcome row: Crustdata's ledger has one row per batch, and how the sample's leads fall
    # into batches depends on timing (a batch of only misses is a `not_found` row). Each lead's outcome and credits
    # are compared above, in the results tables.
    out["ledger"] = query(env, "SELECT provider, sum(credits) FROM credit_ledger GROUP BY ALL ORDER BY ALL")
    return out


@pytest.mark.e2e
@pytest.mark.timeout(900)  # four real `enrich run`s, about a minute each on a loaded machine
def test_sample_run_encrypted_equals_plain_and_its_store_holds_no_number_or_email(tmp_path: Path) -> None:
    plain_env = isolated_env(tmp_path / "plain")
    keyed_env = isolated_env(tmp_path / "keyed", ENRICHMENT_ENCRYPTION_KEY=KEY)
    for env in (plain_env, keyed_env):
        run_ok(["run", str(copy_sample(Path(env["ENRICHMENT_INBOX"]).parent / "sample_leads.csv"))], env)
    assert _results(keyed_env) == _results(plain_env)

    numbers = {n for (n,) in query(keyed_env, "SELECT DISTINCT unnest(phones) FROM leadmagic_results UNION "
                                              "SELECT DISTINCT unnest(phones) FROM pronto_results UNION "
                                              "SELECT DISTINCT unnest(phones) FROM enrichlayer_results UNION "
                                              "SELECT DISTINCT unnest(phones) FROM lantern_results UNION "
                                              "SELECT DISTINCT unnest(phones) FROM crustdata_results")}
    numbers |= {n for (n,) in query(keyed_env, "SELECT DISTINCT e164 FROM contact_phones WHERE e164 IS NOT NULL")}
    emails = {e for (e,) in query(keyed_env, "SELECT DISTINCT email FROM raw_leads WHERE email IS NOT NULL")}
    assert len(numbers) > 100 and len(emails) > 100
    keyed, plain = _file_bytes(store_path(keyed_env)), _file_bytes(store_path(plain_env))
    assert not [n for n in numbers if n.encode() in keyed]
    assert not [e for e in emails if e.encode() in keyed]
    # The unencrypted store does hold them: the search finds what is there.
    assert [n for n in numbers if n.encode() in plain]
    # Both stores keep every paid answer as it arrived too: the search above covered those bodies.
    # Per provider, one per request; Crustdata's batches depend on timing (how many leads joined each), so
    # only that it kept some.
    kept_counts = []
    for env in (keyed_env, plain_env):
        with sqlite3.connect(store_path(env)) as conn:
            kept_counts.append(dict(conn.execute("SELECT provider, count(*) FROM kept_answers GROUP BY provider")))
    assert kept_counts[0].pop("crustdata") > 0 and kept_counts[1].pop("crustdata") > 0
    assert kept_counts[0] == kept_counts[1] and len(kept_counts[0]) == 4 and all(kept_counts[0].values())
    with sqlite3.connect(store_path(keyed_env)) as conn:
        stored = {r[0] for r in conn.execute("SELECT request_fingerprint FROM responses")}
    fingerprints = {fp for (fp,) in query(keyed_env, "SELECT request_fingerprint FROM leadmagic_results "
                                                     "WHERE request_fingerprint IS NOT NULL")}
    assert fingerprints and not (stored & fingerprints)  # looked up by keyed hashes only

    # A wrong key, or none: one clear line, exit 2, every file as it was.
    before = digests(tmp_path / "keyed")
    for env in ({**keyed_env, "ENRICHMENT_ENCRYPTION_KEY": OTHER_KEY}, {**keyed_env, "ENRICHMENT_ENCRYPTION_KEY": ""}):
        result = enrich(["run", str(Path(keyed_env["ENRICHMENT_INBOX"]).parent / "sample_leads.csv")], env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "ENRICHMENT_ENCRYPTION_KEY" in result.stderr
        assert digests(tmp_path / "keyed") == before

    # Rotation: the old key is refused afterwards, the new one answers every lookup from the store (no vendor call).
    rotated = run_ok(["rotate-key"], {**keyed_env, "ENRICHMENT_NEW_ENCRYPTION_KEY": OTHER_KEY})
    assert "Re-encrypted" in rotated.stdout
    assert enrich(["estimate", str(copy_sample(tmp_path / "again.csv"))], keyed_env).returncode == 2
    new_env = {**keyed_env, "ENRICHMENT_ENCRYPTION_KEY": OTHER_KEY}
    ledger_rows = query(new_env, "SELECT count(*) FROM credit_ledger")[0][0]
    run_ok(["run", str(copy_sample(tmp_path / "again.csv")), "--list", "sample_leads_again"], new_env)
    assert query(new_env, "SELECT count(*) FROM credit_ledger")[0][0] == ledger_rows


@pytest.mark.e2e
@pytest.mark.timeout(900)  # three real `enrich` commands on a loaded machine
def test_sample_run_on_postgres_keeps_no_number_or_email_in_its_rows_and_rotates(state_db_url: str,
                                                                                  tmp_path: Path) -> None:
    """Issue 17 on the PostgreSQL backend: the encrypted state store's rows (every column, as the server returns
    them) hold none of the sample list's numbers or emails; a wrong key exits 2 and writes nothing; rotate-key
    re-encrypts the rows, after which the new key answers the list from the store."""
    from enrichment_assets_tests.support.state_backends import StoreUnderTest

    env = isolated_env(tmp_path / "keyed", ENRICHMENT_ENCRYPTION_KEY=KEY, ENRICHMENT_STATE_URL=state_db_url)
    run_ok(["run", str(copy_sample(Path(env["ENRICHMENT_INBOX"]).parent / "sample_leads.csv"))], env)
    at = StoreUnderTest("postgres", store_path(env), state_db_url)
    assert not store_path(env).exists()  # nothing went to the SQLite file
    numbers = {n for (n,) in query(env, "SELECT DISTINCT e164 FROM contact_phones WHERE e164 IS NOT NULL")}
    emails = {e for (e,) in query(env, "SELECT DISTINCT email FROM raw_leads WHERE email IS NOT NULL")}
    assert len(numbers) > 100 and len(emails) > 100
    assert at.query("SELECT count(*) FROM kept_answers")[0][0] > 0 and at.query("SELECT count(*) FROM responses")[0][0]
    rows = at.at_rest()
    assert not [n for n in numbers if n.encode() in rows or n.lstrip("+").encode() in rows]
    assert not [e for e in emails if e.encode() in rows]

    before = at.snapshot()
    wrong = enrich(["run", str(Path(env["ENRICHMENT_INBOX"]).parent / "sample_leads.csv")],
                   {**env, "ENRICHMENT_ENCRYPTION_KEY": OTHER_KEY})
    assert wrong.returncode == 2 and "ENRICHMENT_ENCRYPTION_KEY" in wrong.stderr, wrong.stdout + wrong.stderr
    assert at.snapshot() == before

    rotated = run_ok(["rotate-key"], {**env, "ENRICHMENT_NEW_ENCRYPTION_KEY": OTHER_KEY})
    assert "Re-encrypted" in rotated.stdout
    new_env = {**env, "ENRICHMENT_ENCRYPTION_KEY": OTHER_KEY}
    ledger_rows = query(new_env, "SELECT count(*) FROM credit_ledger")[0][0]
    run_ok(["run", str(copy_sample(tmp_path / "again.csv")), "--list", "sample_leads_again"], new_env)
    assert query(new_env, "SELECT count(*) FROM credit_ledger")[0][0] == ledger_rows  # nothing bought again
