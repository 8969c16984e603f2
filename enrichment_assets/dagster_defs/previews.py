"""Markdown tables for materialization metadata (previews, per-provider figures), built one way.

A column says what it holds, and the holding decides what is shown: a phone number, an email or a record id
(which some CRMs fill with an email or a LinkedIn URL) goes through ``enrichment_assets.masking``, so a preview
cannot show one in full by forgetting to mask it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from enrichment_assets.masking import mask_email, mask_phone, mask_sensitive


def text(value: Any) -> str:
    """The value as it is (nothing for None): counts, names, outcomes, already formatted figures."""
    return "" if value is None else str(value)


def phone(value: Any) -> str:
    return mask_phone(value)


def phones(values: Iterable[Any] | None) -> str:
    return ", ".join(mask_phone(v) for v in values or [])


def email(value: Any) -> str:
    return mask_email(value)


def identifier(value: Any) -> str:
    """A record id: shown, except what in it looks like an email, a phone number or a LinkedIn profile."""
    return mask_sensitive(text(value))


def listed(values: Iterable[Any] | None) -> str:
    return ", ".join(text(v) for v in values or [])


def yes(value: Any) -> str:
    return "yes" if value else ""


@dataclass(frozen=True)
class Column:
    header: str
    show: Callable[[Any], str] = text


def _cell(shown: str) -> str:
    # A pipe or a line break inside a cell would end the cell or the row.
    return shown.replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[Column | str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table: one header row, then each row's cells shown as its column says (a bare header: text)."""
    columns = [c if isinstance(c, Column) else Column(c) for c in columns]
    lines = ["| " + " | ".join(c.header for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(c.show(v)) for c, v in zip(columns, row, strict=True)) + " |" for row in rows]
    return "\n".join(lines)
