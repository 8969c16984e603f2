"""Inputs several commands share, checked before any file is touched: ``--map`` pairs and the response store's key."""

from __future__ import annotations


def parse_maps(pairs: list[str] | None) -> dict[str, str]:
    """``--map TARGET="Source column"`` pairs as {target: source}; raise ValueError naming a bad one."""
    from enrichment_assets.leads.headers import check_targets

    columns: dict[str, str] = {}
    for pair in pairs or []:
        target, sep, source = pair.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise ValueError(f'--map {pair!r}: expected TARGET="Source column", e.g. --map record_id="Contact Key"')
        columns[target.strip()] = source.strip()
    check_targets(columns, "--map")
    return columns


def store_cipher(settings):
    """The response store's cipher from ENRICHMENT_ENCRYPTION_KEY, checked against the store without writing to it.

    Raises StoreKeyError (exit 2) for a wrong or missing key, before any file is touched."""
    from enrichment_assets.storage.state_store import verify_state_key
    from enrichment_assets.storage.store_crypto import cipher_from_environment

    cipher = cipher_from_environment()
    verify_state_key(settings.response_store_path, settings.state_url, cipher)
    return cipher
