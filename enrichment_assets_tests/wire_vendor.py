"""A real HTTP/1.1 vendor on 127.0.0.1 that misbehaves on purpose, for the lost-answer tests.

It runs its own event loop in a thread, reads each request in full (headers and body) and counts it, then does
what the test's script says: answer, hold the answer past the client's timeout, drop the connection, reset it,
or send a body that is not JSON. Keep-alive connections are kept, so a client reuses them as it would a real
vendor's. Nothing here is a mock of the client: the client under test speaks real HTTP to a real socket.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class WireRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Respond:
    status: int = 200
    body: Any = None
    #: Raw bytes instead of JSON (a body that is not JSON).
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (past the client's timeout: the answer is lost).
    delay: float = 0.0


@dataclass(frozen=True)
class Drop:
    """Close the connection after reading the request, without a word."""

    delay: float = 0.0


@dataclass(frozen=True)
class Reset:
    """Reset the connection (RST) after reading the request."""


Action = Respond | Drop | Reset
Script = Callable[[int, WireRequest], Action]


class WireVendor:
    """``with WireVendor(script) as vendor``: ``vendor.base_url``, ``vendor.requests`` (every request read)."""

    def __init__(self, script: Script | list[Action] | Action) -> None:
        if isinstance(script, list):
            actions = script
            self._script: Script = lambda n, _: actions[min(n, len(actions) - 1)]
        elif callable(script):
            self._script = script
        else:
            fixed = script
            self._script = lambda n, _: fixed
        self.requests: list[WireRequest] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> WireVendor:
        self._thread = threading.Thread(target=self._serve, name="wire-vendor", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the wire vendor did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(10)

    def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._pending:
            task.cancel()
        assert self._loop is not None
        self._loop.call_later(0.05, self._loop.stop)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = loop.run_until_complete(asyncio.start_server(self._connection, sock=sock))
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pending.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    n = len(self.requests)
                    self.requests.append(request)
                action = self._script(n, request)
                if isinstance(action, Reset):
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if isinstance(action, Drop):
                    if action.delay:
                        await asyncio.sleep(action.delay)
                    writer.close()
                    return
                if action.delay:
                    await asyncio.sleep(action.delay)
                body = action.raw if action.raw is not None else json.dumps(action.body).encode()
                head = [f"HTTP/1.1 {action.status} X", f"Content-Length: {len(body)}",
                        "Content-Type: application/json", "Connection: keep-alive"]
                head += [f"{k}: {v}" for k, v in action.headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self._pending.discard(task)
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> WireRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    url = urlsplit(target)
    return WireRequest(method=method, path=url.path, query=dict(parse_qsl(url.query)), headers=headers, body=body)
