"""Cost per personal mobile by provider and country, from ``provider_segment_rates``, as a PNG."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CostPoint:
    provider: str
    country: str
    usd_per_mobile: float | None
    credits_per_mobile: float | None


def render_cost_png(points: Sequence[CostPoint], providers: Sequence[str]) -> bytes:
    """Grouped bars: one group per country, one bar per provider; USD per mobile (credits when no price is set)."""
    from matplotlib.figure import Figure  # a bare Figure renders without pyplot or a display

    use_usd = any((p.usd_per_mobile or 0) > 0 for p in points)
    unit = "USD per personal mobile" if use_usd else "credits per personal mobile (no usd_per_credit set)"
    countries = sorted({p.country for p in points})
    value = {(p.provider, p.country): (p.usd_per_mobile if use_usd else p.credits_per_mobile) for p in points}
    figure = Figure(figsize=(max(6.0, 1.1 * len(countries) + 2), 4.2), dpi=110, layout="constrained")
    axis = figure.subplots()
    width = 0.8 / max(len(providers), 1)
    for i, provider in enumerate(providers):
        xs, ys = [], []
        for j, country in enumerate(countries):
            v = value.get((provider, country))
            if v is not None and math.isfinite(v):
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(v)
        axis.bar(xs, ys, width=width, label=provider)
    axis.set_xticks(range(len(countries)), countries)
    axis.set_ylabel(unit)
    axis.set_title("Expected cost per personal mobile, by provider and lead country (cost model)")
    axis.legend(fontsize=8, frameon=False, ncols=min(len(providers), 5))
    axis.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
