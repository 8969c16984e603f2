"""A throw-away PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` on a free loopback port in a temp folder.

Debian's ``postgresql`` package keeps its server programs out of ``PATH`` (``/usr/lib/postgresql/<n>/bin``);
both places are searched. PostgreSQL refuses to run as root, so under root (CI containers) the server runs
as the ``postgres`` system user the package creates (or ``nobody``), and its folder is handed to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def server_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL's server is not installed."""
    on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if all(on_path):
        return Path(on_path[0]).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                        if p.parent.name.isdigit() else 0)
    for folder in reversed(candidates):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def dagster_env(self, database: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/dagster.yaml reads, for one database of this server."""
        return {"DAGSTER_PG_USERNAME": self.user, "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_HOST": "127.0.0.1",
                "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_DB": database}

    def create_database(self, name: str) -> str:
        """A fresh, empty database on this server; returns its name."""
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.url())) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    # A database name cannot be a bound parameter; `name` comes from the test, never from data.
                    cur.execute(f'CREATE DATABASE "{name}"')
        return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no unprivileged user to start PostgreSQL as")


@contextlib.contextmanager
def running_postgres(bin_dir: Path, *, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a PostgreSQL server with its own data folder, trust auth on loopback; stop and delete it after.
    ``durable``: fsync on, as a production server (benchmarks); off by default (tests)."""
    owner = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="enrich-pg-"))
    data, sockets = folder / "data", folder / "sock"
    sockets.mkdir()
    if owner:
        info = pwd.getpwnam(owner)
        for path in (folder, sockets):
            os.chown(path, info.pw_uid, info.pw_gid)
    prefix = ["runuser", "-u", owner, "--"] if owner else []
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync",
            "-E", "UTF8", "--locale", "C")
        # fsync off: a throw-away server; durability is not what these tests are about.
        fsync = "on" if durable else "off"
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=200"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"),
            "-w", "-t", "60", "start")
        try:
            yield PostgresServer(port=port)
        finally:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
