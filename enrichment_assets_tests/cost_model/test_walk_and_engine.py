"""The engine walks each lead in the order it is given and records it; the walk key never holds a learned order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from enrichment_assets.config import parse_config
from enrichment_assets.storage.step_state import stable_digest
from enrichment_assets.waterfall.suppression import Suppression
from enrichment_assets.waterfall.walk_key import WALK_RULES_VERSION, walk_key
from enrichment_assets_tests.waterfall.fakes import MOBILE_DE, ListSink, leads, make_engine

TWO = {"waterfall": {"order": ["leadmagic", "enrichlayer"]},
       "providers": {p: {"enabled": False} for p in ("pronto", "lantern", "crustdata")}}


def test_engine_walks_each_lead_in_its_own_order_and_records_it(tmp_path: Path) -> None:
    items = leads(4)
    fakes = {"leadmagic": {"answers": {items[1].linkedin_url: [(MOBILE_DE, "mobile")]}},
             "enrichlayer": {"answers": {items[0].linkedin_url: [(MOBILE_DE, "mobile")]}}}

    def order_for(lead):
        return ["enrichlayer", "leadmagic"] if lead.record_id in ("r0", "r1") else ["leadmagic"]

    engine, made, _ = make_engine(tmp_path, TWO, fakes, order_for=order_for)
    sink = ListSink()
    asyncio.run(engine.run(items, sink))
    # r0: enrichlayer found its mobile first, leadmagic never asked; r1: both; r2, r3: leadmagic only.
    assert made["enrichlayer"].requests == 2
    assert made["leadmagic"].requests == 3
    assert {r.record_id for r in sink.by("leadmagic")} == {"r1", "r2", "r3"}
    walked = {r.record_id: r.walk_order for r in sink.rows}
    assert walked == {"r0": ["enrichlayer", "leadmagic"], "r1": ["enrichlayer", "leadmagic"], "r2": ["leadmagic"],
                      "r3": ["leadmagic"]}


def test_fixed_order_rows_record_the_fixed_order(tmp_path: Path) -> None:
    engine, _, _ = make_engine(tmp_path, TWO, {"leadmagic": {}, "enrichlayer": {}})
    sink = ListSink()
    asyncio.run(engine.run(leads(2), sink))
    assert {tuple(r.walk_order) for r in sink.rows} == {("leadmagic", "enrichlayer")}


def test_a_fixed_orders_walk_key_is_the_one_it_was_before_the_cost_model() -> None:
    config = parse_config(TWO)
    providers = config.active_order
    fixed = {"order": ["leadmagic", "enrichlayer"], "stop_when": "mobile"}
    before = stable_digest(
        WALK_RULES_VERSION,
        "sandbox",
        fixed,
        providers,
        sorted(providers),
        {
            p: config.provider(p).model_dump(
                exclude={
                    "rate_limit_per_second",
                    "burst",
                    "max_concurrency",
                    "timeout_seconds",
                    "max_retries",
                    "retry_unknown",
                    "retry_schedule",
                    "usd_per_credit",
                    "max_credits_per_run",
                    "pricing",
                    "batch_size",
                    "batch_wait_seconds",
                    "balance_path",
                }
            )
            for p in providers
        },
        Suppression().digest(),
    )
    assert walk_key(config, providers, providers, Suppression(), "sandbox") == before
    # Adaptive-only settings do not touch a fixed order's key.
    tuned = parse_config({**TWO, "waterfall": {**TWO["waterfall"], "exploration_share": 0.3}})
    assert walk_key(tuned, providers, providers, Suppression(), "sandbox") == before


def test_adaptive_walk_key_holds_its_settings_not_what_it_learned() -> None:
    adaptive = parse_config({**TWO, "waterfall": {"order": "adaptive"}})
    providers = adaptive.active_order
    key = walk_key(adaptive, providers, providers, Suppression(), "sandbox")
    # What the model learned (counts, priors, prices) is not an input of the key at all; its settings are.
    repriced = parse_config({**TWO, "waterfall": {"order": "adaptive"},
                             "cost_model": {"priors": {"leadmagic": {"mobile_rate": 0.01, "found_rate": 0.02}}},
                             "providers": {**TWO["providers"], "leadmagic": {"usd_per_credit": 9}}})
    assert walk_key(repriced, providers, providers, Suppression(), "sandbox") == key
    explored = parse_config({**TWO, "waterfall": {"order": "adaptive", "exploration_share": 0.5}})
    assert walk_key(explored, providers, providers, Suppression(), "sandbox") != key
    fixed = parse_config(TWO)
    assert walk_key(fixed, providers, providers, Suppression(), "sandbox") != key
