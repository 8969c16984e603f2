"""Which leads a rerun walks again: changed leads, changed settings, expired or pending answers; nobody else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.storage.walks import leads_to_walk, replace_walked
from enrichment_assets.storage.warehouse import connect, transaction
from enrichment_assets.waterfall.suppression import Suppression
from enrichment_assets.waterfall.walk_key import walk_key

NOW = datetime(2026, 11, 23, tzinfo=UTC)
FRESH_AFTER = NOW - timedelta(days=90)
LIST = "spring"


@pytest.fixture
def conn(tmp_path: Path):
    connection = connect(tmp_path / "w.duckdb")
    yield connection
    connection.close()


def load_leads(conn, fingerprints: dict[str, str]) -> None:
    conn.execute("DELETE FROM raw_leads WHERE list_id = ?", [LIST])
    for n, (record_id, fp) in enumerate(fingerprints.items()):
        conn.execute("INSERT INTO raw_leads (list_id, record_id, first_name, fingerprint, loaded_at, row_number) "
                     "VALUES (?, ?, 'Ann', ?, now(), ?)", [LIST, record_id, fp, n + 2])


def to_walk(conn, tmp_path: Path, key: str = "k1") -> list[str]:
    out = tmp_path / "walk.parquet"
    count = leads_to_walk(conn, LIST, key, FRESH_AFTER, out)
    ids = pq.read_table(out).column("record_id").to_pylist()
    assert count == len(ids)
    return ids


def walk(conn, tmp_path: Path, rows: dict[str, tuple[str, datetime]], key: str = "k1") -> None:
    """Record a walk of every lead to_walk returns, with one leadmagic row each (outcome, called_at)."""
    out = tmp_path / "walk.parquet"
    leads_to_walk(conn, LIST, key, FRESH_AFTER, out)
    walked = pq.read_table(out).column("record_id").to_pylist()
    results = tmp_path / "leadmagic.parquet"
    pq.write_table(pa.table({
        "list_id": [LIST] * len(walked), "record_id": walked,
        "outcome": [rows.get(r, ("found", NOW))[0] for r in walked],
        "called_at": pa.array([rows.get(r, ("found", NOW))[1] for r in walked], pa.timestamp("us", tz="UTC")),
        "run_id": ["run"] * len(walked)}), results)
    with transaction(conn):
        replace_walked(conn, LIST, key, out, {"leadmagic": results, "pronto": None})


def test_first_run_walks_every_lead_and_an_unchanged_rerun_none(conn, tmp_path: Path) -> None:
    load_leads(conn, {"a": "fa", "b": "fb", "c": "fc"})
    assert to_walk(conn, tmp_path) == ["a", "b", "c"]
    walk(conn, tmp_path, {})
    assert to_walk(conn, tmp_path) == []


def test_changed_leads_and_changed_settings_are_walked_again(conn, tmp_path: Path) -> None:
    load_leads(conn, {"a": "fa", "b": "fb", "c": "fc"})
    walk(conn, tmp_path, {})
    load_leads(conn, {"a": "fa", "b": "fb-new", "c": "fc"})
    assert to_walk(conn, tmp_path) == ["b"]
    assert to_walk(conn, tmp_path, key="k2") == ["a", "b", "c"]


def test_pending_and_expired_answers_are_walked_again(conn, tmp_path: Path) -> None:
    load_leads(conn, {"a": "fa", "b": "fb", "c": "fc", "d": "fd"})
    walk(conn, tmp_path, {"b": ("error", NOW), "c": ("not_found", NOW - timedelta(days=120)),
                          "d": ("skipped_budget", NOW)})
    assert to_walk(conn, tmp_path) == ["b", "c", "d"]
    walk(conn, tmp_path, {})  # the retry answered them
    assert to_walk(conn, tmp_path) == []
    rows = conn.execute("SELECT record_id, outcome FROM leadmagic_results ORDER BY 1").fetchall()
    assert rows == [("a", "found"), ("b", "found"), ("c", "found"), ("d", "found")]


def test_leads_removed_from_the_list_lose_their_rows(conn, tmp_path: Path) -> None:
    load_leads(conn, {"a": "fa", "b": "fb"})
    walk(conn, tmp_path, {})
    load_leads(conn, {"a": "fa"})
    assert to_walk(conn, tmp_path) == []
    walk(conn, tmp_path, {})
    assert conn.execute("SELECT record_id FROM leadmagic_results").fetchall() == [("a",)]
    assert conn.execute("SELECT record_id FROM waterfall_walks").fetchall() == [("a",)]


def _key(config: dict, suppression: Suppression | None = None, call=("leadmagic", "pronto")) -> str:
    return walk_key(parse_config(config), ["leadmagic", "pronto"], call, suppression or Suppression(), "sandbox")


def test_walk_key_ignores_speed_and_money_but_not_where_a_walk_ends() -> None:
    base = {"waterfall": {"order": ["leadmagic", "pronto"], "stop_when": "mobile"}}
    key = _key(base)
    assert key == _key({**base, "providers": {"leadmagic": {"rate_limit_per_second": 2000, "max_concurrency": 64,
                                                            "usd_per_credit": 0.5, "max_credits_per_run": 10}}})
    assert key != _key({"waterfall": {"order": ["leadmagic", "pronto"], "stop_when": "any_phone"}})
    assert key != _key({**base, "providers": {"pronto": {"personal_email_consent": True}}})
    assert key != _key(base, Suppression(emails={"someone@example.com"}))
    assert key != _key(base, call=("leadmagic",))


def test_windows_of_file_rows_give_the_same_leads_in_file_order(conn, tmp_path: Path, monkeypatch) -> None:
    from enrichment_assets.storage import walks

    load_leads(conn, {"c": "fc", "a": "fa", "b": "fb", "d": "fd"})
    walk(conn, tmp_path, {"a": ("error", NOW)})
    load_leads(conn, {"c": "fc", "a": "fa", "b": "fb-new", "d": "fd"})
    whole = to_walk(conn, tmp_path)
    monkeypatch.setattr(walks, "WINDOW_ROWS", 1)
    assert to_walk(conn, tmp_path) == whole == ["a", "b"]
    assert to_walk(conn, tmp_path, key="k2") == ["c", "a", "b", "d"]
