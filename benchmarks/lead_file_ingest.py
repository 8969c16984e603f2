"""Ingestion alone, and the enriched file, for a big CSV and a big Excel workbook: time and peak memory.

One command:

    python benchmarks/lead_file_ingest.py [--csv-rows 1000000] [--xlsx-rows 100000] [--workdir DIR]
                                          [--code DIR --label NAME]

The CSV is the benchmarks' messy CRM-like list (``_common.write_leads``: 4 bad rows on purpose, every good row
a distinct person); the workbook holds the first rows of such a list, written by openpyxl with a shared-strings
table as Excel writes it. Each measurement runs in a fresh process (its peak RSS is the process's own,
``VmHWM``): ``ingest`` loads the file into a new DuckDB file with the pipeline's connection settings (memory
cap included); ``export`` then writes the list's enriched copy from that database (``write_enriched_file``; no
vendor ran, so the phone columns are empty, the work of the join and the writing is the same).

``--code DIR`` runs the ``ingest`` measurement on another checkout of the package (e.g. ``git archive main``
unpacked in DIR) instead of this one, to compare before and after; ``--label`` names that run in the results.
Results: ``benchmarks/results/lead_file_ingest.json`` (one entry per label and file).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, load, print_table, report_header, write_leads, write_results

NAME = "lead_file_ingest"


# --------------------------------------------------------------------------- inputs


def make_csv(workdir: Path, rows: int) -> Path:
    path = workdir / f"leads_{rows}.csv"
    if not path.exists():
        write_leads(path, rows)
    return path


def make_xlsx(workdir: Path, rows: int) -> Path:
    import csv

    from openpyxl import Workbook

    path = workdir / f"leads_{rows}.xlsx"
    if path.exists():
        return path
    source = make_csv(workdir, rows)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    with source.open(encoding="utf-8-sig", newline="") as handle:
        for values in csv.reader(handle):
            sheet.append(values)
    book.save(path)
    return path


# --------------------------------------------------------------------------- one measurement, in a child


def _child(kind: str, path: Path, db: Path, out_dir: Path) -> dict:
    started, cpu0 = time.perf_counter(), time.process_time()
    from contextlib import contextmanager

    from enrichment_assets.storage.warehouse import connect

    conn = connect(db)

    @contextmanager
    def factory():
        yield conn

    result: dict = {}
    if kind == "ingest":
        from enrichment_assets.leads.ingest import ingest_lead_file

        summary = ingest_lead_file(factory, path, "bench")
        result = {"rows_read": summary.rows_read, "leads": summary.leads, "rejected": summary.rejected,
                  "encoding": getattr(summary, "encoding", None)}
    else:
        from enrichment_assets.leads.enriched_file import write_enriched_file

        summary = write_enriched_file(factory, "bench", path, out_dir)
        result = {"rows": summary.rows, "csv_mb": round(summary.csv_path.stat().st_size / 1e6, 1),
                  "xlsx_mb": round(summary.xlsx_path.stat().st_size / 1e6, 1) if summary.xlsx_path else None}
    conn.close()
    result.update(wall_s=round(time.perf_counter() - started, 2), cpu_s=round(time.process_time() - cpu0, 2),
                  peak_rss_mb=_peak_rss_mb())
    return result


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries it over from the forking
    parent across exec, so a child of a big parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(kind: str, path: Path, db: Path, out_dir: Path, code: Path | None) -> dict:
    # Import the package from `code` when given: ahead of this checkout on sys.path (which _common puts first).
    use_code = f"sys.path.insert(0, {str(code)!r}); " if code is not None else ""
    script = (f"import sys, json; sys.path.insert(1, {str(ROOT / 'benchmarks')!r}); "
              f"from lead_file_ingest import _child; from pathlib import Path; {use_code}"
              f"import enrichment_assets; print(enrichment_assets.__file__, file=sys.stderr); "
              f"print(json.dumps(_child({kind!r}, Path({str(path)!r}), Path({str(db)!r}), Path({str(out_dir)!r}))))")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    load_before = load()
    out = subprocess.run([sys.executable, "-c", script], cwd=str(ROOT), capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["package"] = out.stderr.strip().splitlines()[0]
    result["load_before"] = load_before
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, help="keep inputs here (reused when present)")
    parser.add_argument("--code", type=Path, help="measure ingestion with the package in this folder instead")
    parser.add_argument("--label", default="this checkout")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lead-file-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    inputs = [("csv", make_csv(workdir, args.csv_rows))] if args.csv_rows else []
    if args.xlsx_rows and args.code is None:
        inputs.append(("xlsx", make_xlsx(workdir, args.xlsx_rows)))
    results_path = Path(ROOT / "benchmarks" / "results" / f"{NAME}.json")
    report = json.loads(results_path.read_text()) if results_path.exists() else {"entries": {}}
    header = report_header(NAME, {"csv_rows": args.csv_rows, "xlsx_rows": args.xlsx_rows, "label": args.label,
                                  "code": str(args.code) if args.code else "this checkout"})
    table = []
    for kind, path in inputs:
        with tempfile.TemporaryDirectory(prefix="bench-db-", dir=workdir) as tmp:
            db, out_dir = Path(tmp) / "bench.duckdb", Path(tmp) / "out"
            entry = {"file": path.name, "file_mb": round(path.stat().st_size / 1e6, 1),
                     "ingest": measure("ingest", path, db, out_dir, args.code)}
            if args.code is None:
                entry["export"] = measure("export", path, db, out_dir, None)
        entry.update({k: header[k] for k in ("measured_at", "machine", "git", "versions")})
        report["entries"][f"{args.label}: {kind} {path.name}"] = entry
        for step in ("ingest", "export"):
            if step in entry:
                r = entry[step]
                table.append([f"{args.label}: {kind} {step}", entry["file_mb"], r["wall_s"], r["cpu_s"],
                              r["peak_rss_mb"], r.get("rows_read", r.get("rows")), r.get("encoding", ""),
                              r["load_before"][0]])
    report.update({k: v for k, v in header.items() if k != "settings"})
    write_results(NAME, report)
    print_table("Lead file ingestion and enriched file", ["measurement", "file MB", "wall s", "CPU s", "peak RSS MB",
                                                           "rows", "encoding", "load 1m"], table)


if __name__ == "__main__":
    main()
