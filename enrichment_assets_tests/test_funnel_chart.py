"""The funnel chart compares vendors in money, not in their own credits."""

from __future__ import annotations

from enrichment_assets.reporting.funnel_chart import FunnelRow, _cost_label, render_funnel_png


def test_cost_per_mobile_is_compared_in_usd() -> None:
    # The same 100 credits and 10 mobiles: the vendor whose credit costs more costs more per mobile.
    cheap = FunnelRow("leadmagic", 50, 12, 10, 100.0, 2.4)
    dear = FunnelRow("pronto", 50, 12, 10, 100.0, 5.0, usd_assumed=True)
    assert _cost_label(cheap, in_usd=True) == "$2.40 · $0.24/mobile (100 cr)"
    assert _cost_label(dear, in_usd=True) == "$5.00 · $0.50/mobile (100 cr) *"
    # Only when nobody is priced does the panel fall back to credits.
    assert _cost_label(FunnelRow("lantern", 5, 1, 1, 3.0, 0.0), in_usd=False) == "3 · 3.0/mobile"
    assert render_funnel_png([cheap, dear]).startswith(b"\x89PNG")
