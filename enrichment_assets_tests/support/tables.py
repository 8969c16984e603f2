"""Reading the pipeline's tables and the request journal after a run."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb

from enrichment_assets.leads.model import Lead
from enrichment_assets.settings import PROVIDERS


def query(db: str | Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def response_store_path(db: str | Path) -> Path:
    db = Path(db)
    return db.with_name(db.stem + ".responses.sqlite")


def journal_rows(db: str | Path) -> list[dict[str, Any]]:
    with sqlite3.connect(str(response_store_path(db))) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM attempts ORDER BY rowid")]


def ledger_by_provider(db: str | Path) -> dict[str, dict[str, float]]:
    rows = query(db, "SELECT provider, count(*), coalesce(sum(credits), 0), "
                     "count(*) FILTER (WHERE outcome = 'unknown'), "
                     "coalesce(sum(worst_case_credits) FILTER (WHERE outcome = 'unknown'), 0) "
                     "FROM credit_ledger GROUP BY provider")
    out = {p: {"rows": 0, "credits": 0.0, "unknown": 0, "unknown_worst_case": 0.0} for p in PROVIDERS}
    for provider, n, credits, unknown, worst in rows:
        out[provider] = {"rows": n, "credits": float(credits), "unknown": unknown, "unknown_worst_case": float(worst)}
    return out


def leads_from_db(db: str | Path, list_id: str | None = None) -> list[Lead]:
    sql = ("SELECT list_id, record_id, first_name, last_name, company, domain, email, linkedin_url, country, "
           "fingerprint FROM raw_leads")
    rows = query(db, sql + (" WHERE list_id = ?" if list_id else ""), [list_id] if list_id else [])
    return [Lead(*row) for row in rows]
