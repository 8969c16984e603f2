"""Control endpoints, knobs, error injection, latency and the server itself."""

from __future__ import annotations

import json
import statistics
import time

import httpx
import pytest

from enrichment_assets.sandbox import SandboxConfig, SandboxServer, SandboxState, World
from enrichment_assets.sandbox.config import FaultConfig, LatencyConfig
from enrichment_assets.sandbox.state import VendorState

from .helpers import configure, find, stats

LM = "/v1/people/mobile-finder"


def lm(client: httpx.Client, body: dict | None = None) -> httpx.Response:
    return client.post(LM, json={"profile_url": "someone"} if body is None else body, headers={"X-API-Key": "k"})


def test_stats_reset_and_config_endpoints(client: httpx.Client, world: World) -> None:
    person = find(world, "leadmagic", lambda p, k: k.mobile)
    lm(client, {"profile_url": person.linkedin_url})
    lm(client, {})
    data = client.get("/_sandbox/stats").json()
    assert data["seed"] == 7 and data["world_size"] == len(world)
    counters = data["vendors"]["leadmagic"]
    assert counters["requests"] == 2 and counters["by_status"] == {"200": 1, "400": 1}
    assert counters["credits_charged"] == 5 and counters["found"] == 1 and counters["balance"] is None
    assert data["totals"]["credits_charged"] == 5

    configure(client, {"vendors": {"leadmagic": {"balance": 50, "api_key": "super-secret-key"}}})
    shown = client.get("/_sandbox/config").json()
    assert shown["vendors"]["leadmagic"]["balance"] == 50
    assert "super-secret-key" not in json.dumps(shown)
    assert stats(client, "leadmagic")["balance"] == 50

    bad = client.post("/_sandbox/config", json={"vendors": {"leadmagic": {"no_such_knob": 1}}})
    assert bad.status_code == 400 and "no_such_knob" in bad.text
    assert client.post("/_sandbox/config", json={"vendors": {"pronto": {"out_of_credits_status": 418}}}
                       ).status_code == 400

    client.post("/_sandbox/reset")
    counters = stats(client, "leadmagic")
    assert counters["requests"] == 0 and counters["credits_charged"] == 0 and counters["balance"] == 50
    client.post("/_sandbox/reset", json={"config": True})
    assert stats(client, "leadmagic")["balance"] is None
    assert client.get("/_sandbox/config").json()["vendors"]["leadmagic"]["api_key"] is None


def test_fault_injection_is_deterministic_and_never_charged(client: httpx.Client, world: World) -> None:
    person = find(world, "leadmagic", lambda p, k: k.mobile)
    configure(client, {"vendors": {"leadmagic": {"faults": {"error_rate": 0.3, "malformed_rate": 0.2}}}})

    error_bodies = []

    def run() -> list[tuple[int, bool]]:
        out = []
        for _ in range(40):
            response = lm(client, {"profile_url": person.linkedin_url})
            try:
                body = response.json()
                parsed = True
            except ValueError:
                parsed = False
            if response.status_code == 500:
                error_bodies.append(body)
            out.append((response.status_code, parsed))
        return out

    first = run()
    counters = stats(client, "leadmagic")
    client.post("/_sandbox/reset")
    second = run()
    assert first == second
    errors = sum(1 for status, _ in first if status == 500)
    malformed = sum(1 for status, parsed in first if status == 200 and not parsed)
    good = sum(1 for status, parsed in first if status == 200 and parsed)
    assert errors > 3 and malformed > 2 and good > 10
    assert counters["injected"]["error"] == errors and counters["injected"]["malformed"] == malformed
    assert counters["credits_charged"] == 5 * good
    # An injected 500 speaks LeadMagic's error format.
    assert len(error_bodies) == 2 * errors and all(b["errors"][0]["status"] == 500 for b in error_bodies)


def test_hung_request_sleeps_then_500(client: httpx.Client) -> None:
    configure(client, {"vendors": {"leadmagic": {"faults": {"hang_rate": 1.0, "hang_seconds": 0.6}}}})
    with pytest.raises(httpx.ReadTimeout):
        client.post(LM, json={"profile_url": "x"}, headers={"X-API-Key": "k"}, timeout=0.2)
    start = time.perf_counter()
    response = lm(client)
    assert response.status_code == 500 and time.perf_counter() - start >= 0.55
    assert stats(client, "leadmagic")["credits_charged"] == 0


def test_unavailable_injection_is_503_for_enrich_layer(client: httpx.Client, world: World) -> None:
    configure(client, {"vendors": {"enrichlayer": {"faults": {"unavailable_rate": 1.0}}}})
    response = client.get("/api/v2/contact-api/personal-contact", params={"profile_url": world.people[0].linkedin_url},
                          headers={"Authorization": "Bearer k"})
    assert response.status_code == 503 and response.json()["description"] == "Enrichment failed, please retry."


def test_latency_is_lognormal_with_given_median_and_p95() -> None:
    config = SandboxConfig.realistic()
    vs = VendorState("leadmagic", config.vendor("leadmagic"), seed=7)
    draws = sorted(vs.draw_latency() for _ in range(4000))
    assert 0.27 < statistics.median(draws) < 0.33
    assert 0.85 < draws[int(0.95 * len(draws))] < 1.15
    constant = VendorState("pronto", config.vendor("pronto").model_copy(update={"latency": LatencyConfig(p50=0.2)}),
                           seed=7)
    assert constant.draw_latency() == 0.2
    with pytest.raises(ValueError, match="fault shares add up to more than 1"):
        FaultConfig(error_rate=0.7, hang_rate=0.5)


def test_latency_applies_over_http(client: httpx.Client) -> None:
    configure(client, {"vendors": {"leadmagic": {"latency": {"p50": 0.15}}}})
    start = time.perf_counter()
    assert lm(client).status_code == 200
    assert time.perf_counter() - start >= 0.14


def test_seed_change_rebuilds_the_world(client: httpx.Client, sandbox: SandboxServer) -> None:
    configure(client, {"seed": 11, "world_size": 50})
    assert len(sandbox.state.world) == 50 and sandbox.state.world.seed == 11
    assert client.get("/_sandbox/stats").json()["seed"] == 11


def test_server_lifecycle_and_a_state_of_its_own() -> None:
    state = SandboxState(SandboxConfig(world_size=100))
    server = SandboxServer(state=state)
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.port
        assert httpx.get(server.base_url + "/_sandbox/health").json() == {"ok": True, "world_size": 100}
        assert httpx.get(server.base_url + "/").json()["vendors"]["pronto"][1] == "/v2/contacts/sync_single_enrich"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{server.port}/_sandbox/health", timeout=1)


def test_a_state_survives_a_restart_on_a_new_loop() -> None:
    state = SandboxState(SandboxConfig(world_size=100))
    body = {"firstname": "A", "lastname": "B", "linkedin_url": state.world.people[0].linkedin_url,
            "enrichment_type": ["phone"]}
    for _ in range(2):   # Pronto's concurrency gate is bound to the running loop
        with SandboxServer(state=state) as server:
            response = httpx.post(server.base_url + "/v2/contacts/single_enrich", json=body,
                                  headers={"X-API-KEY": "k"})
            assert response.status_code == 200
    assert state.stats()["vendors"]["pronto"]["requests"] == 2


def test_withheld_answers_are_charged_then_held_past_the_timeout(sandbox, client: httpx.Client) -> None:
    """withhold_rate: the answer is processed and billed, then held; the stats say how many and for how much."""
    configure(client, {"vendors": {"leadmagic": {"faults": {"withhold_rate": 1.0, "withhold_seconds": 5}}}})
    person = next(p for p in sandbox.state.world.people if sandbox.state.world.knowledge("leadmagic", p).mobile)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/people/mobile-finder", json={"profile_url": person.linkedin_url},
                    headers={"X-API-Key": "k"}, timeout=0.5)
    counters = stats(client, "leadmagic")
    assert counters["injected"]["withheld"] == 1
    assert counters["withheld_credits"] == counters["credits_charged"] == 5
