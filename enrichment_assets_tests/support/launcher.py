"""The real ``enrich`` command in its own process, forked from one that has already imported its libraries.

Why: every ``python -m enrichment_assets.cli`` spends 4.5-5 CPU-s importing Dagster, dagster-dbt, dbt-core and
the rest, and about 1.5 CPU-s more on its first dbt parse than a process that has parsed once (measured on a
40-lead list: a first run 14.8 CPU-s cold, 8.4-9.1 forked from here; a rerun 7.9 -> 3.4), and the end-to-end
tests start about a hundred of them: that import was the largest single cost of the test suite on a 2-core
machine. The launcher is a small server process (one per test worker, started on first use) that imports those
third-party libraries and parses the dbt project once (``_warm_dbt``), then forks a child for each command. The
child is a process like the one ``subprocess`` starts — its own pid and session (so ``os.killpg(pid, SIGKILL)``
kills it alone), its own environment, working directory, argv, stdin from ``/dev/null``, stdout and stderr to
files — and runs ``python -m enrichment_assets.cli`` the usual way (``runpy``), exiting through the interpreter's
normal shutdown (non-daemon threads joined, ``atexit`` handlers run). The pipeline's own modules
(``enrichment_assets``) are never imported by the launcher: they read the environment when they load, and each
child must read its own.

What it cannot show, and the tests that therefore keep a cold ``subprocess``: the command's start-up (its time,
the lines it prints, a warning printed while importing) and anything run from another checkout
(``test_cli.py``, ``test_dbt.py``'s fresh clone, ``test_deploy_postgres.py``, ``dagster dev`` and the UI).

Protocol (one connection per command, over a Unix socket): the client sends one JSON line (argv, env, cwd, the
files for stdout and stderr); the launcher answers ``{"pid": n}`` once forked and ``{"returncode": rc}`` when
the child has exited (``-signal`` when a signal killed it, as ``subprocess`` reports it).
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import runpy
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from enrichment_assets_tests.support import REPO_ROOT

#: Imported once by the launcher: the third-party libraries an ``enrich run`` loads (found with ``-X importtime``):
#: Dagster and dagster-dbt with dbt-core, dbt's runner and adapter, the SQL toolkit under Dagster's SQLite storage
#: and its migrations, the HTTP clients, and matplotlib with numpy (the funnel chart; numpy's OpenBLAS imported
#: single-threaded, ``main``). Not pyarrow nor openpyxl: importing pyarrow starts jemalloc's thread, and a process
#: with threads must not fork (``_threads``).
PRELOAD = ("dagster", "dagster_dbt", "dbt.cli.main", "dbt.adapters.duckdb", "duckdb", "sqlalchemy", "alembic.command",
           "alembic.runtime.migration", "httpx", "aiohttp", "phonenumbers", "pydantic", "email_validator", "rich",
           "starlette", "uvicorn", "tenacity", "yaml", "upath", "cryptography",
           "psycopg", "psycopg_pool", "numpy", "matplotlib.figure", "matplotlib.backends.backend_agg")

#: The dbt project every command builds, which ``_warm_dbt`` parses once.
DBT_PROJECT = REPO_ROOT / "dbt"

CLI_MODULE = "enrichment_assets.cli"

#: A file to which each finished command appends its test, arguments and CPU seconds (one JSON line), if set.
CPU_LOG = os.environ.get("ENRICH_TESTS_CPU_LOG", "")


# ------------------------------------------------------------------------------------------- the launcher's side

@dataclass
class _Child:
    pid: int
    conn: socket.socket


def _serve(sock_path: str) -> dict | None:
    """Accept commands until the parent test worker is gone; return the request in a forked child, else None."""
    parent = os.getppid()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path + ".new")
    server.listen(64)
    os.rename(sock_path + ".new", sock_path)  # the path appears once connections are accepted
    children: dict[int, _Child] = {}
    pending: dict[socket.socket, bytes] = {}
    # A child's exit wakes the loop (SIGCHLD through a wakeup socket), so it sleeps until there is work; it looks
    # whether its test worker is still there once a second.
    woken, waker = socket.socketpair()
    for end in (woken, waker):
        end.setblocking(False)
    signal.set_wakeup_fd(waker.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # SIGTERM (``Launcher.stop``) ends the loop, and the process exits as a program does: its ``atexit`` handlers
    # release what the warm-up left (dbt's multiprocessing locks, which the resource tracker would report leaked).
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    try:
        while os.getppid() == parent and not stopping:
            readable, _, _ = select.select([server, woken, *pending], [], [], 1.0)
            for ready in readable:
                if ready is woken:
                    with contextlib.suppress(BlockingIOError):
                        while woken.recv(4096):
                            pass
                    continue
                if ready is server:
                    conn, _ = server.accept()
                    pending[conn] = b""
                    continue
                chunk = ready.recv(1 << 20)
                if not chunk:
                    pending.pop(ready).close()
                    continue
                pending[ready] += chunk
                if not pending[ready].endswith(b"\n"):
                    continue
                request = json.loads(pending.pop(ready))
                if _threads() != 1:  # forking a process with threads is unsafe: refuse loudly
                    ready.sendall(b'{"error": "the launcher has threads"}\n')
                    ready.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    for open_socket in (server, woken, waker, ready, *pending, *(c.conn for c in children.values())):
                        open_socket.close()
                    return request
                ready.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                children[pid] = _Child(pid, ready)
            _reap(children)
    finally:
        server.close()
    for child in children.values():  # the test worker is gone: so are its commands
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    return None


def _threads() -> int:
    """This process's threads, native ones included (a library's pool is invisible to ``threading``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _reap(children: dict[int, _Child]) -> None:
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        child = children.pop(pid, None)
        if child is None:
            continue
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        with contextlib.suppress(OSError):
            child.conn.sendall(json.dumps({"returncode": code,
                                           "cpu_seconds": usage.ru_utime + usage.ru_stime}).encode() + b"\n")
        child.conn.close()


def _std_stream(fd: int, unbuffered: bool, errors: str, line_buffering: bool) -> io.TextIOWrapper:
    """A ``sys.stdout``/``sys.stderr`` as Python makes one at start-up for a file (``-u``: no buffer)."""
    raw = io.FileIO(fd, "w", closefd=False)
    buffered = raw if unbuffered else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding=os.environ.get("PYTHONIOENCODING") or "utf-8", errors=errors,
                            line_buffering=line_buffering, write_through=unbuffered)


def _become(request: dict) -> None:
    """In the forked child: become ``python -m enrichment_assets.cli <args>`` with the request's environment."""
    os.setsid()
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    if request["stderr"] is None:
        os.dup2(out, 2)
    else:
        err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(err, 2)
        os.close(err)
    os.close(out)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdout = sys.__stdout__ = _std_stream(1, unbuffered, "strict", line_buffering=False)
    sys.stderr = sys.__stderr__ = _std_stream(2, unbuffered, "backslashreplace", line_buffering=True)
    sys.path[0] = request["cwd"]  # as ``python -m`` puts its working directory first
    sys.argv = [CLI_MODULE, *request["args"]]
    gc.enable()
    runpy.run_module(CLI_MODULE, run_name="__main__", alter_sys=True)


def _warm_dbt() -> None:
    """Parse the dbt project once, into a scratch folder, so that each child's parse starts warm.

    A process's first dbt parse costs about 1.5 CPU-s more than its next one of another database (measured, this
    project: 2.5 then 1.0-1.1 CPU-s, each a full parse): dbt-core builds its config schemas and its Jinja
    environment once per process. The children still parse the project themselves (their database's path is in
    the profile, so no parse state fits them). The static parser stays off here: it runs dbt_extractor's Rust
    thread pool, and a process with threads must not fork. A parse that fails only leaves the children cold.
    """
    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory(prefix="enrich-launcher-dbt-") as scratch:
        dbtRunner().invoke(["parse", "--no-static-parser", "--no-write-json", "--no-send-anonymous-usage-stats",
                            "--vars", json.dumps({"enrichment_db": os.path.join(scratch, "warm.duckdb")}),
                            "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
                            "--target-path", scratch, "--log-path", scratch, "--log-level", "none",
                            "--log-level-file", "none"])


def main() -> None:
    import importlib

    # numpy's OpenBLAS starts a thread per core when it loads unless told to use one (the children draw one
    # chart: they do not need more).
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    for module in PRELOAD:
        importlib.import_module(module)
    _warm_dbt()
    gc.collect()
    gc.freeze()  # the children share the imported objects' pages instead of copying them at their first collection
    request = _serve(sys.argv[1])
    if request is not None:
        _become(request)  # exits as the command does (SystemExit from the CLI's __main__)


# --------------------------------------------------------------------------------------------- the tests' side

class Launcher:
    """One launcher process, started on first use and stopped when this (test worker) process exits."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="enrich-launcher-")
        self.path = os.path.join(self._dir, "socket")
        # Without the pipeline's settings (a test may have patched them into this process's environment): the
        # launcher only imports libraries, and each command brings its own environment.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ENRICHMENT_", "DAGSTER_", "DBT_")) and not k.endswith(("_API_KEY", "_BASE_URL"))}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen([sys.executable, "-m", __name__, self.path], env=env,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not os.path.exists(self.path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the enrich launcher did not start (exit {self.process.poll()})")
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self._dir)


_launcher: Launcher | None = None
_launcher_lock = threading.Lock()


def launcher() -> Launcher:
    global _launcher
    with _launcher_lock:
        if _launcher is None or _launcher.process.poll() is not None:
            _launcher = Launcher()
            import atexit

            atexit.register(_launcher.stop)
        return _launcher


class LaunchedProcess:
    """A forked ``enrich`` command: the parts of ``subprocess.Popen`` the tests use (pid, poll, wait, returncode)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, stdout: Path, stderr: Path | None) -> None:
        self.args = args
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(launcher().path)
        request = {"args": args, "env": dict(env), "cwd": str(cwd), "stdout": str(stdout),
                   "stderr": None if stderr is None else str(stderr)}
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        self._buffer = b""
        reply = self._read_line(timeout=60)
        if reply is None or "pid" not in reply:
            raise RuntimeError(f"the enrich launcher did not start the command: {reply}")
        self.pid: int = reply["pid"]
        self.returncode: int | None = None
        self.cpu_seconds: float | None = None

    def _read_line(self, timeout: float | None) -> dict | None:
        self._sock.settimeout(timeout)
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                return None
            if not chunk:
                raise RuntimeError("the enrich launcher closed the connection without an exit status")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def poll(self) -> int | None:
        if self.returncode is None:
            reply = self._read_line(timeout=0)
            if reply is not None:
                self._finished(reply)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            reply = self._read_line(timeout=timeout)
            if reply is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._finished(reply)
        return self.returncode

    def _finished(self, reply: dict) -> None:
        self.returncode, self.cpu_seconds = reply["returncode"], reply["cpu_seconds"]
        self._sock.close()
        if CPU_LOG:  # which tests spend the CPU of their commands
            with open(CPU_LOG, "a", encoding="utf-8") as log:
                log.write(json.dumps({"test": os.environ.get("PYTEST_CURRENT_TEST", ""), "args": self.args,
                                      "cpu_seconds": self.cpu_seconds}) + "\n")

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def launch(args: list[str], env: dict[str, str], cwd: Path, stdout: Path,
           stderr: Path | None = None) -> LaunchedProcess:
    """Start ``enrich <args>``; its stdout goes to ``stdout``, its stderr to ``stderr`` (None: to ``stdout``)."""
    return LaunchedProcess(args, env, cwd, stdout, stderr)


if __name__ == "__main__":
    main()
