"""The namesakes among every lead the project holds (``raw_leads``, every list): see ``leads/namesakes.py``."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb

from enrichment_assets.leads.model import Lead
from enrichment_assets.leads.namesakes import Namesakes

_BATCH = 50_000


def load_namesakes(conn: duckdb.DuckDBPyConnection) -> Namesakes:
    """Read the name, company, domain and identifiers of every lead with a first and last name, in batches."""
    cursor = conn.execute(
        "SELECT list_id, record_id, first_name, last_name, company, domain, email, linkedin_url FROM raw_leads "
        "WHERE first_name IS NOT NULL AND last_name IS NOT NULL AND (company IS NOT NULL OR domain IS NOT NULL)")

    def leads() -> Iterator[Lead]:
        while rows := cursor.fetchmany(_BATCH):
            for list_id, record_id, first, last, company, domain, email, linkedin in rows:
                yield Lead(list_id, record_id, first, last, company, domain, email, linkedin)

    return Namesakes.from_leads(leads())
