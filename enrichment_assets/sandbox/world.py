"""A deterministic synthetic world of people, companies and phone numbers.

``World(seed=7, size=3000)`` always builds the same people; a larger world with
the same seed starts with the same people (person ``i`` depends only on the
seed and on persons ``0..i-1``), so a sample drawn from a small world is still
valid in a large one.

Phone numbers are real-looking and valid for libphonenumber: for every region
and line type the generator starts from ``phonenumbers.example_number_for_type``,
varies the digits before the last four until the number is valid and of the
right type (and, in NANP countries, never in the fictional 555 exchange), and
uses the resulting prefixes as a number space. Numbers are handed out through
a bijection of that space, so no two people share a mobile or an office line;
the switchboard is per company and shared by all its people.

Each vendor knows a different, deterministic part of the world
(``World.knowledge(vendor, person)``), drawn from a hash of seed, vendor and
person. How much of a country a vendor covers varies the way real vendors'
coverage does (``COVERAGE_TILT``): each is strong in its home market and weak
far from it, while the vendors that read professional profiles are even.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from urllib.parse import unquote, urlsplit

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

VENDORS: tuple[str, ...] = ("enrichlayer", "lantern", "crustdata", "leadmagic", "pronto")

# ---------------------------------------------------------------------------
# Countries
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CountryProfile:
    code: str
    weight: float
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    company_suffixes: tuple[str, ...]
    tlds: tuple[str, ...]
    personal_domains: tuple[str, ...]


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


COUNTRIES: tuple[CountryProfile, ...] = (
    CountryProfile(
        "US", 0.30,
        _names("James, Mary, Robert, Patricia, John, Jennifer, Michael, Linda, David, Elizabeth, William, "
               "Barbara, Richard, Susan, Joseph, Jessica, Thomas, Sarah, Christopher, Karen, Daniel, Lisa, "
               "Matthew, Nancy, Anthony, Betty, Mark, Ashley, Steven, Emily, Andrew, Kimberly, Tyler, Megan"),
        _names("Smith, Johnson, Williams, Brown, Jones, Garcia, Miller, Davis, Rodriguez, Martinez, Wilson, "
               "Anderson, Taylor, Thomas, Moore, Jackson, Martin, Lee, Thompson, White, Harris, Clark, Lewis, "
               "Robinson, Walker, Young, Allen, King, Wright, Scott, O'Connor, Nguyen, Patel, Kim"),
        ("Inc.", "LLC", "Corp.", "Inc", "Co."), ("com", "io", "ai", "co"),
        ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com"),
    ),
    CountryProfile(
        "CA", 0.07,
        _names("Liam, Olivia, Noah, Emma, Lucas, Charlotte, Benjamin, Amelia, Ethan, Chloe, Félix, Léa, "
               "Logan, Maya, Nathan, Zoé, Owen, Sophie, Samuel, Alice, Jacob, Florence, Gabriel, Rosalie"),
        _names("Tremblay, Gagnon, Roy, Côté, Bouchard, Gauthier, Morin, Lavoie, Fortin, Gagné, Ouellet, "
               "Pelletier, Bélanger, Lévesque, MacDonald, Campbell, Stewart, Wong, Singh, Chen, Anderson"),
        ("Inc.", "Ltd.", "Corp.", "Ltée"), ("ca", "com", "io"),
        ("gmail.com", "outlook.com", "yahoo.ca", "hotmail.com"),
    ),
    CountryProfile(
        "GB", 0.12,
        _names("Oliver, Amelia, George, Isla, Harry, Ava, Jack, Mia, Charlie, Ivy, Thomas, Lily, Oscar, "
               "Freya, William, Florence, James, Poppy, Henry, Grace, Alfie, Evie, Archie, Sophie"),
        _names("Smith, Jones, Taylor, Brown, Williams, Wilson, Johnson, Davies, Robinson, Wright, Thompson, "
               "Evans, Walker, White, Roberts, Green, Hall, Wood, Jackson, Clarke, Hughes, Edwards, Patel, Khan"),
        ("Ltd", "Limited", "plc", "Group Ltd"), ("co.uk", "com", "io", "uk"),
        ("gmail.com", "outlook.com", "hotmail.co.uk", "btinternet.com", "yahoo.co.uk"),
    ),
    CountryProfile(
        "DE", 0.10,
        _names("Lukas, Anna, Leon, Lea, Finn, Hannah, Jonas, Mia, Paul, Lena, Felix, Sophie, Maximilian, "
               "Laura, Elias, Marie, Jürgen, Katrin, Björn, Jörg, Sören, Sabine, Tobias, Ute"),
        _names("Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz, Hoffmann, "
               "Schäfer, Koch, Bauer, Richter, Klein, Wolf, Schröder, Neumann, Schwarz, Zimmermann, Braun, "
               "Krüger, Hofmann, Hartmann"),
        ("GmbH", "AG", "GmbH & Co. KG", "SE"), ("de", "com", "io"),
        ("gmail.com", "web.de", "gmx.de", "t-online.de", "outlook.de"),
    ),
    CountryProfile(
        "FR", 0.09,
        _names("Gabriel, Louise, Raphaël, Jade, Léo, Emma, Louis, Alice, Lucas, Chloé, Hugo, Léna, Jules, "
               "Inès, Arthur, Manon, François, Hélène, Élodie, Jérôme, Céline, Stéphane, Amélie, Benoît"),
        _names("Martin, Bernard, Dubois, Thomas, Robert, Richard, Petit, Durand, Leroy, Moreau, Simon, "
               "Laurent, Lefèvre, Michel, Garcia, David, Bertrand, Roux, Vincent, Fournier, Morel, Girard, "
               "Bonnet, Dupont"),
        ("SAS", "SA", "SARL"), ("fr", "com", "io"),
        ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net"),
    ),
    CountryProfile(
        "AU", 0.07,
        _names("Oliver, Charlotte, Noah, Olivia, Jack, Amelia, William, Isla, Leo, Mia, Lucas, Ava, Thomas, "
               "Grace, Henry, Willow, Liam, Harper, Ethan, Chloe, Mason, Zoe, Cooper, Ruby"),
        _names("Smith, Jones, Williams, Brown, Wilson, Taylor, Johnson, White, Martin, Anderson, Thompson, "
               "Nguyen, Thomas, Walker, Harris, Lee, Ryan, Robinson, Kelly, King, Davis, Wright, Evans, Roberts"),
        ("Pty Ltd", "Ltd", "Group"), ("com.au", "com", "io"),
        ("gmail.com", "bigpond.com", "outlook.com", "yahoo.com.au", "hotmail.com"),
    ),
    CountryProfile(
        "IN", 0.09,
        _names("Aarav, Ananya, Vivaan, Diya, Aditya, Saanvi, Vihaan, Aadhya, Arjun, Isha, Sai, Kavya, Rohan, "
               "Priya, Rahul, Sneha, Vikram, Pooja, Karan, Neha, Amit, Anjali, Sanjay, Deepika"),
        _names("Sharma, Verma, Gupta, Singh, Kumar, Patel, Reddy, Rao, Iyer, Nair, Menon, Joshi, Mehta, "
               "Shah, Desai, Kapoor, Malhotra, Chopra, Banerjee, Mukherjee, Chatterjee, Das, Pillai, Agarwal"),
        ("Pvt Ltd", "Private Limited", "Ltd", "Technologies"), ("in", "co.in", "com", "io"),
        ("gmail.com", "yahoo.co.in", "rediffmail.com", "outlook.com", "hotmail.com"),
    ),
    CountryProfile(
        "ES", 0.06,
        _names("Hugo, Lucía, Martín, Sofía, Pablo, María, Alejandro, Julia, Lucas, Paula, Álvaro, Valeria, "
               "Mateo, Emma, Daniel, Daniela, José, Carmen, Javier, Laura, Sergio, Marta, Jorge, Nuria"),
        _names("García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez, Gómez, Martín, "
               "Jiménez, Ruiz, Hernández, Díaz, Moreno, Muñoz, Álvarez, Romero, Alonso, Gutiérrez, Navarro, "
               "Torres, Domínguez, Vázquez"),
        ("S.L.", "S.A.", "SL"), ("es", "com", "io"),
        ("gmail.com", "hotmail.es", "yahoo.es", "outlook.es", "telefonica.net"),
    ),
    CountryProfile(
        "NL", 0.05,
        _names("Noah, Emma, Sem, Julia, Liam, Mila, Lucas, Tess, Daan, Sophie, Finn, Zoë, Levi, Sara, Luuk, "
               "Nora, Bram, Fleur, Jesse, Anna, Thijs, Lotte, Ruben, Eva"),
        _names("de Jong, Jansen, de Vries, van den Berg, van Dijk, Bakker, Janssen, Visser, Smit, Meijer, "
               "de Boer, Mulder, de Groot, Bos, Vos, Peters, Hendriks, van Leeuwen, Dekker, Brouwer, de Wit, "
               "Dijkstra, Smits, de Graaf"),
        ("B.V.", "BV", "N.V."), ("nl", "com", "io"),
        ("gmail.com", "hotmail.nl", "ziggo.nl", "kpnmail.nl", "outlook.com"),
    ),
    CountryProfile(
        "BR", 0.05,
        _names("Miguel, Helena, Arthur, Alice, Gael, Laura, Heitor, Maria, Theo, Valentina, Davi, Heloísa, "
               "Gabriel, Sophia, Bernardo, Manuela, João, Júlia, Lucas, Beatriz, Pedro, Luíza, Rafael, Lívia"),
        _names("Silva, Santos, Oliveira, Souza, Rodrigues, Ferreira, Alves, Pereira, Lima, Gomes, Costa, "
               "Ribeiro, Martins, Carvalho, Almeida, Lopes, Soares, Fernandes, Vieira, Barbosa, Rocha, Dias, "
               "Conceição, Araújo"),
        ("Ltda.", "S.A.", "Ltda"), ("com.br", "com", "io"),
        ("gmail.com", "hotmail.com", "uol.com.br", "bol.com.br", "yahoo.com.br"),
    ),
)
COUNTRY_CODES: tuple[str, ...] = tuple(c.code for c in COUNTRIES)
_COUNTRY_BY_CODE = {c.code: c for c in COUNTRIES}

#: How much more or less of a country's people a vendor has numbers for, relative to its world-wide share
#: (1 = its share everywhere; scaled below so that the world-wide share stays what each vendor's rules say).
#: No vendor publishes hit rates per country: the direction follows where each vendor is based and where its
#: data comes from, the size (about 2x between a vendor's home market and the far ones) follows public
#: waterfall comparisons (sources in enrichment_assets/sandbox/README.md, "Coverage by country").
#: LeadMagic, a US company whose mobiles come from US-centric sources, is strong in NANP and weak in the EU
#: (GDPR) and emerging markets; Pronto, a French company, is strong in FR and the rest of the EU and weak in
#: North America; Lantern leans to North America; Enrich Layer and Crustdata read professional (LinkedIn)
#: profiles and are even. Countries not listed: 1.
COVERAGE_TILT: dict[str, dict[str, float]] = {
    "leadmagic": {"US": 1.45, "CA": 1.3, "GB": 0.9, "AU": 0.95, "DE": 0.45, "FR": 0.4, "ES": 0.5, "NL": 0.55,
                  "IN": 0.5, "BR": 0.55},
    "pronto": {"US": 0.55, "CA": 0.65, "GB": 1.1, "AU": 0.7, "DE": 1.5, "FR": 1.9, "ES": 1.5, "NL": 1.4,
               "IN": 0.6, "BR": 0.8},
    "lantern": {"US": 1.2, "CA": 1.15, "GB": 1.0, "AU": 1.0, "DE": 0.8, "FR": 0.8, "ES": 0.8, "NL": 0.85,
                "IN": 0.85, "BR": 0.85},
}


def _coverage_factors() -> dict[str, dict[str, float]]:
    """``COVERAGE_TILT`` scaled so that its mean over the world's country weights is 1 for every vendor."""
    total = sum(c.weight for c in COUNTRIES)
    factors = {}
    for vendor, tilt in COVERAGE_TILT.items():
        mean = sum(c.weight * tilt.get(c.code, 1.0) for c in COUNTRIES) / total
        factors[vendor] = {c.code: tilt.get(c.code, 1.0) / mean for c in COUNTRIES}
    return factors


_COVERAGE = _coverage_factors()


def coverage_factor(vendor: str, country: str) -> float:
    """The multiplier of ``vendor``'s coverage in ``country`` (1 for an even vendor or an unknown country)."""
    return _COVERAGE.get(vendor, {}).get(country, 1.0)

_COMPANY_HEADS = _names(
    "Blue, Bright, North, Silver, Apex, Nova, Iron, Clear, Swift, Green, Red, Summit, Cedar, Harbor, Lumen, "
    "Vertex, Quantum, Pioneer, Atlas, Beacon, Crest, Falcon, Granite, Horizon, Juniper, Keystone, Maple, "
    "Orbit, Pine, Prism, Radiant, Sierra, Sterling, Tidal, Union, Vector, Willow, Zenith, Amber, Cobalt")
_COMPANY_TAILS = _names(
    "wave, peak, field, stone, bridge, point, gate, works, line, path, forge, light, scale, stack, leaf, "
    "core, base, loop, mark, shift, spark, sight, way, port, craft, grid, hub, flow, nest, rock")
_COMPANY_SECTORS = _names(
    "Analytics, Software, Logistics, Health, Capital, Robotics, Energy, Labs, Systems, Media, Foods, "
    "Security, Networks, Consulting, Bio, Payments, Cloud, Mobility, Materials, Learning")

# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def ascii_fold(text: str) -> str:
    """Lowercase ASCII letters and digits only: ``"Müller-Lüdenscheidt"`` -> ``"mullerludenscheidt"``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "", folded)


@lru_cache(maxsize=8192)
def _slug_part(text: str) -> str:
    """``"van den Berg"`` -> ``"van-den-berg"``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


_LINKEDIN_HOST = re.compile(r"^([a-z]{2,3}\.|www\.|m\.)?linkedin\.com$")


def linkedin_slug(value: str | None) -> str | None:
    """The profile slug of any common form of a LinkedIn URL or of a bare slug, lowercased; None if not one.

    Accepts ``https://www.linkedin.com/in/x``, ``http://linkedin.com/in/X/``,
    ``linkedin.com/in/x?trk=1``, ``uk.linkedin.com/in/x`` and ``x``.
    """
    if not value or not isinstance(value, str):
        return None
    raw = value.strip().strip("<>\"'")
    if not raw:
        return None
    lowered = raw.lower()
    if "/" not in lowered and "linkedin.com" not in lowered:
        slug = lowered
    else:
        if not re.match(r"^[a-z][a-z0-9+.\-]*://", lowered):
            lowered = "https://" + lowered.lstrip("/")
        try:
            parts = urlsplit(lowered)
        except ValueError:
            return None
        if not _LINKEDIN_HOST.match(parts.hostname or ""):
            return None
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 2 or segments[0] not in ("in", "pub"):
            return None
        slug = segments[1]
    slug = unquote(slug).strip()
    if not slug or not re.fullmatch(r"[a-z0-9][a-z0-9\-_%.]*", slug):
        return None
    return slug


def is_linkedin_profile_url(value: str | None) -> bool:
    """True for a LinkedIn profile URL in any common form (scheme and ``www.`` optional), not for a bare slug."""
    return bool(value) and "linkedin.com" in value.lower() and linkedin_slug(value) is not None


def canonical_linkedin_url(slug: str) -> str:
    """``x`` -> ``https://www.linkedin.com/in/x``."""
    return f"https://www.linkedin.com/in/{slug}"


@lru_cache(maxsize=200_000)
def dashed(e164: str) -> str:
    """``+14155550123`` -> ``+1-415-555-0123``; ``+447400123456`` -> ``+44-7400-123456`` (international groups)."""
    parsed = phonenumbers.parse(e164)
    return phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL).replace(" ", "-")


# ---------------------------------------------------------------------------
# Phone number spaces
# ---------------------------------------------------------------------------

SUFFIX_DIGITS = 4
_NANP_CC = 1
_SAMPLE_SUFFIXES = ("0000", "9999", "5678", "2917", "4061")
_MAX_PREFIXES = 120  # 1.2 million numbers per region and line type


def _accepted_types(region: str, kind: str) -> frozenset[int]:
    nanp = phonenumbers.country_code_for_region(region) == _NANP_CC
    wanted = PhoneNumberType.MOBILE if kind == "mobile" else PhoneNumberType.FIXED_LINE
    if nanp:
        return frozenset({wanted, PhoneNumberType.FIXED_LINE_OR_MOBILE})
    return frozenset({wanted})


def number_is_of_kind(e164: str, region: str, kind: str) -> bool:
    """Valid for libphonenumber, in ``region``, and of the line type ``kind`` (``mobile`` or ``fixed``)."""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return False
    return (phonenumbers.is_valid_number(parsed)
            and phonenumbers.region_code_for_number(parsed) == region
            and phonenumbers.number_type(parsed) in _accepted_types(region, kind))


def _nanp_prefix_ok(prefix: str) -> bool:
    # prefix = NPA (3) + NXX (3): the exchange must not be 555 (fictional), N11, or start with 0/1.
    exchange = prefix[3:6]
    return len(exchange) == 3 and exchange[0] not in "01" and exchange != "555" and exchange[1:] != "11"


@cache
def _candidate_prefixes(region: str, kind: str) -> tuple[str, ...]:
    """National-number prefixes whose every 4-digit completion is valid and of the right type.

    Starts from the region's example number and varies the digits before the
    last four (two of them, three for NANP so that the whole exchange varies);
    when the example's own range does not give the strict type (India's example
    fixed line is FIXED_LINE_OR_MOBILE), the leading digits of the example are
    varied too. The completions are checked on a fixed sample; the test-suite
    checks every number a world hands out.
    """
    cc = phonenumbers.country_code_for_region(region)
    ptype = PhoneNumberType.MOBILE if kind == "mobile" else PhoneNumberType.FIXED_LINE
    example = phonenumbers.example_number_for_type(region, ptype)
    nsn = phonenumbers.national_significant_number(example)
    nanp = cc == _NANP_CC
    vary = 3 if nanp else 2
    length = len(nsn)
    stem_len = length - SUFFIX_DIGITS - vary
    bases = [nsn] + [f"{lead}{nsn[2:]}" for lead in range(10, 100)]
    for base in bases:
        stem = base[:stem_len]
        found: list[str] = []
        for variant in range(10 ** vary):
            prefix = stem + str(variant).zfill(vary)
            if nanp and not _nanp_prefix_ok(prefix):
                continue
            if all(number_is_of_kind(f"+{cc}{prefix}{s}", region, kind) for s in _SAMPLE_SUFFIXES):
                found.append(prefix)
                if len(found) >= _MAX_PREFIXES:
                    break
        if len(found) >= 10:
            return tuple(found)
    raise RuntimeError(f"no usable {kind} number range for {region}")


@dataclass(frozen=True)
class NumberSpace:
    """A bijection from serial numbers ``0..capacity-1`` to distinct E.164 numbers."""

    country_code: int
    prefixes: tuple[str, ...]
    multiplier: int
    offset: int
    capacity: int

    def number(self, serial: int) -> str:
        if not 0 <= serial < self.capacity:
            raise ValueError(f"number space exhausted (capacity {self.capacity})")
        prefix, suffix = divmod((serial * self.multiplier + self.offset) % self.capacity, 10 ** SUFFIX_DIGITS)
        return f"+{self.country_code}{self.prefixes[prefix]}{suffix:0{SUFFIX_DIGITS}d}"


@cache
def _region_prefixes(region: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(mobile prefixes, fixed-line prefixes), disjoint (NANP shares one range: split alternately)."""
    mobile = _candidate_prefixes(region, "mobile")
    fixed = _candidate_prefixes(region, "fixed")
    shared = set(mobile) & set(fixed)
    if shared:
        ordered = sorted(shared)
        to_mobile = set(ordered[0::2])
        mobile = tuple(p for p in mobile if p not in shared or p in to_mobile)
        fixed = tuple(p for p in fixed if p not in shared or p not in to_mobile)
    return mobile, fixed


def _space(region: str, kind: str, seed: int) -> NumberSpace:
    mobile, fixed = _region_prefixes(region)
    prefixes = mobile if kind == "mobile" else fixed
    capacity = len(prefixes) * 10 ** SUFFIX_DIGITS
    rng = random.Random(f"{seed}:{region}:{kind}:numbers")
    multiplier = rng.randrange(capacity // 3, capacity)
    while math.gcd(multiplier, capacity) != 1:
        multiplier += 1
    return NumberSpace(phonenumbers.country_code_for_region(region), prefixes, multiplier,
                       rng.randrange(capacity), capacity)


# ---------------------------------------------------------------------------
# People and companies
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Company:
    company_id: int
    name: str
    domain: str
    country: str
    switchboard: str
    email_pattern: int


@dataclass(frozen=True, slots=True)
class Person:
    person_id: int
    first_name: str
    last_name: str
    company: str
    domain: str
    country: str
    linkedin_url: str
    work_email: str
    personal_email: str
    mobile: str
    office: str
    switchboard: str
    company_id: int = 0

    @property
    def linkedin_slug(self) -> str:
        return self.linkedin_url.rsplit("/", 1)[-1]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True, slots=True)
class Phone:
    """A number a vendor knows for a person; ``kind`` is ``mobile``, ``office`` or ``switchboard``."""

    e164: str
    kind: str


@dataclass(frozen=True, slots=True)
class Knowledge:
    """What one vendor knows about one person.

    ``profile``: the vendor has the person at all (Enrich Layer 404s, Crustdata
    answers ``matches: []`` otherwise). ``phones`` in the vendor's storage
    order. ``work_email`` / ``personal_email``: found by the vendor, with a
    deliverability ``*_status``. ``websites``: Crustdata only.
    """

    vendor: str
    profile: bool
    phones: tuple[Phone, ...] = ()
    work_email: str | None = None
    work_email_status: str | None = None
    personal_email: str | None = None
    personal_email_status: str | None = None
    linkedin_slug: str | None = None
    websites: tuple[str, ...] = ()
    phone_objects: bool = False

    @property
    def mobile(self) -> str | None:
        return next((p.e164 for p in self.phones if p.kind == "mobile"), None)


@lru_cache(maxsize=65_536)
def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _norm_key(first: str, last: str, org: str) -> tuple[str, str, str]:
    return _fold(first), _fold(last), _fold(org)


_EMAIL_PATTERNS = 5
#: Share of people who join a company where a colleague already has their first and last name (large companies
#: have namesakes; a vendor matching by name + company cannot tell them apart).
NAMESAKE_SHARE = 0.012
_COMPANY_SIZES = (2, 2, 3, 3, 4, 5, 6, 8, 12)


def _email_local(first: str, last: str, pattern: int) -> str:
    f, l = ascii_fold(first), ascii_fold(last)  # noqa: E741
    return [f"{f}.{l}", f"{f[:1]}{l}", f, f"{f}_{l}", f"{f}{l[:1]}"][pattern]


def _draw_company_name(rng: random.Random, profile: CountryProfile) -> tuple[str, str]:
    head, tail = rng.choice(_COMPANY_HEADS), rng.choice(_COMPANY_TAILS)
    sector = rng.choice(_COMPANY_SECTORS)
    style = rng.random()
    if style < 0.4:
        base, domain_base = f"{head}{tail} {sector}", f"{head}{tail}{sector}".lower()
    elif style < 0.7:
        base, domain_base = f"{head}{tail}", f"{head}{tail}".lower()
    else:
        base, domain_base = f"{head} {sector}", f"{head}-{sector}".lower()
    name = f"{base} {rng.choice(profile.company_suffixes)}" if rng.random() < 0.75 else base
    return name, f"{domain_base}.{rng.choice(profile.tlds)}"


class World:
    """The people every vendor of the sandbox knows something about.

    Build cost is a few microseconds per person (no phone validation at build
    time), so 100,000+ people take about a second.
    """

    DEFAULT_SIZE = 3000

    def __init__(self, seed: int = 7, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("world size must be at least 1")
        self.seed = seed
        self.size = size
        self.people: list[Person] = []
        self.companies: list[Company] = []
        self._by_slug: dict[str, Person] = {}
        self._by_email: dict[str, Person] = {}
        self._by_name_company: dict[tuple[str, ...], Person] = {}
        self._by_name_domain: dict[tuple[str, ...], Person] = {}
        self._company_people: dict[int, list[Person]] = {}
        self._build()

    # -- construction ------------------------------------------------------

    def _build(self) -> None:
        rng = random.Random(f"{self.seed}:world")
        spaces = {c: (_space(c, "mobile", self.seed), _space(c, "fixed", self.seed)) for c in COUNTRY_CODES}
        cum_weights = list(itertools.accumulate(c.weight for c in COUNTRIES))
        open_company: dict[str, list] = {}  # country -> [company, seats left, names taken]
        region_people: dict[str, int] = dict.fromkeys(COUNTRY_CODES, 0)
        region_companies: dict[str, int] = dict.fromkeys(COUNTRY_CODES, 0)
        domains: set[str] = set()
        emails: set[str] = set()
        random_ = rng.random

        for pid in range(self.size):
            profile = COUNTRIES[bisect.bisect(cum_weights, random_() * cum_weights[-1])]
            country = profile.code
            mobile_space, fixed_space = spaces[country]
            seat = open_company.get(country)
            if seat is None or seat[1] <= 0:
                name, domain = _draw_company_name(rng, profile)
                stem, _, tld = domain.partition(".")
                n = 2
                while domain in domains:
                    domain = f"{stem}{n}.{tld}"
                    n += 1
                domains.add(domain)
                # Switchboards take fixed-line serials from the top of the space, offices from the bottom.
                region_companies[country] += 1
                company = Company(len(self.companies), name, domain, country,
                                  fixed_space.number(fixed_space.capacity - region_companies[country]),
                                  rng.randrange(_EMAIL_PATTERNS))
                self.companies.append(company)
                self._company_people[company.company_id] = []
                seat = open_company[country] = [company, rng.choice(_COMPANY_SIZES), set()]
            company, _, names_taken = seat
            seat[1] -= 1

            while True:
                first, last = rng.choice(profile.first_names), rng.choice(profile.last_names)
                if (first, last) not in names_taken:
                    break
            if names_taken and self._is_namesake(pid):
                # Drawn apart from ``rng`` so that everyone else is who they were before namesakes existed.
                first, last = self._namesake_of(pid, names_taken)
            names_taken.add((first, last))

            slug = self._unique_slug(rng, first, last)
            work_email = self._unique_email(_email_local(first, last, company.email_pattern), company.domain,
                                            emails)
            f, l = ascii_fold(first), ascii_fold(last)  # noqa: E741
            personal_local = (f"{f}.{l}{rng.randrange(10, 100)}" if random_() < 0.5
                              else f"{f}{l}{rng.randrange(60, 100)}")
            personal_email = self._unique_email(personal_local, rng.choice(profile.personal_domains), emails)

            index_in_region = region_people[country]
            region_people[country] += 1
            if region_people[country] + region_companies[country] > fixed_space.capacity:
                raise ValueError(f"world too large for the {country} number space")
            person = Person(pid, first, last, company.name, company.domain, country,
                            canonical_linkedin_url(slug), work_email, personal_email,
                            mobile_space.number(index_in_region), fixed_space.number(index_in_region),
                            company.switchboard, company.company_id)
            self.people.append(person)
            self._company_people[company.company_id].append(person)
            self._by_slug[slug] = person
            self._by_email[work_email] = person
            self._by_email[personal_email] = person
            # A namesake at the same company: a lookup by name finds the one on file first.
            self._by_name_company.setdefault(_norm_key(first, last, company.name), person)
            self._by_name_domain.setdefault(_norm_key(first, last, company.domain), person)

    def _hash_draw(self, salt: str, person_id: int) -> int:
        digest = hashlib.blake2b(f"{self.seed}|world|{salt}|{person_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def _is_namesake(self, person_id: int) -> bool:
        return self._hash_draw("namesake", person_id) / 2 ** 64 < NAMESAKE_SHARE

    def _namesake_of(self, person_id: int, names_taken: set[tuple[str, str]]) -> tuple[str, str]:
        names = sorted(names_taken)
        return names[self._hash_draw("namesake_of", person_id) % len(names)]

    def namesakes(self, person: Person) -> list[Person]:
        """The others at the person's company with the same first and last name."""
        key = _norm_key(person.first_name, person.last_name, person.company)
        return [p for p in self.colleagues(person)
                if p.person_id != person.person_id and _norm_key(p.first_name, p.last_name, p.company) == key]

    def _unique_slug(self, rng: random.Random, first: str, last: str) -> str:
        f, l = _slug_part(first), _slug_part(last)  # noqa: E741
        style = rng.random()
        if style < 0.55:
            slug = f"{f}-{l}-{rng.getrandbits(32):08x}"
        elif style < 0.80:
            slug = f"{f}{l}".replace("-", "")
        elif style < 0.90:
            slug = f"{f[:1]}{l.replace('-', '')}{rng.randrange(1, 100)}"
        else:
            slug = f"{f}-{l}"
        candidate, n = slug, 2
        while candidate in self._by_slug:
            candidate = f"{slug}-{n}"
            n += 1
        return candidate

    @staticmethod
    def _unique_email(local: str, domain: str, taken: set[str]) -> str:
        email, n = f"{local}@{domain}", 2
        while email in taken:
            email = f"{local}{n}@{domain}"
            n += 1
        taken.add(email)
        return email

    # -- lookups -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.people)

    def person(self, person_id: int) -> Person:
        return self.people[person_id]

    def person_by_linkedin(self, url_or_slug: str | None) -> Person | None:
        slug = linkedin_slug(url_or_slug)
        return self._by_slug.get(slug) if slug else None

    def person_by_slug(self, slug: str | None) -> Person | None:
        """Exact slug lookup (case-insensitive): a URL is not a slug and matches nothing."""
        if not slug or not isinstance(slug, str):
            return None
        return self._by_slug.get(slug.strip().strip("/").lower())

    def person_by_email(self, email: str | None) -> Person | None:
        if not email or not isinstance(email, str):
            return None
        return self._by_email.get(email.strip().lower())

    def person_by_name_company(self, first: str | None, last: str | None, company: str | None) -> Person | None:
        if not (first and last and company):
            return None
        return self._by_name_company.get(_norm_key(first, last, company))

    def person_by_name_domain(self, first: str | None, last: str | None, domain: str | None) -> Person | None:
        if not (first and last and domain):
            return None
        host = domain.strip().lower()
        if "//" in host or "/" in host:
            host = urlsplit(host if "//" in host else f"http://{host}").hostname or ""
        host = host.removeprefix("www.")
        return self._by_name_domain.get(_norm_key(first, last, host))

    def company_people(self, company_id: int) -> list[Person]:
        """Everyone at the company, in world order."""
        return list(self._company_people[company_id])

    def colleagues(self, person: Person) -> list[Person]:
        """Everyone at the person's company, the person included."""
        return self.company_people(person.company_id)

    # -- vendor knowledge -------------------------------------------------------

    def _u(self, vendor: str, salt: str, person_id: int) -> float:
        digest = hashlib.blake2b(f"{self.seed}|{vendor}|{salt}|{person_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2 ** 64

    def draw(self, vendor: str, salt: str, person: Person) -> float:
        """A uniform draw in [0, 1) fixed by the seed, the vendor, ``salt`` and the person."""
        return self._u(vendor, salt, person.person_id)

    def knowledge(self, vendor: str, person: Person) -> Knowledge:
        """What ``vendor`` knows about ``person`` (deterministic in seed, vendor and person)."""
        u = lambda salt: self._u(vendor, salt, person.person_id)  # noqa: E731
        mobile, office, board = (Phone(person.mobile, "mobile"), Phone(person.office, "office"),
                                 Phone(person.switchboard, "switchboard"))
        tilt = coverage_factor(vendor, person.country)
        if vendor == "leadmagic":
            # Mobiles only, ~45% of people (more in North America, fewer in Europe: COVERAGE_TILT).
            return Knowledge(vendor, True, (mobile,) if u("mobile") < 0.45 * tilt else ())
        if vendor == "pronto":
            # ~35% mobiles (a quarter of them with the office line too), ~8% office line only (more in Europe).
            roll = u("phone")
            if roll < 0.35 * tilt:
                phones: tuple[Phone, ...] = (mobile, office) if u("office") < 0.25 else (mobile,)
            elif roll < 0.43 * tilt:
                phones = (office,)
            else:
                phones = ()
            email = person.work_email if u("email") < 0.80 else None
            personal = person.personal_email if u("personal_email") < 0.40 else None
            return Knowledge(
                vendor,
                True,
                phones,
                work_email=email,
                work_email_status=None
                if email is None
                else ("catch-all" if u("email_status") < 0.2 else "deliverable"),
                personal_email=personal,
                personal_email_status=None if personal is None else "valid",
                phone_objects=u("shape") < 0.5,
            )
        if vendor == "enrichlayer":
            # ~70% of profiles have numbers: switchboard and office first, then the mobile for ~60% of them;
            # ~18% of profiles are known without numbers; ~12% are unknown (404).
            roll = u("profile")
            if roll >= 0.88:
                return Knowledge(vendor, False)
            if roll >= 0.70:
                return Knowledge(vendor, True)
            numbers = [board]
            if u("office") < 0.75:
                numbers.append(office)
            if u("mobile") < 0.60:
                numbers.append(mobile)
            return Knowledge(vendor, True, tuple(numbers))
        if vendor == "lantern":
            # ~40% one phone (a bit more in North America): the mobile (60%) or the office line.
            phones = ()
            if u("phone") < 0.40 * tilt:
                phones = (mobile,) if u("kind") < 0.6 else (office,)
            return Knowledge(
                vendor, True, phones,
                work_email=person.work_email if u("email") < 0.7 else None,
                linkedin_slug=person.linkedin_slug if u("linkedin") < 0.8 else None,
            )
        if vendor == "crustdata":
            # ~85% matched; of those ~60% with phones (mobile and office 45%, mobile 40%, office 15%).
            if u("match") >= 0.85:
                return Knowledge(vendor, False)
            phones = ()
            if u("phone") < 0.60:
                kind = u("kind")
                phones = (mobile, office) if kind < 0.45 else (mobile,) if kind < 0.85 else (office,)
            status_roll = u("email_status")
            work_status = "deliverable" if status_roll < 0.7 else "catch_all" if status_roll < 0.9 else "unknown"
            has_work = u("business_email") < 0.85
            has_personal = u("personal_email") < 0.45
            return Knowledge(
                vendor, True, phones,
                work_email=person.work_email if has_work else None,
                work_email_status=work_status if has_work else None,
                personal_email=person.personal_email if has_personal else None,
                personal_email_status="deliverable" if has_personal else None,
                websites=(f"https://{person.domain}",) if u("website") < 0.5 else (),
            )
        raise ValueError(f"unknown vendor {vendor!r}")

    def crustdata_person_id(self, person: Person) -> int:
        return 1_000_000 + person.person_id * 7 + self.seed % 7
