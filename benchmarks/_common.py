"""Shared plumbing of the benchmarks in this folder (not a benchmark itself).

Machine facts, load, versions, the vendor sandbox in its own process, lead files drawn from the
sandbox world, an isolated environment for `enrich run`, running the real CLI while sampling its
memory, and writing ``benchmarks/results/<name>.json``. Timing lives only in ``benchmarks/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from enrichment_assets.vendors.registry import PROVIDER_NAMES as PROVIDERS  # noqa: E402 - after sys.path

RESULTS_DIR = ROOT / "benchmarks" / "results"
VENV_BIN = Path(sys.executable).parent
PACKAGES = ("dagster", "duckdb", "pyarrow", "httpx", "httpx-aiohttp", "aiohttp", "aiolimiter", "uvicorn",
            "starlette", "phonenumbers", "requests", "rich")


# --------------------------------------------------------------------------- machine, load, versions


def version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def mem_total_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "mem_total_mb": mem_total_mb(),
            "python": platform.python_version(), "platform": platform.platform(), "hostname": socket.gethostname()}


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def versions() -> dict[str, str | None]:
    return {p: version(p) for p in PACKAGES}


def report_header(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {"benchmark": name, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(), "load_at_start": load(), "git": git_revision(), "versions": versions(),
            "settings": settings}


def write_results(name: str, report: dict[str, Any], output: Path | None = None) -> Path:
    output = output or RESULTS_DIR / f"{name}.json"
    report["load_at_end"] = load()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(output)
    return output


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# --------------------------------------------------------------------------- ports, sandbox process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited early (code {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g}s")


def sandbox_rate_patch(rps: float | None, *, burst: int | None = None, pronto_unqueued: bool = True,
                       p50: float | None = None, p95: float | None = None) -> dict[str, Any]:
    """A /_sandbox/config patch giving every vendor the same token bucket (``rps``, ``burst``), no window.

    ``rps=None`` turns rate limiting off. Pronto's "5 processed at once" queue is lifted when
    ``pronto_unqueued`` (it is a throughput cap of its own, not a rate limit).
    """
    vendors: dict[str, Any] = {}
    for name in PROVIDERS:
        if rps is None:
            limit = {"enabled": False}
        else:
            limit = {"enabled": True, "requests_per_second": rps, "burst": burst or max(1, round(rps)),
                     "window_limit": None}
        vendors[name] = {"rate_limit": limit}
        if p50 is not None:
            vendors[name]["latency"] = {"p50": p50, "p95": p95 if p95 is not None else p50}
    if pronto_unqueued:
        vendors["pronto"]["max_concurrency"] = None
    return {"vendors": vendors}


class SandboxProcess:
    """``python -m enrichment_assets.sandbox`` (uvicorn) in its own process on a free port."""

    def __init__(self, *, world_size: int, seed: int = 7, realistic: bool = True, log: Path | None = None) -> None:
        self.port = free_port()
        self.world_size = world_size
        self.seed = seed
        self.realistic = realistic
        self._log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SandboxProcess:
        cmd = [sys.executable, "-m", "enrichment_assets.sandbox", "--port", str(self.port), "--seed", str(self.seed),
               "--size", str(self.world_size)] + (["--realistic"] if self.realistic else [])
        out = open(self._log, "w") if self._log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=out, stderr=subprocess.STDOUT, env=bench_path_env())
        wait_for_port(self.port, self.proc, timeout=180)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _http(self):
        import httpx

        return httpx.Client(base_url=self.url, timeout=60, trust_env=False)

    def patch(self, patch: dict[str, Any]) -> dict[str, Any]:
        with self._http() as c:
            r = c.post("/_sandbox/config", json=patch)
            r.raise_for_status()
            return r.json()

    def reset(self) -> None:
        with self._http() as c:
            c.post("/_sandbox/reset", json={}).raise_for_status()

    def stats(self) -> dict[str, Any]:
        with self._http() as c:
            r = c.get("/_sandbox/stats")
            r.raise_for_status()
            return r.json()

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.proc.pid) if self.proc else None


def vendor_calls(stats: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per vendor: requests received, 429s, and accepted requests (the ones that count against the limit)."""
    out = {}
    for name in PROVIDERS:
        v = stats["vendors"][name]
        out[name] = {"requests": v["requests"], "rate_limited": v["rate_limited"],
                     "accepted": v["requests"] - v["rate_limited"], "by_status": v["by_status"],
                     "max_in_flight": v["max_in_flight"], "credits_charged": v["credits_charged"]}
    return out


# --------------------------------------------------------------------------- lead files


def world_size_for(n_leads: int) -> int:
    """People in the sandbox world for a list of ``n_leads`` distinct people (10% spare for changed rows)."""
    from enrichment_assets.sandbox.world import World

    return max(World.DEFAULT_SIZE, int(n_leads * 1.1) + 10)


def write_leads(path: Path, n_leads: int, *, seed: int = 7, world_size: int | None = None) -> dict[str, Any]:
    """A messy CRM-like CSV of ``n_leads`` rows (4 bad on purpose), every good row a distinct person of the world."""
    from enrichment_assets.sandbox.sample_data import write_sample_leads
    from enrichment_assets.sandbox.world import World

    size = world_size or world_size_for(n_leads)
    started = time.perf_counter()
    rows = write_sample_leads(path, World(seed, size), n=n_leads, seed=seed)
    return {"path": str(path), "rows": len(rows), "world_size": size, "seed": seed,
            "seconds": round(time.perf_counter() - started, 2)}


def staged_leads(path: Path, list_id: str, workdir: Path):
    """The leads of ``path`` exactly as ingestion normalizes them (first row wins per record_id), as ``Lead``s."""
    import pyarrow.parquet as pq

    from enrichment_assets.leads.ingest import stage_lead_file
    from enrichment_assets.leads.model import Lead

    valid, _, _ = stage_lead_file(path, workdir)
    seen: set[str] = set()
    for batch in pq.ParquetFile(valid).iter_batches(batch_size=50_000):
        cols = batch.to_pydict()
        for i in range(batch.num_rows):
            rid = cols["record_id"][i]
            if rid in seen:
                continue
            seen.add(rid)
            yield Lead(list_id=list_id, record_id=rid, first_name=cols["first_name"][i],
                       last_name=cols["last_name"][i], company=cols["company"][i], domain=cols["domain"][i],
                       email=cols["email"][i], linkedin_url=cols["linkedin_url"][i], country=cols["country"][i],
                       fingerprint=cols["fingerprint"][i])


# --------------------------------------------------------------------------- config and environment


def write_config(path: Path, *, rps: float, max_concurrency: int, burst: int | None = None,
                 crustdata_batch_wait: float | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """An enrichment.yaml like the repo's, with one common client rate limit and concurrency for every provider."""
    import yaml

    with open(ROOT / "enrichment.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    for name in PROVIDERS:
        p = config.setdefault("providers", {}).setdefault(name, {})
        p["rate_limit_per_second"] = rps
        p["max_concurrency"] = max_concurrency
        if burst is not None:  # else the product's default (config.ProviderConfig.effective_burst)
            p["burst"] = burst
        p["timeout_seconds"] = 60
    if crustdata_batch_wait is not None:
        config["providers"]["crustdata"]["batch_wait_seconds"] = crustdata_batch_wait
    for name, values in (extra or {}).items():
        config["providers"][name].update(values)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config


def bench_path_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def enrich_env(workdir: Path, config_path: Path, base_url: str | None) -> dict[str, str]:
    """An isolated environment for `enrich run`: own DAGSTER_HOME, DuckDB, inbox; vendors at ``base_url``."""
    env = bench_path_env()
    for name in PROVIDERS:
        for suffix in ("_API_KEY", "_BASE_URL"):
            env.pop(f"{name.upper()}{suffix}", None)
        if base_url:
            env[f"{name.upper()}_BASE_URL"] = base_url
    (workdir / "dagster_home").mkdir(parents=True, exist_ok=True)
    (workdir / "inbox").mkdir(exist_ok=True)
    env.update({
        "DAGSTER_HOME": str(workdir / "dagster_home"),
        "ENRICHMENT_DB": str(workdir / "enrichment.duckdb"),
        "ENRICHMENT_INBOX": str(workdir / "inbox"),
        "ENRICHMENT_CONFIG": str(config_path),
        "ENRICHMENT_SUPPRESSION": str(workdir / "suppression.csv"),
        "ENRICHMENT_MODE": "sandbox",
        "COLUMNS": "200",
    })
    return env


# --------------------------------------------------------------------------- a benchmark's workspace


@contextlib.contextmanager
def bench_workdir(given: Path | None, prefix: str) -> Iterator[Path]:
    """The folder a benchmark works in: ``given`` (``--workdir``, kept afterwards), else a temp folder that is
    deleted at the end, also when the benchmark fails."""
    work = given or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    finally:
        if given is None:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def sandboxed_run(work: Path, config_path: Path, *, world_size: int,
                  realistic: bool = False) -> Iterator[tuple[SandboxProcess, dict[str, str]]]:
    """The vendor sandbox in its own process (log in ``work/sandbox.log``) and an isolated `enrich run`
    environment in ``work`` whose vendors all point at it: ``(sandbox, env)``."""
    work.mkdir(parents=True, exist_ok=True)
    with SandboxProcess(world_size=world_size, realistic=realistic, log=work / "sandbox.log") as sandbox:
        yield sandbox, enrich_env(work, config_path, sandbox.url)


def prefill_store(leads_path: Path, work: Path, *, list_name: str, world_size: int,
                  config_path: Path) -> dict[str, Any]:
    """Fill ``work``'s response store for the list with ``_prefill.py`` (no HTTP; in its own process, so its
    memory is not the benchmark's); its JSON report and ``wall_s``."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_prefill.py"), str(leads_path),
                          str(work / "enrichment.responses.sqlite"), "--list", list_name,
                          "--world-size", str(world_size), "--config", str(config_path)],
                         cwd=str(ROOT), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"_prefill.py exited {out.returncode}:\n{out.stderr[-3000:]}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report


# --------------------------------------------------------------------------- running `enrich run`


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(x) for x in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """Samples the RSS of a process (and, separately, of its children) every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (t, main MB, children MB)
        self.cpu: list[tuple[float, float]] = []  # (t, CPU seconds of the main process so far)
        self._stop_event = threading.Event()
        self._t0 = time.perf_counter()
        self.t0_epoch = time.time()

    def run(self) -> None:
        while not self._stop_event.is_set():
            main = _rss_mb(self.pid)
            kids = sum(_rss_mb(k) for k in _children(self.pid))
            t = time.perf_counter() - self._t0
            if main or kids:
                self.samples.append((t, main, kids))
            cpu = proc_cpu_seconds(self.pid)
            if cpu is not None:
                self.cpu.append((t, cpu))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)

    @property
    def peak_mb(self) -> float:
        return max((m for _, m, _ in self.samples), default=0.0)

    @property
    def peak_children_mb(self) -> float:
        return max((k for _, _, k in self.samples), default=0.0)

    def peak_between(self, t0: float, t1: float) -> float:
        return max((m for t, m, _ in self.samples if t0 <= t <= t1), default=0.0)


def _cpu_at(cpu: list[tuple[float, float]], t: float) -> float | None:
    """CPU seconds of the process at time ``t`` (linear between the samples around it)."""
    before = [(a, c) for a, c in cpu if a <= t]
    after = [(a, c) for a, c in cpu if a >= t]
    if not before or not after:
        return None
    (a0, c0), (a1, c1) = before[-1], after[0]
    return c0 if a1 == a0 else c0 + (c1 - c0) * (t - a0) / (a1 - a0)


def peak_by_step(samples: list[tuple[float, float, float]], t0_epoch: float,
                 steps: dict[str, dict[str, float]], cpu: list[tuple[float, float]] | None = None
                 ) -> dict[str, dict[str, float]]:
    """Peak RSS of the process (and of its children, e.g. dbt) and its CPU seconds while each step ran."""
    out = {}
    for key, s in steps.items():
        if "start_epoch" not in s:
            continue
        a, b = s["start_epoch"] - t0_epoch, s["end_epoch"] - t0_epoch
        inside = [(m, k) for t, m, k in samples if a <= t <= b]
        out[key] = {"peak_rss_mb": round(max((m for m, _ in inside), default=0.0), 1),
                    "peak_children_rss_mb": round(max((k for _, k in inside), default=0.0), 1)}
        if cpu:
            c0, c1 = _cpu_at(cpu, a), _cpu_at(cpu, b)
            out[key]["cpu_s"] = round(c1 - c0, 2) if c0 is not None and c1 is not None else None
    return out


WATERFALL_DONE = re.compile(r"Waterfall done in ([0-9.]+)s: (\d+) leads, (\d+) vendor requests")
RUN_ID = re.compile(r"Run ([0-9a-f-]{36})")


@dataclass
class EnrichRun:
    returncode: int
    wall_s: float
    waterfall_s: float | None
    waterfall_requests: int | None
    run_id: str | None
    cpu_user_s: float | None
    cpu_sys_s: float | None
    max_rss_mb_time_v: float | None
    peak_rss_mb_sampled: float
    peak_children_rss_mb: float
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    log_path: str = ""
    rss_samples: list[tuple[float, float, float]] = field(default_factory=list)
    rss_t0_epoch: float = 0.0
    cpu_samples: list[tuple[float, float]] = field(default_factory=list)
    step_memory: dict[str, dict[str, float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("rss_samples", "rss_t0_epoch", "cpu_samples")}
        # a thinned RSS curve (at most ~200 points) to see where memory goes
        step = max(1, len(self.rss_samples) // 200)
        d["rss_curve_mb"] = [(round(t, 1), round(m, 1), round(k, 1)) for t, m, k in self.rss_samples[::step]]
        return d


def run_enrich(path: Path, env: dict[str, str], workdir: Path, *, list_name: str | None = None, label: str = "run",
               extra_args: list[str] | None = None, timeout: float = 4 * 3600) -> EnrichRun:
    """`/usr/bin/time -v enrich run PATH` in a subprocess; wall time, the waterfall's own time, memory, step times."""
    log_path = workdir / f"{label}.log"
    time_path = workdir / f"{label}.time"
    # --verbose: the run's log lines ("Waterfall done in Xs", the merge's re-scored count), which the benchmarks read.
    cmd = [str(VENV_BIN / "enrich"), "run", str(path), "--verbose"] + (["--list", list_name] if list_name else []) \
        + (extra_args or [])
    use_time = Path("/usr/bin/time").exists()
    if use_time:
        cmd = ["/usr/bin/time", "-v", "-o", str(time_path), *cmd]
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
        target = proc.pid
        if use_time:  # sample the enrich process itself, not /usr/bin/time
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not _children(proc.pid):
                time.sleep(0.01)
            kids = _children(proc.pid)
            target = kids[0] if kids else proc.pid
        sampler = RssSampler(target)
        sampler.start()
        try:
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
            sampler.stop()
        wall = time.perf_counter() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    done = WATERFALL_DONE.search(text)
    run_id = RUN_ID.search(text)
    user = sys_ = rss = None
    if use_time and time_path.exists():
        t = time_path.read_text()
        m = re.search(r"User time \(seconds\): ([0-9.]+)", t)
        user = float(m.group(1)) if m else None
        m = re.search(r"System time \(seconds\): ([0-9.]+)", t)
        sys_ = float(m.group(1)) if m else None
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
        rss = int(m.group(1)) / 1024 if m else None
    run = EnrichRun(returncode=proc.returncode, wall_s=wall, waterfall_s=float(done.group(1)) if done else None,
                    waterfall_requests=int(done.group(3)) if done else None,
                    run_id=run_id.group(1) if run_id else None, cpu_user_s=user, cpu_sys_s=sys_,
                    max_rss_mb_time_v=rss, peak_rss_mb_sampled=sampler.peak_mb,
                    peak_children_rss_mb=sampler.peak_children_mb, log_path=str(log_path),
                    rss_samples=sampler.samples, rss_t0_epoch=sampler.t0_epoch, cpu_samples=sampler.cpu)
    if run.run_id:
        run.steps = step_times(Path(env["DAGSTER_HOME"]), run.run_id)
        run.step_memory = peak_by_step(run.rss_samples, run.rss_t0_epoch, run.steps, run.cpu_samples)
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-40:])
        raise RuntimeError(f"`enrich run` exited {proc.returncode}; log {log_path}:\n{tail}")
    return run


def step_times(dagster_home: Path, run_id: str) -> dict[str, dict[str, float]]:
    """Start/end/duration of each step of the run, from the Dagster instance's event log."""
    from dagster import DagsterInstance

    out: dict[str, dict[str, float]] = {}
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run_stats = instance.get_run_stats(run_id)
        t0 = run_stats.start_time or 0.0
        for s in instance.get_run_step_stats(run_id):
            if s.start_time and s.end_time:
                out[s.step_key] = {"start_s": round(s.start_time - t0, 2), "end_s": round(s.end_time - t0, 2),
                                   "seconds": round(s.end_time - s.start_time, 2),
                                   "start_epoch": s.start_time, "end_epoch": s.end_time}
        if run_stats.start_time and run_stats.end_time:
            out["_run"] = {"start_s": 0.0, "end_s": round(run_stats.end_time - t0, 2),
                           "seconds": round(run_stats.end_time - t0, 2)}
    return out


def ledger_calls(db_path: Path, run_id: str) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(db_path), read_only=True) as conn:
        rows = conn.execute("SELECT provider, count(*) FROM credit_ledger WHERE run_id = ? GROUP BY 1",
                            [run_id]).fetchall()
    return dict(rows)


# --------------------------------------------------------------------------- printing


def print_table(title: str, columns: list[str], rows: list[list[Any]], note: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[fmt(v) for v in row])
    console = Console(width=max(170, Console().width))
    console.print(table)
    if note:
        console.print(note, highlight=False)


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
