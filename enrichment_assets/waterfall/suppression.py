"""The do-not-contact list (ENRICHMENT_SUPPRESSION): who is never sent to a vendor, which numbers are never chosen."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from enrichment_assets.leads.model import Lead
from enrichment_assets.leads.normalize import (
    InvalidField,
    map_headers,
    normalize_email,
    normalize_linkedin,
    normalize_record_id,
)
from enrichment_assets.phones.parse import parse_phone
from enrichment_assets.storage.step_state import stable_digest


class SuppressionError(ValueError):
    """The suppression file exists but cannot be read."""


@dataclass
class Suppression:
    record_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    linkedin_urls: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    skipped_rows: int = 0

    def matches(self, lead: Lead) -> bool:
        return (lead.record_id in self.record_ids
                or (lead.email is not None and lead.email in self.emails)
                or (lead.linkedin_url is not None and lead.linkedin_url in self.linkedin_urls))

    def digest(self) -> str:
        """Changes whenever the list's entries change (whatever order the file lists them in)."""
        return stable_digest(sorted(self.record_ids), sorted(self.emails), sorted(self.linkedin_urls),
                             sorted(self.phones))

    def __len__(self) -> int:
        return len(self.record_ids) + len(self.emails) + len(self.linkedin_urls) + len(self.phones)


def load_suppression(path: Path) -> Suppression:
    """Read the CSV (columns any of record_id, email, linkedin_url, phone); a missing file suppresses nobody."""
    result = Suppression()
    if not path.exists():
        return result
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            headers = next(reader, [])
            mapping = map_headers(headers)
            phone_index = next((i for i, h in enumerate(headers) if h.strip().lower() in ("phone", "e164",
                                                                                       "phone_number")), None)
            for row in reader:
                def value(col: str, row: list[str] = row) -> str | None:
                    index = mapping.get(col)
                    return row[index] if index is not None and index < len(row) else None

                try:
                    if rid := normalize_record_id(value("record_id")):
                        result.record_ids.add(rid)
                    if email := normalize_email(value("email")):
                        result.emails.add(email)
                    if url := normalize_linkedin(value("linkedin_url")):
                        result.linkedin_urls.add(url)
                except InvalidField:
                    result.skipped_rows += 1
                if phone_index is not None and phone_index < len(row) and row[phone_index].strip():
                    parsed = parse_phone(row[phone_index], ())
                    if parsed.e164:
                        result.phones.add(parsed.e164)
                    else:
                        result.skipped_rows += 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SuppressionError(f"{path}: cannot read the suppression list ({exc})") from None
    return result
