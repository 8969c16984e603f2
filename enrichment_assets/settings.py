"""Where things live: paths and mode from the environment (README, "Environment")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from enrichment_assets.vendors.registry import PROVIDER_NAMES

#: The provider names, in the registry's order (``enrichment_assets.vendors.registry``).
PROVIDERS: tuple[str, ...] = PROVIDER_NAMES


def repo_root() -> Path:
    """The project root: the current directory when it holds ``enrichment.yaml``, else the source checkout."""
    cwd = Path.cwd()
    if (cwd / "enrichment.yaml").exists() or (cwd / "workspace.yaml").exists():
        return cwd
    return Path(__file__).resolve().parent.parent


def _path_from_env(var: str, default: str) -> Path:
    value = os.environ.get(var)
    path = Path(value) if value else repo_root() / default
    return path.expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    mode: str
    db_path: Path
    config_path: Path
    inbox: Path
    suppression_path: Path
    #: ``ENRICHMENT_STATE_URL``: the state store on PostgreSQL (``postgresql://…``); ``None``: SQLite.
    state_url: str | None = None

    @property
    def response_store_path(self) -> Path:
        """The durable response store and request journal lives beside the DuckDB file (SQLite backend)."""
        return self.db_path.with_name(self.db_path.stem + ".responses.sqlite")

    def open_state_store(self, cipher=None):
        """The state store (``storage/state_store.py``): PostgreSQL when ``ENRICHMENT_STATE_URL`` is set, else the
        SQLite file; opened with ``cipher`` (a ``StoreCipher``; ``None``: not encrypted)."""
        from enrichment_assets.storage.state_store import open_state_store
        from enrichment_assets.storage.store_crypto import PLAIN

        return open_state_store(self.response_store_path, self.state_url, cipher or PLAIN)

    @property
    def state_where(self) -> str:
        """Where the state store is, for messages: the SQLite path, or the server without user or password."""
        from enrichment_assets.storage.state_store import describe_state

        return describe_state(self.response_store_path, self.state_url)

    @property
    def marts_dir(self) -> Path:
        return self.db_path.parent / "marts"

    @property
    def out_dir(self) -> Path:
        """Where the enriched copy of each lead file is written: ``<list>.enriched.csv`` (and ``.xlsx``)."""
        return self.db_path.parent / "out"


DEFAULT_INBOX_SETTLE_SECONDS = 30.0


def inbox_settle_seconds() -> float:
    """``ENRICHMENT_INBOX_SETTLE_SECONDS`` (a number of seconds, 0 or more), else 30: how long a file in the inbox
    must keep its size and modification time before the ``lead_inbox`` sensor enriches it."""
    return parse_inbox_settle_seconds(os.environ.get("ENRICHMENT_INBOX_SETTLE_SECONDS", ""))


def parse_inbox_settle_seconds(raw: str) -> float:
    """The settle time from its text form (as ``ENRICHMENT_INBOX_SETTLE_SECONDS``): empty means the default."""
    raw = raw.strip()
    if not raw:
        return DEFAULT_INBOX_SETTLE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"ENRICHMENT_INBOX_SETTLE_SECONDS must be a number of seconds (0 or more), not {raw!r}")
    return value


def load_settings() -> Settings:
    mode = os.environ.get("ENRICHMENT_MODE", "sandbox").strip().lower() or "sandbox"
    if mode not in ("sandbox", "live"):
        raise ValueError(f"ENRICHMENT_MODE must be 'sandbox' or 'live', not {mode!r}")
    return Settings(
        mode=mode,
        db_path=_path_from_env("ENRICHMENT_DB", "data/enrichment.duckdb"),
        config_path=_path_from_env("ENRICHMENT_CONFIG", "enrichment.yaml"),
        inbox=_path_from_env("ENRICHMENT_INBOX", "data/inbox"),
        suppression_path=_path_from_env("ENRICHMENT_SUPPRESSION", "data/suppression.csv"),
        state_url=os.environ.get("ENRICHMENT_STATE_URL", "").strip() or None,
    )
