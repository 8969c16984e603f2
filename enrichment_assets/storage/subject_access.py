"""A data subject's copy (GDPR art. 15, CCPA right to know): everything held about one person, nothing of others.

The person is found as ``enrich forget`` finds them (a record id, an email or a LinkedIn URL), but per lead:
``(list_id, record_id)`` pairs, so a record id that another list uses for someone else brings nothing of that
someone. For each lead: its rows (``raw_leads``, ``rejected_leads``), its contact row and every number with the
providers that returned it, its ``<provider>_results`` rows and the vendor answers behind them (from the response
store, decrypted when it is encrypted), its ledger entries, its switchboard-evidence rows, and which of its
identifiers and numbers are on the do-not-contact list. A ledger entry of a batch request (Crustdata) names only
this person's record id and request fingerprint, never the other leads of the batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from enrichment_assets.storage.state_store import StateStore
from enrichment_assets.storage.warehouse import PROVIDER_RESULT_TABLES
from enrichment_assets.waterfall.suppression import Suppression

Lead = tuple[str, str]  # (list_id, record_id)

_LEDGER_COLUMNS = ("entry_id", "called_at", "run_id", "list_id", "provider", "endpoint", "http_status", "outcome",
                   "credits", "credit_basis", "usd", "worst_case_credits", "error")


@dataclass
class PersonCopy:
    """The copy as one JSON-ready document, and its counts (what the audit trail records)."""

    document: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    rows: int = 0
    answers: int = 0
    ledger_entries: int = 0
    suppression_entries: int = 0

    @property
    def found(self) -> bool:
        return self.records > 0


def find_leads(conn: duckdb.DuckDBPyConnection, *, record_id: str | None = None, email: str | None = None,
               linkedin_url: str | None = None) -> list[Lead]:
    """The person's leads: rows with the email or LinkedIn URL, and every row (in any table) with the record id."""
    rows = conn.execute(
        "SELECT list_id, record_id FROM raw_leads WHERE email = $email OR linkedin_url = $url OR record_id = $rid "
        "UNION SELECT list_id, record_id FROM rejected_leads WHERE record_id = $rid "
        "UNION SELECT list_id, record_id FROM contacts WHERE record_id = $rid",
        {"email": email, "url": linkedin_url, "rid": record_id}).fetchall()
    return sorted({(r[0], r[1]) for r in rows if r[0] is not None and r[1] is not None})


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _of_lead(conn: duckdb.DuckDBPyConnection, table: str, lead: Lead) -> list[dict[str, Any]]:
    return _rows(conn, f"SELECT * FROM {table} WHERE list_id = ? AND record_id = ?", list(lead))  # noqa: S608


def person_copy(conn: duckdb.DuckDBPyConnection, store: StateStore, suppression: Suppression, *,
                record_id: str | None = None, email: str | None = None, linkedin_url: str | None = None,
                now: datetime | None = None) -> PersonCopy:
    leads = find_leads(conn, record_id=record_id, email=email, linkedin_url=linkedin_url)
    copy = PersonCopy(records=len(leads))
    leads_out: list[dict[str, Any]] = []
    fingerprints: set[str] = set()
    numbers: set[str] = set()
    identifiers = {"record_ids": set(), "emails": set(), "linkedin_urls": set()}
    for lead in leads:
        list_id, rid = lead
        identifiers["record_ids"].add(rid)
        rows = {
            "raw_leads": _of_lead(conn, "raw_leads", lead),
            "rejected_leads": _of_lead(conn, "rejected_leads", lead),
            "contacts": _of_lead(conn, "contacts", lead),
            "contact_phones": _of_lead(conn, "contact_phones", lead),
            "number_evidence": _rows(
                conn,
                "SELECT e164, company_key, shared FROM number_evidence WHERE list_id = ? AND record_id = ?",
                list(lead),
            ),
        }
        for row in rows["raw_leads"]:
            if row.get("email"):
                identifiers["emails"].add(row["email"])
            if row.get("linkedin_url"):
                identifiers["linkedin_urls"].add(row["linkedin_url"])
        numbers.update(r["e164"] for r in rows["contact_phones"] if r.get("e164"))
        results = {}
        for provider, table in PROVIDER_RESULT_TABLES.items():
            found = _of_lead(conn, table, lead)
            if found:
                results[provider] = found
                fingerprints.update(r["request_fingerprint"] for r in found if r.get("request_fingerprint"))
        rows["provider_results"] = results  # type: ignore[assignment]
        ledger = _rows(conn, f"SELECT {', '.join(_LEDGER_COLUMNS)}, record_id, record_ids, request_fingerprints "  # noqa: S608 - names from code, values bound
                             "FROM credit_ledger WHERE list_id = ? AND (record_id = ? OR list_contains(record_ids, ?)) "
                             "ORDER BY called_at, entry_id", [list_id, rid, rid])
        for entry in ledger:
            named = entry.pop("record_ids") or []
            asked = entry.pop("request_fingerprints") or []
            entry["record_id"] = rid
            entry["batch_request"] = len(named) > 1  # other leads of the batch are never named here
            mine = [fp for fp in asked if fp in fingerprints]
            entry["request_fingerprints"] = mine
        rows["ledger_entries"] = ledger  # type: ignore[assignment]
        copy.ledger_entries += len(ledger)
        copy.rows += sum(len(v) for k, v in rows.items() if isinstance(v, list) and k != "ledger_entries")
        copy.rows += sum(len(v) for v in results.values())
        leads_out.append({"list_id": list_id, "record_id": rid, **rows})
    answers = [{"request_fingerprint": a.request_fingerprint, "provider": a.provider, "status": a.status,
                "phones": [{"number": n, "claimed_type": t} for n, t in a.phones], "body": a.raw,
                "http_status": a.http_status, "received_at": a.received_at}
               for a in store.stored_answers(fingerprints)]
    copy.answers = len(answers)
    on_list = {
        "record_ids": sorted(identifiers["record_ids"] & suppression.record_ids),
        "emails": sorted(identifiers["emails"] & suppression.emails),
        "linkedin_urls": sorted(identifiers["linkedin_urls"] & suppression.linkedin_urls),
        "phones": sorted(numbers & suppression.phones),
    }
    copy.suppression_entries = sum(len(v) for v in on_list.values())
    copy.document = {
        "generated_at": (now or datetime.now(UTC)),
        "asked_by": {k: v for k, v in (("record_id", record_id), ("email", email), ("linkedin_url", linkedin_url))
                     if v},
        "leads": leads_out,
        "vendor_answers": answers,
        "suppression_entries": on_list,
        "counts": {"leads": copy.records, "rows": copy.rows, "vendor_answers": copy.answers,
                   "ledger_entries": copy.ledger_entries, "suppression_entries": copy.suppression_entries},
    }
    return copy


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return sorted(value)
    return str(value)


def write_copy(copy: PersonCopy, path: Path) -> None:
    """Write the document, readable by its owner only (it holds personal data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(json.dumps(copy.document, indent=2, ensure_ascii=False, default=_json_default), encoding="utf-8")
    tmp.replace(path)
