"""The waterfall funnel per provider as a PNG: leads sent, numbers found, mobiles, and what they cost in USD.

Credits are not money: one vendor's credit may cost three times another's. The cost panel compares USD (credits
times each provider's ``usd_per_credit``) and USD per mobile; the credits stay in the labels. Only when every
provider is priced at 0 does the panel fall back to credits.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

import duckdb

from enrichment_assets.storage.step_state import ALL_LISTS, file_stamp, read_digest, stable_digest, write_digest
from enrichment_assets.storage.warehouse import transaction

_STEP = "provider_funnel_chart"


@dataclass(frozen=True)
class FunnelRow:
    provider: str
    leads_sent: int
    found: int
    mobiles: int
    credits: float
    usd: float
    #: The USD rests on an assumed price per credit (the vendor publishes none): marked with an asterisk.
    usd_assumed: bool = False


def render_funnel_png(rows: Sequence[FunnelRow], title: str = "Waterfall funnel by provider") -> bytes:
    """Two panels, providers in waterfall order: coverage bars (sent, found, mobiles) and credits spent."""
    from matplotlib.figure import Figure  # a bare Figure renders without pyplot or a display

    providers = [r.provider for r in rows]
    figure = Figure(figsize=(10, 0.9 * max(len(rows), 3) + 1.4), dpi=110, layout="constrained")
    coverage, cost = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    positions = list(range(len(rows)))
    height = 0.26
    series = (("leads sent", [r.leads_sent for r in rows], "#c9d6e3"),
              ("found a number", [r.found for r in rows], "#5b8db8"),
              ("personal mobile", [r.mobiles for r in rows], "#1f4e79"))
    for offset, (label, values, color) in zip((-height, 0, height), series, strict=True):
        bars = coverage.barh([p + offset for p in positions], values, height=height, label=label, color=color)
        coverage.bar_label(bars, padding=2, fontsize=8)
    coverage.set_yticks(positions, providers)
    coverage.invert_yaxis()  # first provider of the waterfall on top
    coverage.set_xlabel("leads")
    coverage.set_title("coverage")
    coverage.legend(loc="lower right", fontsize=8, frameon=False)
    coverage.spines[["top", "right"]].set_visible(False)

    in_usd = any(r.usd for r in rows)
    bars = cost.barh(positions, [r.usd if in_usd else r.credits for r in rows], height=0.5, color="#d08c2e")
    # "$" starts mathtext in matplotlib: escaped, it is a dollar sign.
    cost.bar_label(bars, labels=[_cost_label(r, in_usd).replace("$", r"\$") for r in rows], padding=2, fontsize=8)
    cost.set_xlabel("USD" if in_usd else "credits")
    cost.set_title("spend in USD (credits)" if in_usd else "credits spent (no provider priced in USD)")
    if in_usd and any(r.usd_assumed and r.usd for r in rows):
        cost.text(0, -0.12, "* assumed price per credit (none published): set usd_per_credit",
                  transform=cost.transAxes, fontsize=7, color="#555555")
    cost.spines[["top", "right"]].set_visible(False)
    cost.margins(x=0.45)
    figure.suptitle(title)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _cost_label(row: FunnelRow, in_usd: bool) -> str:
    if not in_usd:
        return f"{row.credits:g}" + (f" · {row.credits / row.mobiles:.1f}/mobile" if row.mobiles else "")
    per_mobile = f" · ${row.usd / row.mobiles:,.2f}/mobile" if row.mobiles else ""
    return f"${row.usd:,.2f}{per_mobile} ({row.credits:g} cr){' *' if row.usd_assumed and row.usd else ''}"


def funnel_png_file(conn: duckdb.DuckDBPyConnection, rows: Sequence[FunnelRow], path: Path) -> bytes:
    """The chart of ``rows`` at ``path``: drawn again only when the figures or the file changed (matplotlib
    costs about a second, most of an unchanged rerun's work otherwise)."""
    def digest() -> str:
        return stable_digest([astuple(r) for r in rows], file_stamp(path))

    if path.exists() and read_digest(conn, _STEP, ALL_LISTS) == digest():
        return path.read_bytes()
    chart = render_funnel_png(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(chart)
    with transaction(conn):
        write_digest(conn, _STEP, ALL_LISTS, digest())
    return chart
