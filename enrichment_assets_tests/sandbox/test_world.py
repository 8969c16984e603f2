"""The synthetic world: deterministic, valid phone numbers, lookups, vendor coverage."""

from __future__ import annotations

from collections import Counter

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from enrichment_assets.sandbox.world import VENDORS, World, dashed, linkedin_slug

NANP = {"US", "CA"}


def _assert_kind(e164: str, country: str, kind: str) -> None:
    parsed = phonenumbers.parse(e164)
    assert phonenumbers.is_valid_number(parsed), e164
    assert phonenumbers.region_code_for_number(parsed) == country, e164
    assert "555" not in phonenumbers.national_significant_number(parsed)[3:6] or country not in NANP
    ntype = phonenumbers.number_type(parsed)
    wanted = PhoneNumberType.MOBILE if kind == "mobile" else PhoneNumberType.FIXED_LINE
    allowed = {wanted, PhoneNumberType.FIXED_LINE_OR_MOBILE} if country in NANP else {wanted}
    assert ntype in allowed, (e164, country, kind, ntype)


def test_every_number_of_the_default_world_is_valid_and_of_its_type(world: World) -> None:
    for person in world.people:
        _assert_kind(person.mobile, person.country, "mobile")
        _assert_kind(person.office, person.country, "fixed")
        _assert_kind(person.switchboard, person.country, "fixed")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000), size=st.integers(min_value=1, max_value=150))
def test_numbers_are_valid_for_any_seed(seed: int, size: int) -> None:
    for person in World(seed, size).people:
        _assert_kind(person.mobile, person.country, "mobile")
        _assert_kind(person.office, person.country, "fixed")
        _assert_kind(person.switchboard, person.country, "fixed")


def test_numbers_are_distinct_and_switchboards_shared_within_a_company(world: World) -> None:
    personal = [p.mobile for p in world.people] + [p.office for p in world.people]
    boards = {c.switchboard for c in world.companies}
    assert len(set(personal)) == len(personal)
    assert len(boards) == len(world.companies)
    assert not boards & set(personal)
    for company in world.companies:
        people = world.company_people(company.company_id)
        assert {p.switchboard for p in people} == {company.switchboard}
        assert {p.domain for p in people} == {company.domain}
    sizes = Counter(p.company_id for p in world.people)
    assert sum(1 for n in sizes.values() if n >= 2) > len(world.companies) * 0.8


def test_world_is_deterministic_and_larger_worlds_extend_smaller_ones() -> None:
    small = World(7, 500)
    assert World(7, 500).people == small.people
    assert World(7, 2000).people[:500] == small.people
    assert World(8, 500).people != small.people


def test_people_have_the_documented_fields(world: World) -> None:
    countries = Counter(p.country for p in world.people)
    assert len(countries) >= 6
    slugs = set()
    for person in world.people[:500]:
        assert person.linkedin_url == f"https://www.linkedin.com/in/{person.linkedin_slug}"
        assert person.linkedin_slug == person.linkedin_slug.lower()
        assert person.work_email.endswith("@" + person.domain)
        assert "@" in person.personal_email and person.personal_email != person.work_email
        slugs.add(person.linkedin_slug)
    assert len(slugs) == 500


def test_lookups(world: World) -> None:
    person = world.people[42]
    slug = person.linkedin_slug
    for form in (person.linkedin_url, f"http://linkedin.com/in/{slug}/", f"linkedin.com/in/{slug.upper()}",
                 f"www.linkedin.com/in/{slug}?trk=x", slug, f"https://uk.linkedin.com/in/{slug}"):
        assert world.person_by_linkedin(form) == person, form
    assert world.person_by_linkedin("https://twitter.com/in/" + slug) is None
    assert world.person_by_email(person.work_email.upper()) == person
    assert world.person_by_email(person.personal_email) == person
    assert world.person_by_name_company(person.first_name.upper(), person.last_name, person.company.lower()) == person
    assert world.person_by_name_domain(person.first_name, person.last_name, f"https://www.{person.domain}/about") \
        == person
    assert world.person_by_slug(slug) == person
    assert world.person_by_slug(person.linkedin_url) is None


def test_vendor_coverage_is_deterministic_and_roughly_as_designed(world: World) -> None:
    people = world.people
    n = len(people)

    def share(vendor: str, predicate) -> float:
        return sum(1 for p in people if predicate(world.knowledge(vendor, p))) / n

    assert 0.40 < share("leadmagic", lambda k: k.mobile) < 0.50
    assert 0.31 < share("pronto", lambda k: k.mobile) < 0.39
    assert 0.65 < share("enrichlayer", lambda k: k.phones) < 0.75
    assert 0.35 < share("lantern", lambda k: k.phones) < 0.45
    assert 0.45 < share("crustdata", lambda k: k.phones) < 0.57
    assert share("leadmagic", lambda k: any(p.kind != "mobile" for p in k.phones)) == 0
    for p in people[:300]:
        k = world.knowledge("enrichlayer", p)
        if k.phones:
            assert k.phones[0].kind == "switchboard"
            kinds = [ph.kind for ph in k.phones]
            assert kinds == sorted(kinds, key=["switchboard", "office", "mobile"].index)
    again = World(7, 200)
    for vendor in VENDORS:
        assert [world.knowledge(vendor, p) for p in people[:200]] == \
            [again.knowledge(vendor, p) for p in again.people]


def test_helpers() -> None:
    assert dashed("+14155550123") == "+1-415-555-0123"
    assert dashed("+447400123456") == "+44-7400-123456"
    assert linkedin_slug("HTTPS://WWW.LINKEDIN.COM/IN/Jane-Doe/") == "jane-doe"
    assert linkedin_slug("https://example.com/in/x") is None
    assert linkedin_slug("") is None


def test_a_large_world_builds_and_finds_its_people() -> None:
    """How long it takes is measured in benchmarks/world_build.py."""
    big = World(7, 30_000)
    assert len(big) == 30_000
    last = big.people[-1]
    assert big.person_by_linkedin(last.linkedin_url) is last and big.person_by_email(last.work_email) is last
