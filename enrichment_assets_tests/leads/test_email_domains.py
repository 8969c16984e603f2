"""One free-mail list: the vendors' email kinds and company identity agree on what a mailbox provider is."""

from __future__ import annotations

import pytest

from enrichment_assets.leads.email_domains import FREE_MAIL_DOMAINS, email_domain, email_kind, is_free_mail
from enrichment_assets.phones.companies import company_key
from enrichment_assets.vendors import base


def test_vendors_and_company_identity_share_the_list() -> None:
    assert base.FREE_MAIL_DOMAINS is FREE_MAIL_DOMAINS
    assert base.email_kind is email_kind and base.is_free_mail is is_free_mail
    for domain in FREE_MAIL_DOMAINS:
        assert email_kind(f"jane@{domain}", "acme.io") == "personal", domain
        assert company_key("Acme Inc", domain) == "acme", domain  # the company name, not the mailbox


@pytest.mark.parametrize(("domain", "free"), [
    ("gmx.com", True), ("GMX.net", True), ("hotmail.fr", True), ("yahoo.co.uk", True), ("outlook.de", True),
    ("acme.io", False), ("gmxsolutions.com", False), (None, False), ("", False),
])
def test_is_free_mail(domain: str | None, free: bool) -> None:
    assert is_free_mail(domain) is free


def test_email_domain() -> None:
    assert email_domain("Jane@Acme.IO ") == "acme.io"
    assert email_domain("no-at-sign") is None and email_domain(None) is None and email_domain("jane@") is None
