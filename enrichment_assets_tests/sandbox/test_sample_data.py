"""The sample lead list: messy like a CRM export, drawn from the default world."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from enrichment_assets.sandbox import World, write_sample_leads
from enrichment_assets.sandbox.sample_data import COUNTRY_SPELLINGS, HEADER

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "data" / "inbox" / "sample_leads.csv"
SPELLING_TO_CODE = {s: code for code, spellings in COUNTRY_SPELLINGS.items() for s in spellings}


def _read(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "written with a UTF-8 BOM"
    return list(csv.reader(raw.decode("utf-8-sig").splitlines()))


def test_committed_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    world = World()
    target = tmp_path / "sample_leads.csv"
    write_sample_leads(target, world)
    assert target.read_bytes() == COMMITTED.read_bytes()


def test_sample_is_big_messy_and_drawn_from_the_default_world() -> None:
    world = World()
    rows = _read(COMMITTED)
    assert tuple(rows[0]) == HEADER
    body = rows[1:]
    assert len(body) >= 200
    countries = {SPELLING_TO_CODE[row[7]] for row in body if row[7]}
    assert len(countries) >= 6
    assert len({row[7] for row in body if row[7]}) > len(countries)   # ISO codes and names mixed

    found = 0
    for row in body:
        linkedin, email = row[6].strip(), row[5].strip()
        person = world.person_by_linkedin(linkedin) if linkedin else world.person_by_email(email)
        if person is not None:
            found += 1
            assert person.first_name == row[1].strip()
    assert found >= len(body) - 3

    ids = Counter(row[0].strip() for row in body)
    assert ids[""] == 1                                     # a row without record_id
    assert sum(1 for n in ids.values() if n > 1) == 1       # one duplicated record_id
    assert any(not any(cell.strip() for cell in row[1:7]) for row in body)   # nothing identifying
    assert any(row[5] and "@" not in row[5] and not row[6] and not row[1] for row in body)  # invalid email only
    assert any(cell != cell.strip() for row in body for cell in row)          # stray whitespace
    assert any(row[5].isupper() for row in body)                              # upper-case emails
    linkedin_forms = {row[6].strip().split("/in/")[0] if "/in/" in row[6] else "slug" for row in body if row[6]}
    assert len(linkedin_forms) >= 5
    assert any(row[4].startswith("https://www.") and row[4].endswith("/about") for row in body)

    companies = Counter(world.person_by_linkedin(r[6]).company_id for r in body if r[6].strip()
                        and world.person_by_linkedin(r[6]))
    assert sum(1 for n in companies.values() if n >= 2) >= 10   # colleagues share a switchboard
