"""Run the sandbox app on a real port: in a background thread (tests, ``sandbox`` mode) or in the foreground."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from enrichment_assets.sandbox.app import create_app
from enrichment_assets.sandbox.config import SandboxConfig
from enrichment_assets.sandbox.state import SandboxState

log = logging.getLogger(__name__)


def _uvicorn_config(app, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
        backlog=4096,
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class SandboxServer:
    """The vendor sandbox on ``host:port`` in a background thread (``port=0``: a free port).

    Use as a context manager, or call ``start()`` / ``stop()``. ``start()``
    returns once the server accepts connections. ``base_url`` is the origin
    every vendor is served on; ``state`` is the live ``SandboxState``.
    """

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 *, state: SandboxState | None = None, log_level: str = "warning") -> None:
        self.state = state or SandboxState(config)
        self.host = host
        self._requested_port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int | None = None

    @property
    def config(self) -> SandboxConfig:
        return self.state.config

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the sandbox server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        if self._thread is not None:
            return self
        self._socket = _bind(self.host, self._requested_port)
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(create_app(self.state), self._log_level))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve(port: int = 8765, config: SandboxConfig | None = None, host: str = "127.0.0.1",
          log_level: str = "warning") -> None:
    """Serve the sandbox in the foreground until interrupted (``enrich sandbox --port N``)."""
    state = SandboxState(config)
    sock = _bind(host, port)
    actual = sock.getsockname()[1]
    print(f"vendor sandbox: http://{host}:{actual} (seed {state.config.seed}, "
          f"{state.config.world_size} people); stats at /_sandbox/stats", flush=True)
    server = uvicorn.Server(_uvicorn_config(create_app(state), log_level))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
