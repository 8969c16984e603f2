"""Warnings of the domain core's Python loggers, repeated in the Dagster run log of the step that caused them.

Not Dagster's managed python loggers (``python_logs.managed_python_loggers`` in dagster.yaml): that setting
belongs to the instance, so with any other instance (a DAGSTER_HOME of your own, the tests' instances) the
vendors' "provider unavailable" and "out of credits" lines silently leave the run log; and its
``python_log_level`` sets the level of each managed logger for the whole process and keeps it after the run.
Both measured with dagster 1.13 (a step logging an INFO and an ERROR line on ``enrichment_assets.vendors``:
no line reached the run log of an instance without the setting; with it, only the ERROR).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import AssetExecutionContext


class _RunLogHandler(logging.Handler):
    def __init__(self, context: AssetExecutionContext) -> None:
        super().__init__(level=logging.WARNING)
        self._context = context

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self._context.log.error(message)
        else:
            self._context.log.warning(message)


@contextmanager
def warnings_in_run_log(context: AssetExecutionContext, logger_name: str) -> Iterator[None]:
    """While the block runs, the logger's warnings and errors also go to the step's run log."""
    handler = _RunLogHandler(context)
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
