from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrichment_assets.leads.normalize import (
    InvalidField,
    canonical_header,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_linkedin,
    normalize_row,
)


@pytest.mark.parametrize(
    "value",
    [
        "https://www.linkedin.com/in/jane-doe",
        "http://linkedin.com/in/jane-doe",
        "linkedin.com/in/jane-doe/",
        "www.linkedin.com/in/Jane-Doe?trk=public_profile",
        "  https://uk.linkedin.com/in/jane-doe/  ",
        "jane-doe",
        "JANE-DOE",
        "https://www.linkedin.com/in/jane-doe/details/experience/",
    ],
)
def test_linkedin_forms_become_canonical(value: str) -> None:
    assert normalize_linkedin(value) == "https://www.linkedin.com/in/jane-doe"


@pytest.mark.parametrize("value", ["https://example.com/in/x", "linkedin.com/company/acme", "linkedin.com/in/",
                                   "a b c"])
def test_bad_linkedin_is_rejected(value: str) -> None:
    with pytest.raises(InvalidField):
        normalize_linkedin(value)


def test_email_lowercased_and_checked() -> None:
    assert normalize_email("  Jane.Doe@ACME.io ") == "jane.doe@acme.io"
    assert normalize_email("") is None
    with pytest.raises(InvalidField, match="email"):
        normalize_email("jane@@acme")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("https://www.Acme.io/about?x=1", "acme.io"), ("acme.co.uk", "acme.co.uk"), ("WWW.ACME.DE/", "acme.de"),
     ("http://shop.acme.com:8080", "shop.acme.com")],
)
def test_domain_from_website(value: str, expected: str) -> None:
    assert normalize_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("US", "US"), ("us", "US"), ("United States", "US"), ("USA", "US"), ("uk", "GB"), ("Germany", "DE"),
     ("Deutschland", "DE"), ("FRA", "FR"), ("", None), (None, None)],
)
def test_country_to_iso2(value: str | None, expected: str | None) -> None:
    assert normalize_country(value) == expected


def test_unknown_country_rejected() -> None:
    with pytest.raises(InvalidField, match="country"):
        normalize_country("Atlantis")


@pytest.mark.parametrize(
    ("header", "canonical"),
    [("ID", "record_id"), ("Record ID", "record_id"), ("FirstName", "first_name"), ("Company Name", "company"),
     ("company_domain", "domain"), ("Website", "domain"), ("Work Email", "email"), ("LinkedIn", "linkedin_url"),
     ("profile_url", "linkedin_url"), ("linkedin_id", "linkedin_url"), ("\ufeffid", "record_id")],
)
def test_header_aliases(header: str, canonical: str) -> None:
    assert canonical_header(header) == canonical


def test_valid_lead_needs_an_identifier() -> None:
    assert normalize_row({"record_id": "1", "linkedin_url": "jane-doe"}).linkedin_url
    assert normalize_row({"record_id": "2", "email": "a@b.io"}).email == "a@b.io"
    assert normalize_row({"record_id": "3", "first_name": "A", "last_name": "B", "company": "C"}).company == "C"
    with pytest.raises(InvalidField, match="nothing to look up"):
        normalize_row({"record_id": "4", "first_name": "A", "company": "C"})
    with pytest.raises(InvalidField, match="missing record_id"):
        normalize_row({"email": "a@b.io"})


def test_formula_injection_is_quarantined() -> None:
    with pytest.raises(InvalidField, match="formula"):
        normalize_row({"record_id": "1", "first_name": "=cmd|' /C calc'!A0", "last_name": "x", "company": "y"})


#: The fingerprint earlier versions stored for this lead. ``waterfall_walks`` keeps it per lead: if the
#: fingerprint of an unchanged lead changes, every lead of every list is walked again on the next run.
STORED_FINGERPRINT = "02364f54d80786d8d27e0f7a5c6b345e"


def test_fingerprint_is_stable_and_sensitive() -> None:
    a = normalize_row({"record_id": "1", "email": "A@B.io", "first_name": " Ann "})
    b = normalize_row({"record_id": "9", "email": "a@b.io", "first_name": "Ann"})
    c = normalize_row({"record_id": "1", "email": "a@c.io", "first_name": "Ann"})
    assert a.fingerprint == b.fingerprint == STORED_FINGERPRINT  # record_id is not an identifier of the person
    assert a.fingerprint != c.fingerprint


BASE_ROW = {"record_id": "1", "first_name": "Ann", "last_name": "Lee", "company": "Acme", "domain": "acme.io",
            "email": "ann@acme.io", "linkedin_url": "ann-lee", "country": "DE"}


@pytest.mark.parametrize(("field", "other"), [
    ("first_name", "Anna"), ("last_name", "Li"), ("company", "Acme 2"), ("domain", "acme.de"),
    ("email", "ann.lee@acme.io"), ("linkedin_url", "ann-lee-2"), ("country", "FR"),
])
def test_fingerprint_changes_with_each_identifying_field(field: str, other: str) -> None:
    """Any field a vendor is asked with changes the fingerprint: the lead is walked again."""
    base = normalize_row(BASE_ROW)
    changed = normalize_row({**BASE_ROW, field: other})
    assert changed.fingerprint != base.fingerprint
    assert normalize_row({**BASE_ROW, "record_id": "2"}).fingerprint == base.fingerprint
    # Spelling that normalization removes is not a change.
    assert normalize_row({**BASE_ROW, "email": " ANN@ACME.IO ", "linkedin_url": "https://linkedin.com/in/ann-lee/"}
                         ).fingerprint == base.fingerprint


_COLUMNS = ["record_id", "first_name", "last_name", "full_name", "company", "domain", "email", "linkedin_url",
            "country"]
_field = st.one_of(st.none(), st.text(max_size=60), st.sampled_from(
    ["jane-doe", "linkedin.com/in/x", "a@b.io", "US", "acme.io", "=1+1", " ", "\x00", "\udcff"]))


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional=dict.fromkeys(_COLUMNS, _field)))
def test_any_row_normalizes_or_is_rejected_with_a_reason(row: dict) -> None:
    try:
        lead = normalize_row(row)
    except InvalidField as exc:
        reason = str(exc)
        # A rejection names the field at fault, or says what the row lacks.
        assert any(name in reason for name in (*_COLUMNS, "nothing to look up")), reason
    else:
        assert lead.record_id
        assert lead.linkedin_url or lead.email or (lead.first_name and lead.last_name and (lead.company or lead.domain))
        assert lead.linkedin_url is None or (lead.linkedin_url.startswith("https://www.linkedin.com/in/")
                                             and normalize_linkedin(lead.linkedin_url) == lead.linkedin_url)
        assert lead.email is None or (lead.email == lead.email.lower() and normalize_email(lead.email) == lead.email)
        assert lead.country is None or (len(lead.country) == 2 and lead.country.isupper())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=97, max_codepoint=122) | st.sampled_from("-0123456789"),
               min_size=1, max_size=40),
       st.sampled_from(["https://www.linkedin.com/in/{}", "http://linkedin.com/in/{}/", "www.linkedin.com/in/{}?a=b",
                        "linkedin.com/in/{}", "{}"]))
def test_linkedin_every_form_of_a_slug_agrees(slug: str, form: str) -> None:
    assert normalize_linkedin(form.format(slug.upper())) == f"https://www.linkedin.com/in/{slug}"
