"""Which files in the inbox folder are ready to enrich: new or changed, and no longer being written.

A file copied into the inbox (a slow network share, a browser download, an export written row by row) shows up
before it is complete. Enriching it then loads a truncated list, and the run after the copy ends enriches it
again. So a file is ready only once its size and modification time have stayed the same for ``settle_seconds``,
as seen by successive scans; only then is its content hashed (sha256) and compared with the last one enriched.

State between scans is a JSON-able dict (the sensor's cursor):
``{"v": 2, "files": {name: {"digest", "size", "mtime_ns"}}, "seen": {name: [size, mtime_ns, first_seen]}}``.
``files`` is what was last handed out per file; ``seen`` what is waiting to settle. A cursor of the first
format (``{name: digest}``) is read as ``files`` without sizes, so an upgrade enriches nothing again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enrichment_assets.leads.ingest import SUPPORTED_SUFFIXES, file_digest, list_id_for

CURSOR_VERSION = 2


@dataclass(frozen=True, slots=True)
class ReadyFile:
    path: Path
    list_id: str
    digest: str
    is_new: bool


@dataclass(frozen=True, slots=True)
class Settling:
    """A file still changing, or not yet unchanged for long enough."""

    name: str
    seconds_left: float


def load_state(cursor: str | dict | None) -> dict[str, Any]:
    """The scan state from a cursor of either format (``None``: nothing seen yet)."""
    data = json.loads(cursor) if isinstance(cursor, str) and cursor else (cursor or {})
    if data.get("v") == CURSOR_VERSION:
        return {"v": CURSOR_VERSION, "files": dict(data.get("files") or {}), "seen": dict(data.get("seen") or {})}
    # The first format: {file name: sha256 of the content last enriched}.
    return {"v": CURSOR_VERSION, "files": {name: {"digest": d} for name, d in data.items() if isinstance(d, str)},
            "seen": {}}


def is_lead_file(path: Path) -> bool:
    # "~$name.xlsx" is the lock file Excel keeps beside a workbook it has open, not a lead list.
    return (path.is_file() and not path.name.startswith((".", "~$"))
            and path.suffix.lower() in SUPPORTED_SUFFIXES)


def scan(inbox: Path, state: dict[str, Any], now: float, settle_seconds: float
         ) -> tuple[list[ReadyFile], list[Settling], dict[str, Any]]:
    """Files ready to enrich, files still settling, and the next state. ``now``: seconds (any fixed origin)."""
    files = dict(state.get("files") or {})
    seen = dict(state.get("seen") or {})
    ready: list[ReadyFile] = []
    settling: list[Settling] = []
    present: set[str] = set()
    if inbox.is_dir():
        for path in sorted(inbox.iterdir()):
            try:
                if not is_lead_file(path):
                    continue
                stat = path.stat()
            except OSError:
                continue
            name = path.name
            present.add(name)
            size, mtime = stat.st_size, stat.st_mtime_ns
            known = files.get(name)
            if known is not None and known.get("size") == size and known.get("mtime_ns") == mtime:
                seen.pop(name, None)
                continue  # untouched since it was last handed out: not even hashed again
            first = seen.get(name)
            if first is None or (first[0], first[1]) != (size, mtime):
                seen[name] = first = [size, mtime, now]
            waited = now - first[2]
            if waited < settle_seconds:
                settling.append(Settling(name, settle_seconds - waited))
                continue
            try:
                digest = file_digest(path)
                after = path.stat()
            except OSError:
                continue  # removed or locked meanwhile: look again at the next scan
            if (after.st_size, after.st_mtime_ns) != (size, mtime):
                seen[name] = [after.st_size, after.st_mtime_ns, now]  # written to while hashed: start again
                settling.append(Settling(name, settle_seconds))
                continue
            seen.pop(name, None)
            files[name] = {"digest": digest, "size": size, "mtime_ns": mtime}
            if known is not None and known.get("digest") == digest:
                continue  # touched, same content: nothing to enrich
            ready.append(ReadyFile(path, list_id_for(path), digest, known is None))
    seen = {name: value for name, value in seen.items() if name in present}
    return ready, settling, {"v": CURSOR_VERSION, "files": files, "seen": seen}
