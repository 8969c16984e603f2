"""The waterfall's progress line: logged by the waterfall step while it walks, read back by `enrich run`'s display.

One format in one place, so the line a person reads in the run's log and what the CLI's progress display parses
from it cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from enrichment_assets.waterfall.results import WaterfallStats

_HEAD = re.compile(r"^(\d+)/(\d+) leads through the waterfall(?:; (.*))?$")
_VENDOR = re.compile(r"^(\S+) (\d+) calls, (\d+) found, ([0-9.]+) credits, \$([0-9.]+)$")


@dataclass(frozen=True)
class VendorProgress:
    provider: str
    calls: int
    found: int
    credits: float
    usd: float


@dataclass(frozen=True)
class WaterfallProgress:
    """``done`` of ``total`` leads walked so far, and each vendor's figures so far."""

    done: int
    total: int
    vendors: tuple[VendorProgress, ...]


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def progress_message(stats: WaterfallStats, done: int, total: int) -> str:
    """``195/236 leads through the waterfall; leadmagic 236 calls, 106 found, 530 credits, $0.00; pronto ...``"""
    parts = "; ".join(f"{p} {s.calls} calls, {s.found} found, {_number(s.credits)} credits, ${s.usd:.2f}"
                      for p, s in stats.providers.items())
    return f"{done}/{total} leads through the waterfall" + (f"; {parts}" if parts else "")


def parse_progress(message: str) -> WaterfallProgress | None:
    """The figures of a :func:`progress_message` line; None for any other message."""
    head = _HEAD.match(message)
    if head is None:
        return None
    vendors = []
    for part in (head.group(3) or "").split("; "):
        match = _VENDOR.match(part)
        if match is None:
            if part:
                return None
            continue
        vendors.append(VendorProgress(match.group(1), int(match.group(2)), int(match.group(3)),
                                      float(match.group(4)), float(match.group(5))))
    return WaterfallProgress(int(head.group(1)), int(head.group(2)), tuple(vendors))
