"""Free-mail domains: the one list that says whether an email (or a "company domain") belongs to a mailbox
provider rather than an employer.

Vendor requests use it to send an email as ``work_email`` or ``personal_email``; company identity
(``phones/companies.py``) uses it so that two people with a gmail.com "website" are not colleagues.
"""

from __future__ import annotations

__all__ = ["FREE_MAIL_BRANDS", "FREE_MAIL_DOMAINS", "email_domain", "email_kind", "is_free_mail"]

#: Mailbox providers: an address there says nothing about the person's employer.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "126.com", "163.com", "aol.com", "att.net", "bluewin.ch", "bol.com.br", "btinternet.com",
        "comcast.net", "cox.net", "daum.net", "fastmail.com", "free.fr", "freenet.de", "gmail.com", "gmx.com",
        "gmx.de", "gmx.net", "googlemail.com", "hanmail.net", "hey.com", "hotmail.com", "icloud.com",
        "interia.pl", "kpnmail.nl", "laposte.net", "libero.it", "live.com", "mac.com", "mail.com", "mail.ru",
        "me.com", "msn.com", "naver.com", "o2.pl", "orange.fr", "outlook.com", "pm.me", "proton.me",
        "protonmail.com", "qq.com", "rediffmail.com", "rocketmail.com", "sbcglobal.net", "seznam.cz", "sfr.fr",
        "sina.com", "sky.com", "skynet.be", "t-online.de", "telenet.be", "terra.com.br", "tuta.io",
        "tutanota.com", "uol.com.br", "verizon.net", "virgilio.it", "wanadoo.fr", "web.de", "wp.pl",
        "yahoo.com", "yandex.com", "yandex.ru", "ymail.com", "ziggo.nl", "zoho.com", "zohomail.com",
    }
)  # fmt: skip

#: Free-mail brands that exist under many country domains (yahoo.co.uk, hotmail.fr, outlook.de, ...).
FREE_MAIL_BRANDS: frozenset[str] = frozenset(
    {"gmail", "yahoo", "hotmail", "outlook", "live", "aol", "gmx", "yandex", "icloud"}
)


def email_domain(email: str | None) -> str | None:
    """The lowercased domain of an email address, ``None`` without one."""
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


def is_free_mail(domain: str | None) -> bool:
    """True for a mailbox provider's domain (``gmail.com``, ``gmx.com``, ``yahoo.co.uk``)."""
    if not domain:
        return False
    domain = domain.lower()
    return domain in FREE_MAIL_DOMAINS or domain.split(".", 1)[0] in FREE_MAIL_BRANDS


def _same_or_subdomain(a: str, b: str) -> bool:
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def email_kind(email: str | None, company_domain: str | None) -> str | None:
    """``"work"`` or ``"personal"`` (``None`` without a usable email).

    The company's own domain (or a subdomain of it) is work; a free-mail domain is personal;
    any other domain is taken as work (a corporate alias or a sister company's domain).
    """
    domain = email_domain(email)
    if domain is None:
        return None
    if company_domain and _same_or_subdomain(domain, company_domain.lower()):
        return "work"
    if is_free_mail(domain):
        return "personal"
    return "work"
