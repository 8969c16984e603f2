"""A messy, CRM-export-like lead list drawn from the sandbox world.

``python -m enrichment_assets.sandbox.sample_data data/inbox/sample_leads.csv``
writes the bundled sample from the default world (seed 7). Every good row is a
person of that world, so a sandbox run finds numbers for many of them; a few
rows are deliberately bad (missing record_id, duplicate record_id, nothing to
look up, an invalid email only).
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from enrichment_assets.sandbox.world import Person, World

HEADER: tuple[str, ...] = ("record_id", "First Name", "Last Name", "Company Name", "Website", "Work Email",
                           "LinkedIn", "Country")

COUNTRY_SPELLINGS: dict[str, tuple[str, ...]] = {
    "US": ("US", "United States", "USA", "us", "United States of America"),
    "CA": ("CA", "Canada", "canada"),
    "GB": ("GB", "uk", "United Kingdom", "UK", "England"),
    "DE": ("DE", "Germany", "Deutschland", "de"),
    "FR": ("FR", "France", "france"),
    "AU": ("AU", "Australia"),
    "IN": ("IN", "India"),
    "ES": ("ES", "Spain", "España"),
    "NL": ("NL", "Netherlands", "The Netherlands", "Holland"),
    "BR": ("BR", "Brazil", "Brasil"),
}


def _messy(rng: random.Random, value: str) -> str:
    """Stray whitespace now and then."""
    roll = rng.random()
    if roll < 0.08:
        return f" {value}"
    if roll < 0.14:
        return f"{value}  "
    if roll < 0.18:
        return f"\t{value} "
    return value


def _linkedin(rng: random.Random, person: Person) -> str:
    slug = person.linkedin_slug
    forms = (
        f"https://www.linkedin.com/in/{slug}",
        f"https://www.linkedin.com/in/{slug}/",
        f"http://linkedin.com/in/{slug}",
        f"linkedin.com/in/{slug}",
        f"www.linkedin.com/in/{slug}/",
        f"https://www.linkedin.com/in/{slug}?trk=public_profile_browsemap",
        f"https://www.linkedin.com/in/{slug}/?originalSubdomain=uk",
        f"HTTPS://WWW.LINKEDIN.COM/IN/{slug.upper()}",
        f"https://www.LinkedIn.com/in/{slug}",
        f"https://uk.linkedin.com/in/{slug}",
        slug,
    )
    return rng.choice(forms)


def _website(rng: random.Random, domain: str) -> str:
    return rng.choice((
        f"https://www.{domain}/about", f"https://{domain}", f"http://www.{domain}", f"{domain}",
        f"www.{domain}", f"https://{domain}/", f"https://www.{domain}/contact?ref=crm", f"HTTPS://{domain.upper()}",
    ))


def _row(rng: random.Random, record_id: str, person: Person) -> list[str]:
    company = person.company
    if rng.random() < 0.08:  # CRM users drop the legal suffix now and then
        company = company.rsplit(" ", 1)[0] if " " in company else company
    email = person.work_email
    roll = rng.random()
    if roll < 0.2:
        email = email.upper()
    elif roll < 0.3:
        email = email[0].upper() + email[1:]
    linkedin = _linkedin(rng, person) if rng.random() < 0.88 else ""
    work_email = email if rng.random() < 0.85 else ""
    website = _website(rng, person.domain) if rng.random() < 0.8 else ""
    if not linkedin and not work_email:
        work_email = email  # keep every good row identifiable by more than the name
    return [
        _messy(rng, record_id),
        _messy(rng, person.first_name),
        _messy(rng, person.last_name.upper() if rng.random() < 0.05 else person.last_name),
        _messy(rng, company),
        website,
        _messy(rng, work_email) if work_email else "",
        _messy(rng, linkedin) if linkedin else "",
        rng.choice(COUNTRY_SPELLINGS[person.country]) if rng.random() < 0.92 else "",
    ]


def sample_people(world: World, n: int, seed: int = 7) -> list[Person]:
    """``n`` distinct people: colleagues in groups of 2-3 (shared switchboards) plus random people."""
    rng = random.Random(f"{seed}:sample:people")
    chosen: dict[int, Person] = {}
    companies = [c for c in world.companies if len(world.company_people(c.company_id)) >= 3]
    rng.shuffle(companies)
    for company in companies:
        if len(chosen) >= n // 3:
            break
        for person in world.company_people(company.company_id)[: rng.choice((2, 3))]:
            chosen[person.person_id] = person
    pool = list(world.people)
    rng.shuffle(pool)
    for person in pool:
        if len(chosen) >= n:
            break
        chosen.setdefault(person.person_id, person)
    people = list(chosen.values())
    rng.shuffle(people)
    return people


def write_sample_leads(path: str | Path, world: World, n: int = 240, seed: int = 7) -> list[list[str]]:
    """Write ``n`` rows (four of them bad on purpose) with a UTF-8 BOM; return the rows without the header."""
    if n < 8:
        raise ValueError("a sample needs at least 8 rows")
    rng = random.Random(f"{seed}:sample:rows")
    people = sample_people(world, n - 2, seed)
    good, unidentified, impostor = people[: n - 4], people[n - 4], people[n - 3]
    rows = [_row(rng, f"CRM-{10001 + i:05d}", person) for i, person in enumerate(good)]

    missing_id = _row(rng, "", unidentified)
    duplicate = _row(rng, rows[len(rows) // 3][0].strip(), impostor)  # another person, an existing record_id
    nothing = [f"CRM-{10001 + len(good):05d}", "", "", "", "", "", "", rng.choice(("Germany", "US", "uk"))]
    bad_email = [f"CRM-{10002 + len(good):05d}", "", "", "", "", "jane.doe(at)example", "", ""]
    for position, bad in zip((17, 61, 118, 190), (missing_id, duplicate, nothing, bad_email), strict=True):
        rows.insert(min(position, len(rows)), bad)

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a messy sample lead list drawn from the sandbox world.")
    parser.add_argument("path", help="CSV file to write, e.g. data/inbox/sample_leads.csv")
    parser.add_argument("--seed", type=int, default=7, help="world and sample seed (default 7)")
    parser.add_argument("--size", type=int, default=World.DEFAULT_SIZE, help="world size (default %(default)s)")
    parser.add_argument("-n", "--rows", type=int, default=240, help="rows to write (default 240)")
    args = parser.parse_args(argv)
    rows = write_sample_leads(args.path, World(args.seed, args.size), n=args.rows, seed=args.seed)
    print(f"wrote {len(rows)} rows to {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
