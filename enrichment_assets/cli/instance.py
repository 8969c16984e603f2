"""Opening the Dagster instance ``enrich run`` executes in: $DAGSTER_HOME if set, else the repo's own."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterInstance


def get_instance():
    """The Dagster instance: $DAGSTER_HOME if set, else the repo's own (dagster.yaml, state in .dagster_home/)."""
    return instance_opener()()


def instance_opener() -> Callable[[], DagsterInstance]:
    """Prepare the instance's home (and the working directory) now; return what opens the instance.

    Split so that `enrich run` can open the instance, which waits mostly on SQLite's disk syncs, in a thread
    while it loads the definitions, which is CPU work.
    """
    from dagster import DagsterInstance

    from enrichment_assets.settings import repo_root

    if os.environ.get("DAGSTER_HOME"):
        home = Path(os.environ["DAGSTER_HOME"])
        home.mkdir(parents=True, exist_ok=True)

        def open_home() -> DagsterInstance:
            with _instance_lock(home):
                return DagsterInstance.get()
        return open_home
    root = repo_root()
    # dagster.yaml's paths are relative to the repo root, exactly as `dagster dev` sees them from there.
    os.chdir(root)
    (root / ".dagster_home").mkdir(exist_ok=True)

    def open_repo_instance() -> DagsterInstance:
        with _instance_lock(root / ".dagster_home"):
            return DagsterInstance.from_config(str(root))
    return open_repo_instance


@contextlib.contextmanager
def _instance_lock(folder: Path):
    """Serialize opening the instance: two `enrich run`s on a fresh home would race to create its storage."""
    with (folder / ".enrich-instance.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
