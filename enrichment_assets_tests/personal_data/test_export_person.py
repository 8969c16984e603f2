"""The data subject's copy: `enrich export-person` writes everything held about one person and nothing of others,
and the audit trail records each export and erasure with counts only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from enrichment_assets.storage.response_store import ResponseStore, StoredResponse
from enrichment_assets.storage.subject_access import person_copy
from enrichment_assets.storage.warehouse import connect
from enrichment_assets.waterfall.suppression import Suppression
from enrichment_assets_tests.personal_data.helpers import KEY, copy_sample, isolated_env, query, run_ok


def test_a_record_id_reused_by_another_list_for_someone_else_brings_nothing_of_them(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    conn = connect(tmp_path / "db.duckdb")
    for list_id, email, fp, phone in (("a", "ann@acme.com", "fp-ann", "+14155550101"),
                                      ("b", "bob@other.io", "fp-bob", "+14155550199")):
        conn.execute("INSERT INTO raw_leads VALUES (?, 'R1', NULL, NULL, 'Acme', NULL, ?, NULL, 'US', ?, ?, 1)",
                     [list_id, email, f"lead-{list_id}", now])
        conn.execute(
            "INSERT INTO leadmagic_results (list_id, record_id, request_fingerprint, outcome, phones, called_at) "
            "VALUES (?, 'R1', ?, 'found', [?], ?)",
            [list_id, fp, phone, now],
        )
    # A batch request that asked for Ann and two others at once.
    conn.execute("INSERT INTO credit_ledger (entry_id, called_at, list_id, provider, credits, usd, record_ids, "
                 "request_fingerprints) VALUES ('e1', ?, 'a', 'crustdata', 7, 0, ['R1', 'R7', 'R8'], "
                 "['fp-ann', 'fp-r7', 'fp-r8'])", [now])
    with ResponseStore(tmp_path / "store.sqlite", ) as store:
        store.record_outcome([], [StoredResponse(fp, "leadmagic", "found", [(phone, "mobile")], {"mobile": phone}, 200,
                                                 5, None, now)
                                  for fp, phone in (("fp-ann", "+14155550101"), ("fp-bob", "+14155550199"))])
        copy = person_copy(conn, store, Suppression(emails={"ann@acme.com"}), email="ann@acme.com")
    conn.close()
    text = json.dumps(copy.document, default=str)
    assert "+14155550101" in text and "ann@acme.com" in text
    for other in ("bob@other.io", "+14155550199", "fp-bob", "R7", "R8", "fp-r7", "fp-r8", "lead-b"):
        assert other not in text, other
    assert (copy.records, copy.answers, copy.ledger_entries, copy.suppression_entries) == (1, 1, 1, 1)
    (entry,) = copy.document["leads"][0]["ledger_entries"]
    assert entry["batch_request"] and entry["request_fingerprints"] == ["fp-ann"]


@pytest.mark.e2e
def test_export_person_holds_each_of_their_numbers_and_nothing_of_anyone_else(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, ENRICHMENT_ENCRYPTION_KEY=KEY)  # the vendor answers come out decrypted
    run_ok(["run", str(copy_sample(tmp_path / "sample_leads.csv"))], env)
    # Someone Crustdata was asked about in a batch (their ledger entry names other leads too), with numbers.
    (record_id, email) = query(env, """
        SELECT r.record_id, r.email FROM raw_leads r JOIN crustdata_results c USING (list_id, record_id)
        WHERE r.email IS NOT NULL AND c.request_fingerprint IS NOT NULL
          AND r.record_id IN (SELECT record_id FROM contact_phones GROUP BY 1 HAVING count(*) >= 1)
        ORDER BY r.record_id LIMIT 1""")[0]
    theirs = {n for (n,) in query(env, "SELECT e164 FROM contact_phones WHERE record_id = ? AND e164 IS NOT NULL "
                                       "UNION SELECT raw FROM contact_phones WHERE record_id = ?",
                                  [record_id, record_id])}
    assert theirs
    out = tmp_path / "copy.json"
    result = run_ok(["export-person", "--email", email.upper(), "--out", str(out), "--requested-by", "dpo@acme.test"],
                    env)
    assert str(out) in result.stdout.replace("\n", "")
    text = out.read_text(encoding="utf-8")
    document = json.loads(text)
    assert [lead["record_id"] for lead in document["leads"]] == [record_id]
    assert all(n in text for n in theirs), theirs - {n for n in theirs if n in text}
    assert document["vendor_answers"] and all(a["provider"] for a in document["vendor_answers"])
    assert any(e["batch_request"] for e in document["leads"][0]["ledger_entries"])

    others = query(env, "SELECT record_id, email, linkedin_url FROM raw_leads WHERE record_id <> ?", [record_id])
    other_numbers = {
        n
        for (n,) in query(env, "SELECT e164 FROM contact_phones WHERE record_id <> ? AND e164 IS NOT NULL", [record_id])
    } - theirs
    leaked = [v for row in others for v in row if v and f'"{v}"' in text]
    leaked += [n for n in other_numbers if n in text]
    assert not leaked, leaked[:5]

    # The same person by record id: the same lead, the same numbers.
    by_id = tmp_path / "by_id.json"
    run_ok(["export-person", "--record-id", record_id, "--out", str(by_id)], env)
    assert json.loads(by_id.read_text(encoding="utf-8"))["leads"] == document["leads"]

    run_ok(["forget", "--email", email, "--requested-by", "dpo@acme.test"], env)
    audit = query(env, "SELECT kind, requested_by, identified_by, records_found, answers_found, rows_deleted "
                       "FROM personal_data_requests ORDER BY requested_at")
    assert [(a[0], a[1], a[2]) for a in audit] == [("export", "dpo@acme.test", "email"),
                                                   ("export", audit[1][1], "record_id"),
                                                   ("erasure", "dpo@acme.test", "email")]
    assert audit[1][1]  # the OS user when no --requested-by
    assert audit[0][3] == 1 and audit[0][4] == len(document["vendor_answers"]) and audit[2][5] > 0
    every_value = " ".join(str(v) for row in query(env, "SELECT * FROM personal_data_requests") for v in row)
    assert email not in every_value and record_id not in every_value
