"""Namesakes among every lead held: the index a name-matching vendor's client reads."""

from __future__ import annotations

import duckdb

from enrichment_assets.leads.model import Lead
from enrichment_assets.leads.namesakes import Namesakes
from enrichment_assets.storage.namesakes import load_namesakes


def test_namesakes_are_different_people_with_one_name_at_one_company() -> None:
    a = Lead("l1", "1", "Ann", "Lee", "Acme Inc", "acme.io", None, "https://www.linkedin.com/in/ann-lee-1")
    b = Lead("l2", "7", " ann ", "LEE", "acme  inc", None, None, "https://www.linkedin.com/in/ann-lee-2")
    same_person_elsewhere = Lead("l3", "9", "Ann", "Lee", "Acme Inc", None, None,
                                 "https://www.linkedin.com/in/ann-lee-1")
    other_company = Lead("l1", "2", "Ann", "Lee", "Globex", None, None, "https://www.linkedin.com/in/ann-lee-3")
    assert Namesakes.from_leads([a, same_person_elsewhere, other_company]).has_namesake(a) is False
    known = Namesakes.from_leads([a, b, other_company])
    assert known.has_namesake(a) and known.has_namesake(b) and not known.has_namesake(other_company)


def test_namesakes_are_read_from_every_list_held() -> None:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE raw_leads (list_id VARCHAR, record_id VARCHAR, first_name VARCHAR, last_name VARCHAR, "
                 "company VARCHAR, domain VARCHAR, email VARCHAR, linkedin_url VARCHAR)")
    conn.executemany("INSERT INTO raw_leads VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        ("march", "1", "Ann", "Lee", "Acme Inc", "acme.io", None, "https://www.linkedin.com/in/ann-lee-1"),
        ("april", "1", "Ann", "Lee", None, "acme.io", "ann.lee2@acme.io", None),
        ("april", "2", "Bo", "Chan", "Acme Inc", None, None, None),
    ])
    known = load_namesakes(conn)
    assert known.has_namesake(Lead("march", "1", "Ann", "Lee", "Acme Inc", "acme.io"))
    assert not known.has_namesake(Lead("april", "2", "Bo", "Chan", "Acme Inc"))


def test_namesakes_are_found_with_the_keys_the_request_fingerprints_read() -> None:
    # Lantern's fingerprint (and so its record_id, the vendor's cache key) reads names and company without
    # punctuation or legal form: two people it would take for one question must be namesakes here too.
    a = Lead("l1", "1", "Jean-Pierre", "O'Brien", "ACME, Inc.", None, None, "https://www.linkedin.com/in/jp-1")
    b = Lead("l2", "2", "jean pierre", "OBrien", "Acme", None, None, "https://www.linkedin.com/in/jp-2")
    known = Namesakes.from_leads([a, b])
    assert known.has_namesake(a) and known.has_namesake(b)
