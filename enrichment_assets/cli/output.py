"""What every ``enrich`` command prints through, and the exit codes they share."""

from __future__ import annotations

from rich.console import Console

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)


def fail_input(message: str) -> int:
    """Report bad input (a file, a flag, the config, a key) on stderr; the exit code for it."""
    errors.print(f"enrich: {message}", markup=False, soft_wrap=True)
    return EXIT_BAD_INPUT
