"""Retention with an injected clock: exactly what is older goes, the money stays, a rerun re-walks only what went.

Two lists are enriched through the real CLI, then one of them is loaded again with new leads: its first leads'
answers are older than the moment in between, its new leads' answers younger. ``apply_retention`` is called with
``now`` = that moment + ``retention_days``, so the cutoff falls exactly between the two loads.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from enrichment_assets.settings import PROVIDERS
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets.storage.retention import apply_retention
from enrichment_assets.storage.warehouse import connect
from enrichment_assets_tests.conftest import REPO_ROOT
from enrichment_assets_tests.personal_data.helpers import (
    isolated_env,
    query,
    run_ok,
    sample_rows,
    store_path,
    write_rows,
)

RETENTION_DAYS = 365


def _config(path: Path) -> Path:
    data = yaml.safe_load((REPO_ROOT / "enrichment.yaml").read_text(encoding="utf-8"))
    data["cache_ttl_days"] = 100_000  # only retention can make an answer go: a rerun re-walks nothing else
    data["retention_days"] = RETENTION_DAYS
    data.setdefault("providers", {}).setdefault("crustdata", {})["enabled"] = False  # its 15/minute window
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _result_rows(env: dict[str, str], list_id: str) -> set[tuple]:
    return {(p, *r) for p in PROVIDERS for r in query(
        env, f"SELECT record_id, request_fingerprint, outcome, called_at, run_id FROM {p}_results WHERE list_id = ?",
        [list_id])}


def _stored(env: dict[str, str]) -> dict[str, str]:
    with sqlite3.connect(store_path(env)) as conn:
        return dict(conn.execute("SELECT request_fingerprint, received_at FROM responses").fetchall())


def _ledger_totals(env: dict[str, str]) -> list[tuple]:
    return query(env, "SELECT provider, count(*), sum(credits), sum(usd), min(called_at), max(called_at) "
                      "FROM credit_ledger GROUP BY provider ORDER BY provider")


@pytest.mark.e2e
@pytest.mark.timeout(900)  # four real `enrich run`s, about a minute each on a loaded machine
def test_retention_deletes_exactly_the_older_and_a_rerun_rewalks_only_those_leads(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, ENRICHMENT_CONFIG=str(_config(tmp_path / "enrichment.yaml")))
    header, rows = sample_rows(1, 200)
    kept_file = tmp_path / "kept.csv"
    run_ok(["run", str(write_rows(kept_file, header, rows[:100]))], env)
    run_ok(["run", str(write_rows(tmp_path / "old.csv", header, rows[100:140]))], env)
    time.sleep(1.0)
    moment = datetime.now(UTC)
    time.sleep(1.0)
    # The kept list is loaded again with 60 more leads: its first 100 keep their (older) walk and answers.
    run_ok(["run", str(write_rows(kept_file, header, rows[:100] + rows[140:200]))], env)
    assert (tmp_path / "out" / "old.enriched.csv").exists()

    before_rows = _result_rows(env, "kept")
    before_store = _stored(env)
    with sqlite3.connect(store_path(env)) as sconn:
        kept_before = dict(sconn.execute("SELECT attempt_id, received_at FROM kept_answers").fetchall())
    before_ledger = _ledger_totals(env)
    cutoff = moment
    older = {r for r in before_rows if r[4] is not None and r[4] < cutoff}
    newer = before_rows - older
    expired_leads = {r[1] for r in older}
    assert 50 <= len(expired_leads) <= 100 and newer  # the first load's leads that reached a vendor
    assert {r[1] for r in newer if r[4] is not None} & expired_leads == set()

    conn = connect(Path(env["ENRICHMENT_DB"]))
    try:
        with ResponseStore(store_path(env)) as store:
            report = apply_retention(conn, store, retention_days=RETENTION_DAYS,
                                     now=moment + timedelta(days=RETENTION_DAYS),
                                     marts_dir=tmp_path / "marts", out_dir=tmp_path / "out")
    finally:
        conn.close()

    # The old list, not loaded since the cutoff, is gone from every table and its enriched file with it.
    assert report.lists_dropped == 1
    for table in ("raw_leads", "rejected_leads", "contacts", "contact_phones", "waterfall_walks",
                  *(f"{p}_results" for p in PROVIDERS)):
        assert query(env, f"SELECT count(*) FROM {table} WHERE list_id = 'old'")[0][0] == 0, table
    assert not (tmp_path / "out" / "old.enriched.csv").exists()
    # Exactly the older answers and rows went; the younger ones are untouched.
    assert _result_rows(env, "kept") == newer
    after_store = _stored(env)
    assert set(after_store) == {fp for fp, at in before_store.items() if datetime.fromisoformat(at) >= cutoff}
    assert report.expired_result_rows == len(older)
    # The answers kept as they arrived go by the same rule, and the index of what the stripped requests asked.
    kept_younger = {a for a, at in kept_before.items() if datetime.fromisoformat(at) >= cutoff}
    assert 0 < len(kept_younger) < len(kept_before)
    with sqlite3.connect(store_path(env)) as sconn:
        assert set(dict(sconn.execute("SELECT attempt_id, received_at FROM kept_answers").fetchall())) == kept_younger
        assert sconn.execute("SELECT count(*) FROM attempt_fingerprints f JOIN attempts a USING (attempt_id) "
                             "WHERE a.sent_at < ? OR a.list_id = 'old'", [cutoff.isoformat()]).fetchone()[0] == 0
        assert sconn.execute("SELECT count(*) FROM attempt_fingerprints").fetchone()[0] > 0
    assert report.kept_answers_deleted == len(kept_before) - len(kept_younger)
    # The ledger keeps every row and amount; the older rows and the old list's lose their identifiers.
    assert _ledger_totals(env) == before_ledger
    assert query(env, "SELECT count(*) FROM credit_ledger WHERE (called_at < ? OR list_id = 'old') AND "
                      "(record_id IS NOT NULL OR len(record_ids) > 0 OR request_fingerprint IS NOT NULL)",
                 [cutoff])[0][0] == 0
    assert query(env, "SELECT count(*) FROM credit_ledger WHERE called_at >= ? AND list_id = 'kept' "
                      "AND record_id IS NOT NULL", [cutoff])[0][0] > 0
    with sqlite3.connect(store_path(env)) as sconn:
        assert sconn.execute("SELECT count(*) FROM attempts WHERE (sent_at < ? OR list_id = 'old') AND "
                             "record_ids <> '[]'", [cutoff.isoformat()]).fetchone()[0] == 0
    assert query(env, "SELECT count(*) FROM personal_data_requests")[0][0] == 0  # the core logs nothing itself

    # The unchanged file again: only the leads whose answers went are walked, and nothing else changes.
    earlier_runs = {r[5] for r in _result_rows(env, "kept")} | {
        r for (r,) in query(env, "SELECT DISTINCT run_id FROM credit_ledger")}
    run_ok(["run", str(kept_file)], env)
    rerun_rows = {r for r in _result_rows(env, "kept") if r[5] not in earlier_runs}
    assert {r[1] for r in rerun_rows} == expired_leads
    asked = {r for (r,) in query(env, "SELECT record_id FROM credit_ledger WHERE run_id NOT IN "
                                      "(SELECT unnest(?::VARCHAR[]))", [sorted(x for x in earlier_runs if x)])}
    assert asked and asked <= expired_leads
    assert {r for r in _result_rows(env, "kept") if r[1] not in expired_leads} == \
        {r for r in newer if r[1] not in expired_leads}


def test_the_dagster_job_runs_the_core_and_logs_counts_only(tmp_path: Path) -> None:
    from dagster_duckdb import DuckDBResource

    from enrichment_assets.dagster_defs.resources import EnrichmentSettings
    from enrichment_assets.dagster_defs.retention import personal_data_retention

    config = _config(tmp_path / "enrichment.yaml")
    db = tmp_path / "enrichment.duckdb"
    conn = connect(db)
    now = datetime.now(UTC)
    conn.execute("INSERT INTO raw_leads VALUES ('stale', 'R1', 'Ann', 'Lee', 'Acme', 'acme.com', 'ann@acme.com', "
                 "NULL, 'US', 'f1', ?, 1)", [now - timedelta(days=RETENTION_DAYS + 1)])
    conn.execute("INSERT INTO raw_leads VALUES ('fresh', 'R2', 'Bo', 'Ng', 'Acme', 'acme.com', 'bo@acme.com', "
                 "NULL, 'US', 'f2', ?, 1)", [now - timedelta(days=RETENTION_DAYS - 1)])
    conn.close()
    result = personal_data_retention.execute_in_process(resources={
        "enrichment": EnrichmentSettings(config_path=str(config), db_path=str(db),
                                         suppression_path=str(tmp_path / "none.csv"), inbox=str(tmp_path)),
        "duckdb": DuckDBResource(database=str(db))})
    assert result.success
    metadata = result.output_for_node("apply_personal_data_retention")
    assert metadata["lists_dropped"] == 1 and metadata["rows_deleted_raw_leads"] == 1
    assert all(isinstance(v, int | str) for v in metadata.values())
    conn = connect(db)
    try:
        assert conn.execute("SELECT list_id FROM raw_leads").fetchall() == [("fresh",)]
        logged = conn.execute("SELECT kind, requested_by, identified_by, rows_deleted FROM personal_data_requests"
                              ).fetchall()
    finally:
        conn.close()
    assert logged == [("retention", "schedule:personal_data_retention", None, 1)]
