"""The one masking module: phones show their last two digits only, emails their first letter and domain."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrichment_assets.masking import mask_email, mask_phone, mask_sensitive, scrub_secrets
from enrichment_assets_tests.phones.helpers import REGIONS, mobile_of

KEY = "sk_live_ZZTOPSECRET_7f3a9c1e"


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+4915123456789", "•••••••••••89"),
        ("+12015550123", "•••••••••23"),
        ("+1-201-555-0123", "•••••••••23"),
        ("+1-555-0100", "••••••00"),
        ("+44 7400 123456", "••••••••••56"),
        ("+12015550123 ext. 77", "•••••••••23"),
        ("+12015550123 x77", "•••••••••23"),
        ("2015550123", "••••••••23"),
        ("12345", "•••••"),
        ("12", "••"),
        ("", ""),
        (None, ""),
        (4915123456789, ""),
    ],
)
def test_mask_phone(value: object, masked: str) -> None:
    assert mask_phone(value) == masked


def test_mask_phone_never_shows_more_than_the_last_two_digits() -> None:
    for region in REGIONS:
        number = mobile_of(region)
        masked = mask_phone(number)
        assert [c for c in masked if c.isdigit()] == list(number[-2:])
        assert str(phonenumbers.parse(number).country_code) not in masked.rstrip("0123456789")


@given(st.text(alphabet="+0123456789 -().x#;ext=tel:/٣", max_size=40))
def test_mask_phone_shows_at_most_two_digits_of_anything(value: str) -> None:
    assert sum(c.isdigit() for c in mask_phone(value)) <= 2


def test_mask_email() -> None:
    assert mask_email("jane.doe@acme.io") == "j•••@acme.io"
    assert mask_email("not-an-email") == "•••"
    assert mask_email(None) == "" and mask_email("") == ""


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("lookup failed for jane.doe@acme.io", "jane.doe"),
        ("number +1 (415) 555-0123 is invalid", "555-0123"),
        ("got +14155550123 twice", "4155550123"),
        ("GET https://x.test/api?profile_url=https%3A%2F%2Fwww.linkedin.com%2Fin%2Fjane-doe&page_size=3", "jane-doe"),
        ("profile https://www.linkedin.com/in/jane-doe-4711 not found", "jane-doe"),
        (f"Bearer {KEY} rejected", "ZZTOPSECRET"),
        ("key sk_live_ZZTOPSECRET_7f3a9c1e%21 url-encoded", "ZZTOPSECRET"),
    ],
)
def test_mask_sensitive(text: str, leaked: str) -> None:
    assert leaked not in mask_sensitive(text, (KEY, KEY + "!"))


def test_mask_sensitive_keeps_useful_text() -> None:
    assert mask_sensitive("ConnectError: [Errno 111] Connection refused 127.0.0.1:8000") == (
        "ConnectError: [Errno 111] Connection refused 127.0.0.1:8000"
    )
    assert mask_sensitive("j.doe@acme.io") == "j•••@acme.io"
    assert mask_sensitive("+14155550123") == "•••••••••23"
    assert mask_sensitive("3 retries in 2026") == "3 retries in 2026"


def test_scrub_secrets_reaches_into_json_and_ignores_short_secrets() -> None:
    body = {"a": [f"x {KEY} y", {"b": KEY}], "n": 3}
    assert scrub_secrets(body, (KEY,)) == {"a": ["x ••• y", {"b": "•••"}], "n": 3}
    assert scrub_secrets("abc", ("ab",)) == "abc"
