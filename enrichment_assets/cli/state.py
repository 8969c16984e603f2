"""``enrich copy-state``: carry a SQLite state store into the PostgreSQL one (``storage/state_copy.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from enrichment_assets.cli.inputs import store_cipher
from enrichment_assets.cli.output import EXIT_OK, console, fail_input


def add_parser(sub: argparse._SubParsersAction) -> None:
    copy = sub.add_parser("copy-state", help="copy the SQLite response store's paid answers and journal into the "
                                             "PostgreSQL state store (ENRICHMENT_STATE_URL); safe to repeat")
    copy.add_argument("--from", dest="source", metavar="SQLITE_FILE",
                      help="the store to copy (default: the one beside ENRICHMENT_DB, <db>.responses.sqlite)")
    copy.set_defaults(func=cmd_copy_state)


def cmd_copy_state(args: argparse.Namespace) -> int:
    """Copy a SQLite state store (answers, kept answers, journal, reported costs) into ENRICHMENT_STATE_URL's."""
    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.response_store import ResponseStore
    from enrichment_assets.storage.state_copy import LiveSource, copy_state
    from enrichment_assets.storage.store_crypto import StoreKeyError

    settings = load_settings()
    if settings.state_url is None:
        return fail_input("set ENRICHMENT_STATE_URL to the PostgreSQL state store to copy into")
    source = Path(args.source).expanduser().resolve() if args.source else settings.response_store_path
    if not source.is_file():
        return fail_input(f"no response store at {source}")
    try:
        cipher = store_cipher(settings)
        with ResponseStore(source, cipher):  # the key fits the source too; an older file gains today's columns
            pass
        with settings.open_state_store(cipher) as target:
            counts = copy_state(source, target)
    except (StoreKeyError, LiveSource) as exc:
        return fail_input(str(exc))
    names = {"responses": "stored answers", "kept_answers": "kept answers", "attempts": "journal rows",
             "attempt_fingerprints": "question index rows", "reported_costs": "reported costs"}
    console.print(f"Copied {source} into {settings.state_where}: " + ", ".join(
        f"{counts.copied[t]:,} of {counts.source[t]:,} {name}" for t, name in names.items())
        + " (the others were there already).", soft_wrap=True)
    return EXIT_OK
