"""The waterfall's progress line: what the step logs is what `enrich run`'s display reads back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from enrichment_assets.waterfall.progress import VendorProgress, parse_progress, progress_message
from enrichment_assets.waterfall.results import ProviderStats, WaterfallStats

counts = st.integers(min_value=0, max_value=10**7)
credits = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False).map(float)
money = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False).map(float)
vendor = st.builds(lambda calls, found, c, usd: ProviderStats(calls=calls, found=found, credits=c, usd=usd),
                   counts, counts, credits, money)


def test_the_line_reads_as_written() -> None:
    stats = WaterfallStats(providers={"leadmagic": ProviderStats(calls=236, found=106, credits=530.0, usd=0.0),
                                      "pronto": ProviderStats(calls=120, found=55, credits=0.5, usd=12.345)})
    message = progress_message(stats, 195, 236)
    assert message == ("195/236 leads through the waterfall; leadmagic 236 calls, 106 found, 530 credits, $0.00; "
                       "pronto 120 calls, 55 found, 0.5 credits, $12.35")
    figures = parse_progress(message)
    assert (figures.done, figures.total) == (195, 236)
    assert figures.vendors == (VendorProgress("leadmagic", 236, 106, 530.0, 0.0),
                               VendorProgress("pronto", 120, 55, 0.5, 12.35))


@given(st.dictionaries(st.sampled_from(["leadmagic", "pronto", "enrichlayer", "lantern", "crustdata"]), vendor),
       counts, counts)
def test_every_line_round_trips(providers: dict[str, ProviderStats], done: int, total: int) -> None:
    figures = parse_progress(progress_message(WaterfallStats(providers=providers), done, total))
    assert figures is not None and (figures.done, figures.total) == (done, total)
    assert [v.provider for v in figures.vendors] == list(providers)
    for v in figures.vendors:
        p = providers[v.provider]
        assert (v.calls, v.found) == (p.calls, p.found)
        assert abs(v.credits - p.credits) < 1e-6 and abs(v.usd - round(p.usd, 2)) < 1e-6


def test_other_messages_are_not_progress() -> None:
    assert parse_progress("236 of 236 leads to walk; 0 unchanged since their last walk") is None
    assert parse_progress("Waterfall done in 15.5s: 236 leads, 498 vendor requests") is None
    assert parse_progress("12/30 leads through the waterfall; something else entirely") is None
    assert parse_progress("0/0 leads through the waterfall") == parse_progress("0/0 leads through the waterfall; ")
