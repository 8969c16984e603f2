"""What `enrich run` shows while the run goes, drawn only from the run's own Dagster event log.

By default: one line per finished step, each warning or error the run logs, and, on a terminal, a live display
(the step running; leads through the waterfall with an ETA; per vendor calls, found, credits and USD, read from
the waterfall step's progress line). When stdout is not a terminal (CI, a pipe, a test) the same lines are
printed plain, without animation. The run's full logs stay where `dagster dev` shows them: the event log, and
the compute logs holding what the run printed (dbt's output among it); the process's own stdout and stderr are
muted while the run goes. dbt's output is printed only when the dbt step failed.

``--verbose`` (``verbose=True``) prints what the run prints, as it comes (Dagster's log lines, dbt's output),
and nothing of this module's own.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from enrichment_assets.waterfall.progress import WaterfallProgress, parse_progress

if TYPE_CHECKING:
    from dagster import DagsterInstance, EventLogEntry

#: Tail of dbt's output printed when its step failed (the whole output is in the run's compute logs).
DBT_OUTPUT_LINES = 200


@dataclass
class StepRecord:
    """What one step did, from its events."""

    key: str
    started: float | None = None
    assets: list[str] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)


def _duration(seconds: float | None) -> str:
    return "" if seconds is None else f" ({seconds:.1f} s)"


def _assets_text(assets: list[str]) -> str:
    return ", ".join(assets) if len(assets) <= 5 else f"{len(assets)} assets"


class RunEvents:
    """Turns the run's event log entries into the lines a person reads, and the waterfall's latest figures.

    Pure bookkeeping, no output: :meth:`observe` returns the lines an entry finishes.
    """

    def __init__(self) -> None:
        self.steps: dict[str, StepRecord] = {}
        self.running: str | None = None
        self.waterfall: WaterfallProgress | None = None
        self.failed_steps: list[str] = []

    def observe(self, entry: EventLogEntry) -> list[str]:
        event = entry.dagster_event
        step_key = entry.step_key
        if event is None:  # a log message
            message = entry.user_message or ""
            if step_key == self.running and (figures := parse_progress(message)) is not None:
                self.waterfall = figures
                return []
            if entry.level >= logging.WARNING:
                mark = "✗" if entry.level >= logging.ERROR else "!"
                first = message.strip().splitlines()[0] if message.strip() else ""
                return [f"{mark} {step_key or 'run'}: {first}"]
            return []
        if step_key is None:
            return []
        kind = event.event_type_value
        step = self.steps.setdefault(step_key, StepRecord(step_key))
        if kind == "STEP_START":
            step.started = entry.timestamp
            self.running = step_key
        elif kind == "ASSET_MATERIALIZATION":
            step.assets.append(event.asset_key.to_user_string())
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if evaluation.passed:
                step.checks_passed += 1
            else:
                severity = getattr(evaluation.severity, "value", evaluation.severity)
                step.checks_failed.append(f"{evaluation.asset_check_key.name} ({str(severity).lower()})")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            if self.running == step_key:
                self.running = None
            took = entry.timestamp - step.started if step.started is not None else None
            if kind == "STEP_SKIPPED":
                return [f"– {step_key}: skipped"]
            if kind == "STEP_FAILURE":
                self.failed_steps.append(step_key)
                return [f"✗ {step_key}{_duration(took)}: failed"]
            return [f"{'!' if step.checks_failed else '✓'} {step_key}{_duration(took)}{self._did(step)}"]
        return []

    @staticmethod
    def _did(step: StepRecord) -> str:
        parts = []
        if step.assets:
            parts.append(_assets_text(step.assets))
        if step.checks_passed:
            parts.append("check passed" if step.checks_passed == 1 else f"{step.checks_passed} checks passed")
        if step.checks_failed:
            parts.append("check failed: " + ", ".join(step.checks_failed))
        return (": " + "; ".join(parts)) if parts else ""


class LiveView:
    """The terminal display: finished steps scroll above; below, the running step, the waterfall bar and vendors."""

    def __init__(self, console: Console) -> None:
        from rich.live import Live

        self._console = console
        self._steps = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                               console=console)
        self._step_task = self._steps.add_task("starting the run", total=None)
        self._leads = Progress(TextColumn("waterfall"), BarColumn(), MofNCompleteColumn(), TextColumn("leads"),
                               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self._lead_task = None
        self._vendors: Table | None = None
        # Not redirecting sys.stdout/stderr: what the run prints (dbt, Dagster's console logger) must stay muted.
        self._live = Live(self._renderable(), console=console, refresh_per_second=8, transient=True,
                          redirect_stdout=False, redirect_stderr=False)

    def _renderable(self) -> Group:
        parts = [self._steps]
        if self._lead_task is not None:
            parts.append(self._leads)
        if self._vendors is not None:
            parts.append(self._vendors)
        return Group(*parts)

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def print(self, line: str) -> None:
        self._live.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def update(self, events: RunEvents) -> None:
        running = events.running
        description = f"running {running}" if running else "between steps"
        self._steps.update(self._step_task, description=description)
        figures = events.waterfall
        if figures is not None:
            if self._lead_task is None:
                self._lead_task = self._leads.add_task("leads", total=figures.total)
            self._leads.update(self._lead_task, total=figures.total, completed=figures.done)
            table = Table(show_edge=False, box=None, padding=(0, 2))
            for column in ("vendor", "calls", "found", "credits", "USD"):
                table.add_column(column, justify="left" if column == "vendor" else "right")
            for v in figures.vendors:
                table.add_row(v.provider, f"{v.calls:,}", f"{v.found:,}", f"{v.credits:,.4g}", f"{v.usd:,.2f}")
            self._vendors = table
        self._live.update(self._renderable())


class RunProgress:
    """Shows a run's progress from its events; use as a context manager around the run, pass :attr:`listener`.

    ``console``: where the lines go (the CLI's stdout console). Not verbose: while inside, file descriptors 1
    and 2 point to /dev/null (what the run prints stays in its compute logs) and this display writes to a copy
    of the original stdout.
    """

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self.events = RunEvents()
        self._console = console
        self._out: IO[str] | None = None
        self._view: LiveView | None = None
        self._plain: Console | None = None
        self._saved: list[tuple[int, int]] = []
        self._broken: BaseException | None = None

    def __enter__(self) -> RunProgress:
        if self.verbose:
            return self
        interactive = self._console.is_terminal
        try:
            stdout_fd = sys.stdout.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):  # not a real file (called in process)
            self._plain = self._console
            return self
        sys.stdout.flush()
        sys.stderr.flush()
        self._out = os.fdopen(os.dup(stdout_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        display = Console(file=self._out, highlight=False, force_terminal=interactive or None,
                          width=self._console.width if not interactive else None)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            for fd in (1, 2):
                self._saved.append((fd, os.dup(fd)))
                os.dup2(devnull, fd)
        finally:
            os.close(devnull)
        if interactive:
            self._view = LiveView(display)
            self._view.start()
        else:
            self._plain = display
        return self

    def __exit__(self, *exc: object) -> None:
        if self.verbose:
            return
        self._restore()
        if self._broken is not None:
            self._console.print(f"(the progress display stopped: {self._broken!r}; the run went on)", markup=False)

    def _restore(self) -> None:
        if self._view is not None:
            self._view.stop()
        with contextlib.suppress(ValueError, OSError):
            sys.stdout.flush()
            sys.stderr.flush()
        for fd, saved in self._saved:
            os.dup2(saved, fd)
            os.close(saved)
        self._saved.clear()
        if self._out is not None:
            self._out.close()

    def notice(self, line: str, fallback: Callable[[str], None]) -> None:
        """A line of the command's own while the run goes (what it waits for): above the live display, else on
        the original stderr, which is muted for the run; ``fallback`` prints it when nothing is muted."""
        if self._view is not None:
            self._view.print(line)
            return
        stderr = dict(self._saved).get(2)
        if stderr is None:
            fallback(line)
            return
        os.write(stderr, (line + "\n").encode("utf-8", errors="replace"))

    def listener(self, entry: EventLogEntry) -> None:
        """Called by the Dagster instance with each stored event of the run; never raises into the run."""
        if self.verbose or self._broken is not None:
            return
        try:
            lines = self.events.observe(entry)
            if self._view is not None:
                for line in lines:
                    self._view.print(line)
                self._view.update(self.events)
            elif self._plain is not None:
                for line in lines:
                    self._plain.print(line, markup=False, highlight=False, soft_wrap=True)
        except Exception as exc:  # noqa: BLE001 - a display bug must not fail a paid-for run
            self._broken = exc

    def report_failed_dbt(self, instance: DagsterInstance, run_id: str, dbt_step: str) -> None:
        """Print dbt's output (from the run's compute logs) when the dbt step failed; its error is printed apart."""
        if self.verbose or dbt_step not in self.events.failed_steps:
            return
        output = dbt_output(instance, run_id)
        if output is None:
            self._console.print(f"dbt's output is in the run's logs (Dagster UI, run {run_id}).", markup=False)
            return
        lines = output.rstrip().splitlines()
        shown = lines[-DBT_OUTPUT_LINES:]
        header = f"dbt's output (last {len(shown)} of {len(lines)} lines):" if len(shown) < len(lines) \
            else "dbt's output:"
        self._console.print(header, markup=False)
        self._console.print("\n".join(shown), markup=False, highlight=False, soft_wrap=True)


def dbt_output(instance: DagsterInstance, run_id: str) -> str | None:
    """What the run wrote to stdout, from its compute logs: in an in-process run, dbt's output."""
    from dagster import DagsterEventType

    manager = instance.compute_log_manager
    texts = []
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.LOGS_CAPTURED).records:
        captured = record.event_log_entry.dagster_event.logs_captured_data
        data = manager.get_log_data(manager.build_log_key_for_run(run_id, captured.file_key))
        if data.stdout:
            texts.append(data.stdout.decode("utf-8", "replace"))
    return "".join(texts) if texts else None
