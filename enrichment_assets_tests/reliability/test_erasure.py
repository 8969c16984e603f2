"""Erasure: `enrich forget` removes a person from every table, the response store and the Parquet marts.

The ledger keeps its amounts (the money was spent) but loses every identifier
of the person, also when it is rebuilt from the request journal later.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from enrichment_assets.sandbox.world import Person
from enrichment_assets.settings import PROVIDERS
from enrichment_assets.storage.ledger import ledger_table
from enrichment_assets.storage.response_store import ResponseStore
from enrichment_assets_tests.support.cli import run_enrich
from enrichment_assets_tests.support.live_run import LiveRun
from enrichment_assets_tests.support.tables import query, response_store_path

TABLES = ("raw_leads", "rejected_leads", "contact_phones", "contacts", *(f"{p}_results" for p in PROVIDERS))


def copy_state(live_run: LiveRun, dest: Path) -> dict[str, str]:
    """The live run's DuckDB file, response store and marts, copied: erasure must not disturb other tests."""
    db = live_run.db
    dest.mkdir()
    for path in db.parent.glob(db.name + "*"):
        shutil.copy2(path, dest / path.name)
    store = response_store_path(db)
    for path in store.parent.glob(store.name + "*"):
        shutil.copy2(path, dest / path.name)
    shutil.copytree(db.parent / "marts", dest / "marts")
    shutil.copytree(db.parent / "out", dest / "out")  # the enriched lead files
    return {**live_run.env, "ENRICHMENT_DB": str(dest / db.name)}


def identifiers(person: Person) -> list[str]:
    return [person.work_email, person.linkedin_slug, person.mobile, person.mobile.lstrip("+")]


def all_text(db: str) -> dict[str, str]:
    """Every table of the DuckDB file as one text blob each (all columns cast to VARCHAR)."""
    tables = [t for (t,) in query(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")]
    out = {}
    for table in tables:
        rows = query(db, f'SELECT * FROM "{table}"')
        out[table] = "\n".join("\t".join("" if v is None else str(v) for v in row) for row in rows)
    return out


def mart_text(marts: Path) -> dict[str, str]:
    return {p.name: "\n".join(str(row) for row in pq.read_table(p).to_pylist()) for p in marts.glob("*.parquet")}


def _people_to_forget(live_run: LiveRun, db: str) -> tuple[tuple[str, Person], ...]:
    by_id = {f"L{i + 1:05d}": p for i, p in enumerate(live_run.people)}
    # Leads that went down the waterfall furthest, so they are in many tables (Crustdata batches included).
    deep = [r for (r,) in query(db, "SELECT record_id FROM crustdata_results WHERE request_fingerprint IS NOT NULL "
                                    "ORDER BY record_id")]
    found = [r for (r,) in query(db, "SELECT record_id FROM contacts WHERE status = 'mobile_found' "
                                     "ORDER BY record_id")]
    assert len(deep) >= 1 and len(found) >= 2, (deep, found)
    a = deep[0]
    b, c = [r for r in found if r != a][:2]
    return (a, by_id[a]), (b, by_id[b]), (c, by_id[c])


@pytest.mark.e2e
def test_forget_removes_the_person_everywhere_but_keeps_the_money(live_run: LiveRun, tmp_path: Path) -> None:
    env = copy_state(live_run, tmp_path / "state")
    db = env["ENRICHMENT_DB"]
    store_path = response_store_path(db)
    marts = Path(db).parent / "marts"
    targets = _people_to_forget(live_run, db)
    ids = [rid for rid, _ in targets]

    fingerprints = {fp for p in PROVIDERS for (fp,) in query(
        db, f"SELECT request_fingerprint FROM {p}_results WHERE record_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND request_fingerprint IS NOT NULL", [ids])}
    assert len(fingerprints) >= 6
    with sqlite3.connect(store_path) as conn:
        stored = {fp for (fp,) in conn.execute("SELECT request_fingerprint FROM responses")}
    assert fingerprints & stored, "their vendor answers are in the store before erasure"
    # USD is no longer 0 by default: a float sum depends on the rows' order, which the erasure's rewrite changes.
    ledger_before = query(db, "SELECT provider, count(*), sum(credits), round(sum(usd), 9) FROM credit_ledger "
                              "GROUP BY 1 ORDER BY 1")
    rows_before = {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}
    for _, person in targets:
        texts = {**all_text(db), **mart_text(marts)}
        assert any(person.work_email in t or person.linkedin_slug in t for t in texts.values())
    enriched = sorted((Path(db).parent / "out").glob("*.enriched.csv"))
    assert enriched and all(any(p.linkedin_slug in f.read_text("utf-8-sig") for _, p in targets) for f in enriched)

    # A hostile value is a parameter, never SQL: it matches nobody and deletes nothing.
    hostile = run_enrich(["forget", "--record-id", "x' OR '1'='1"], env, timeout=120)
    assert hostile.returncode == 0 and "nothing to forget" in hostile.stdout, hostile.stdout + hostile.stderr
    assert {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES} == rows_before

    (id_a, _), (_id_b, person_b), (_id_c, person_c) = targets
    slug_c = person_c.linkedin_slug
    for args in (["--record-id", id_a], ["--email", f"  {person_b.work_email.upper()} "],
                 ["--linkedin-url", f"http://LinkedIn.com/in/{slug_c}/?trk=x"]):
        result = run_enrich(["forget", *args], env, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Forgot 1 record(s)" in result.stdout, result.stdout
        for _, person in targets:  # the command's own output names nobody
            assert person.work_email not in result.stdout + result.stderr

    # The enriched copies of their list, which hold their rows and numbers, are gone.
    assert not [f for f in enriched if f.exists()]

    # Every table: no row of theirs, and none of their identifiers anywhere (free text included).
    for table in TABLES:
        assert query(db, f"SELECT count(*) FROM {table} WHERE record_id IN (SELECT unnest(?::VARCHAR[]))",
                     [ids])[0][0] == 0, table
    assert query(db, "SELECT count(*) FROM credit_ledger WHERE record_id IN (SELECT unnest(?::VARCHAR[])) "
                     "OR list_has_any(record_ids, ?::VARCHAR[]) "
                     "OR list_has_any(request_fingerprints, ?::VARCHAR[])",
                 [ids, ids, sorted(fingerprints)])[0][0] == 0
    texts = all_text(db)
    for _, person in targets:
        for ident in identifiers(person):
            assert not [t for t, text in texts.items() if ident in text], (ident, person)
    assert sum(rows_before.values()) - sum(query(db, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES) >= 3 * 2

    # Not even in the file's freed blocks: the database was rewritten.
    raw_db = Path(db).read_bytes()
    for _, person in targets:
        for ident in (person.work_email, person.linkedin_slug, person.mobile):
            assert ident.encode() not in raw_db, ident

    # The ledger: same requests, same credits and USD per provider.
    assert query(db, "SELECT provider, count(*), sum(credits), round(sum(usd), 9) FROM credit_ledger "
                     "GROUP BY 1 "
                     "ORDER BY 1") == ledger_before

    # The response store: their answers gone, the journal keeps amounts without their identifiers.
    with ResponseStore(store_path) as store:
        rebuilt = ledger_table(store).to_pylist()
        journal_credits = sum(a.credits or 0 for a in store.attempts())
    assert journal_credits == sum(r[2] for r in ledger_before)
    for row in rebuilt:  # the next run rebuilds credit_ledger from the journal: nothing may come back
        assert not set(row["record_ids"] or []) & set(ids) and row["record_id"] not in ids
        assert not set(row["request_fingerprints"] or []) & fingerprints
    with sqlite3.connect(store_path) as conn:
        left = {fp for (fp,) in conn.execute("SELECT request_fingerprint FROM responses")}
        raw = "\n".join(str(r) for r in conn.execute("SELECT * FROM responses"))
        attempts = "\n".join(str(r) for r in conn.execute("SELECT * FROM attempts"))
    assert not left & fingerprints
    for _, person in targets:
        for ident in identifiers(person):
            assert ident not in raw and ident not in attempts, (ident, person)
    for rid in ids:
        assert f'"{rid}"' not in attempts

    # The marts were republished without them.
    for name, text in mart_text(marts).items():
        for rid, person in targets:
            for ident in [*identifiers(person), f"'{rid}'"]:
                assert ident not in text, (name, ident)
