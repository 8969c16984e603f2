"""Parse the dbt project while the waterfall waits on the vendors, so that the dbt step at the end of an
``enrich run`` starts building at once.

A run's dbt step parses the project before it builds (1–2 CPU-s, more for a database built for the first time),
on the run's critical path. The waterfall step, before it, mostly waits on the vendors' rate limits and
latency: this process has CPU to spare then. :class:`DbtParseAhead` listens to the run's events and, once the
waterfall step has been going for :data:`AFTER_SECONDS` (a walk with vendor calls to make, not a rerun that
finds everything stored), parses the project in a background thread for the build of this database; the dbt
step takes that manifest if nothing it depends on changed meanwhile (``dagster_defs/dbt_build.py``) and
parses itself otherwise. A parse that fails only costs the time: the step parses again and reports the error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from dagster import EventLogEntry

#: The step during which to parse, and how long it must have been going first.
WALK_STEP = "waterfall"
AFTER_SECONDS = 2.0

logger = logging.getLogger(__name__)


class DbtParseAhead:
    """An event listener for one run: ``parse`` (called with no argument) runs in a daemon thread once the
    walk has lasted :data:`AFTER_SECONDS`; a walk that ends sooner starts nothing."""

    def __init__(self, parse: Callable[[], object], after_seconds: float = AFTER_SECONDS) -> None:
        self._parse = parse
        self._after = after_seconds
        self._timer: threading.Timer | None = None
        self.started = threading.Event()
        self.done = threading.Event()

    def listener(self, entry: EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None or entry.step_key != WALK_STEP:
            return
        if event.event_type_value == "STEP_START" and self._timer is None:
            self._timer = threading.Timer(self._after, self._run)
            self._timer.daemon = True
            self._timer.start()
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and self._timer is not None:
            self._timer.cancel()

    def _run(self) -> None:
        self.started.set()
        try:
            self._parse()
        except Exception:  # an optimisation: the dbt step parses (and reports errors) itself
            logger.debug("parsing the dbt project ahead of its build failed", exc_info=True)
        finally:
            self.done.set()


def parse_for(dbt_resource: object, db_path: Path) -> Callable[[], object]:
    """The parse of the project for the build of ``db_path`` with the code location's dbt resource."""
    from enrichment_assets.dagster_defs.dbt_assets import parse_ahead_of_build

    return lambda: parse_ahead_of_build(dbt_resource, db_path)
