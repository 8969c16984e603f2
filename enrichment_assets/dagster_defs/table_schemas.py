"""The column schemas Dagster shows for the warehouse tables, read from their DDL.

The columns and their types come from ``storage.warehouse.DDL`` (the statements that create the tables), so
the UI cannot list a column the table lacks or miss one it has; only the descriptions are written here, and a
description of a column the DDL does not have fails the test that compares them
(``enrichment_assets_tests/test_table_schemas.py``).

The DDL is read as text rather than executed in a throwaway DuckDB: creating one costs ~60 ms at every load of
the definitions (measured), reading the text well under 1 ms; the test executes the DDL and checks this reading
against the database's own catalog.
"""

from __future__ import annotations

import re
from functools import cache

from dagster import TableColumn, TableSchema

from enrichment_assets.storage.warehouse import DDL, PROVIDER_RESULT_TABLES

_CREATE = re.compile(r"^\s*CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*)\)\s*$", re.DOTALL | re.IGNORECASE)
_ADD_COLUMN = re.compile(r"^\s*ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+)\s+(.*)$", re.DOTALL | re.IGNORECASE)
#: Words that end a column's type in its definition (constraints and defaults follow the type).
_AFTER_TYPE = {"NOT", "NULL", "DEFAULT", "PRIMARY", "UNIQUE", "CHECK", "REFERENCES", "COLLATE", "GENERATED"}
#: Table constraints, not columns.
_CONSTRAINTS = {"PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"}


def _split_top_level(body: str) -> list[str]:
    """The comma-separated parts of a column list, ignoring commas inside parentheses (``DECIMAL(18, 3)``)."""
    parts, depth, current = [], 0, []
    for ch in body:
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += (ch == "(") - (ch == ")")
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _column_type(words: list[str]) -> str:
    type_words = []
    for word in words:
        if word.upper() in _AFTER_TYPE:
            break
        type_words.append(word)
    return " ".join(type_words).lower()


@cache
def ddl_columns() -> dict[str, tuple[tuple[str, str], ...]]:
    """Table -> its ``(column, type)`` pairs in table order, as the DDL creates and later extends them."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for statement in DDL:
        if created := _CREATE.match(statement):
            columns = tables.setdefault(created.group(1), [])
            for part in _split_top_level(created.group(2)):
                words = part.split()
                if words[0].upper() not in _CONSTRAINTS:
                    columns.append((words[0], _column_type(words[1:])))
        elif added := _ADD_COLUMN.match(statement):
            table, column, rest = added.groups()
            if column not in {name for name, _ in tables[table]}:
                tables[table].append((column, _column_type(rest.split())))
    return {table: tuple(columns) for table, columns in tables.items()}


_RESULTS_DESCRIPTIONS = {
    "request_fingerprint": "Hash of the vendor and its normalized request",
    "outcome": ("found, not_found, ineligible, skipped_budget, provider_unavailable, error, unknown (sent, no usable "
                "answer: the lead is pending) or skipped_no_key"),
    "phones": "Numbers exactly as the vendor returned them, vendor order",
    "credits": "Credits this lookup cost (0 when answered from the store)",
    "from_cache": "Answered from a stored response: no call, no charge",
    "walk_order": "The providers this lead was walked through, in order (the fixed order, or its adaptive order)",
}

#: Table -> column -> what a user reading the table needs to know about it. Columns without one show no text.
COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "raw_leads": {
        "list_id": "Lead list (partition key): the file's sanitized stem",
        "record_id": "Your CRM's id; unique within a list",
        "domain": "Company domain, lowercase, no www.",
        "email": "Lowercased, syntax-checked",
        "linkedin_url": "Canonical https://www.linkedin.com/in/<slug>",
        "country": "ISO 3166-1 alpha-2",
        "fingerprint": "Hash of the normalized identifying fields",
        "row_number": "Row in the file (header = 1)",
    },
    "rejected_leads": {
        "row_number": "Row in the file (header = 1)",
        "reason": "Why the row was set aside",
        "raw": "The raw row as JSON",
    },
    **dict.fromkeys(PROVIDER_RESULT_TABLES.values(), _RESULTS_DESCRIPTIONS),
    "contact_phones": {
        "e164": "E.164 form",
        "number_type": ("mobile, fixed_line, fixed_line_or_mobile, toll_free, voip, …, or invalid (combined "
                        "libphonenumber and vendor evidence)"),
        "region": "ISO country of the number",
        "sources": "Providers that returned it",
        "shared_with_others": ("Also returned for colleagues (in any list): a switchboard or shared office line, "
                               "never chosen"),
        "score": "Agreement across providers + type evidence (see README)",
    },
    "contacts": {
        "record_id": "One row per record_id",
        "best_phone": "The number to dial, E.164",
        "status": "mobile_found, phone_found, not_found, pending or suppressed",
    },
    "credit_ledger": {
        "record_id": "Empty for batch requests",
        "outcome": ("found, not_found, error, rate_limited, out_of_credits, provider_unavailable, or unknown (sent, "
                    "no usable answer: the vendor may have billed it)"),
        "credits": "Certain credits (0 for an unknown request)",
        "credit_basis": "vendor_reported, price_rule or unknown",
        "uncertain_credits": "What an unknown request may have cost on top of credits (0 once settled as billed once)",
        "settled_by": "entry_id of the later answer to the same question",
        "settlement": "billed_once, asked_again or read_later",
    },
    "provider_performance": {
        "calls": "HTTP requests in the ledger",
        "mobiles": "Contacts with a personal mobile this provider returned",
        "hit_rate": "found / leads asked",
        "cost_per_mobile": "credits / mobiles",
        "usd_per_mobile": "usd / mobiles: the cost of a mobile, comparable across vendors (their credits are not)",
    },
    "provider_segment_rates": {
        "level": ("segment, country (identifiers *) or provider (country and identifiers *): the level of the "
                  "shrinkage ladder"),
        "country": "Lead country (ISO-2, ?? unknown) or *",
        "identifiers": "What the leads carry: linkedin, email, name (+-joined), none, or *",
        "leads": "Leads that reached the provider and were asked (stored answers included)",
        "mobiles": "Leads it gave a personal mobile",
        "credits": "Credits of the paid calls",
        "found_rate": "Chance a call finds a number, shrunk toward the level above",
        "mobile_rate": "Chance a call finds a personal mobile, shrunk",
        "mobile_rate_high": "90% interval of mobile_rate",
        "usd_per_call": "credits_per_call x usd_per_credit",
        "usd_per_mobile": "usd_per_call / mobile_rate: what the adaptive order sorts by",
        "evidence": "Leads of evidence behind the rates (own + borrowed)",
    },
}


def table_schema(table: str) -> TableSchema:
    """The table's columns, types and descriptions for ``dagster/column_schema``."""
    described = COLUMN_DESCRIPTIONS.get(table, {})
    return TableSchema(columns=[TableColumn(name, column_type, description=described.get(name))
                                for name, column_type in ddl_columns()[table]])


def table_metadata(table: str) -> dict:
    """The definition metadata of an asset stored as this warehouse table: its column schema and name."""
    return {"dagster/column_schema": table_schema(table), "dagster/table_name": f"main.{table}"}
