"""Secrets: API keys never land in logs, event metadata, DuckDB, the response store, the marts or the output.

README, "Going live": keys are read through Dagster ``EnvVar``;
they never appear in logs, event metadata, DuckDB or error messages.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from enrichment_assets.settings import PROVIDERS
from enrichment_assets_tests.support.cli import no_traceback
from enrichment_assets_tests.support.live_run import WRONG_KEY_VENDOR, LiveRun
from enrichment_assets_tests.support.tables import query, response_store_path


def key_forms(key: str) -> list[bytes]:
    """The key as bytes in every form a file could hold it: raw, URL-encoded, UTF-16, and its distinctive tail."""
    forms = {key, quote(key, safe=""), quote_plus(key), key.rsplit("-", 1)[-1]}
    out = [f.encode() for f in forms]
    out.append(key.encode("utf-16-le"))
    return out


def files_to_search(env: dict[str, str]) -> list[Path]:
    db = Path(env["ENRICHMENT_DB"])
    files = [p for p in Path(env["DAGSTER_HOME"]).rglob("*") if p.is_file()]
    files += [p for p in db.parent.glob(db.name + "*") if p.is_file()]               # DuckDB file and its WAL
    store = response_store_path(db)
    files += [p for p in store.parent.glob(store.name + "*") if p.is_file()]          # SQLite, -wal, -shm
    marts = db.parent / "marts"
    files += [p for p in marts.rglob("*") if p.is_file()]
    return files


def leaks(keys: dict[str, str], env: dict[str, str], output: str) -> list[str]:
    found = []
    files = files_to_search(env)
    assert any(p.name.endswith(".responses.sqlite") for p in files)
    assert any(p.suffix == ".parquet" for p in files)
    assert any("dagster_home" in str(p) for p in files)
    for provider, key in keys.items():
        for form in key_forms(key):
            if form in output.encode():
                found.append(f"{provider} key in the run output")
            for path in files:
                if form in path.read_bytes():
                    found.append(f"{provider} key in {path}")
    return found


@pytest.mark.e2e
def test_live_keys_never_stored_or_printed(live_run: LiveRun) -> None:
    # The run really used the keys: the sandbox accepts only them, and every vendor but Lantern answered.
    stats = live_run.sandbox.stats()["vendors"]
    for provider in PROVIDERS:
        assert stats[provider]["requests"] > 0, provider
        if provider != WRONG_KEY_VENDOR:
            assert stats[provider]["by_status"].get("401", 0) == 0, provider
    assert query(live_run.db, "SELECT count(*) FROM credit_ledger WHERE http_status = 200")[0][0] > 0

    assert leaks({**live_run.keys, "wrong": live_run.wrong_key}, live_run.env, live_run.output) == []


@pytest.mark.e2e
def test_wrong_key_names_the_vendor_never_the_key(live_run: LiveRun) -> None:
    output = live_run.output
    assert no_traceback(output)
    # Lantern refused the key; the run stopped asking it, went on without it and said so, naming the vendor.
    stats = live_run.sandbox.stats()["vendors"]
    lantern = stats[WRONG_KEY_VENDOR]
    assert lantern["by_status"] == {"401": lantern["requests"]}
    assert 1 <= lantern["requests"] <= 16  # stopped for the run (at most one wave of max_concurrency)
    unavailable = [line for line in output.splitlines() if WRONG_KEY_VENDOR in line and "unavailable" in line]
    assert unavailable, output[-3000:]
    outcomes = dict(query(live_run.db, f"SELECT outcome, count(*) FROM {WRONG_KEY_VENDOR}_results GROUP BY 1"))
    assert outcomes.get("provider_unavailable", 0) >= 1 and set(outcomes) <= {"provider_unavailable", "ineligible"}
    assert query(live_run.db, "SELECT count(*) FROM credit_ledger WHERE provider = ? AND http_status = 401",
                 [WRONG_KEY_VENDOR])[0][0] == lantern["requests"]
    assert stats["crustdata"]["requests"] > 0  # the waterfall went on past Lantern
    for text in (output, *(m or "" for (m,) in query(live_run.db, "SELECT error FROM lantern_results"))):
        assert live_run.wrong_key not in text and live_run.wrong_key.rsplit("-", 1)[-1] not in text
