"""The ``enrich`` command line: run a lead list through the graph, forecast its cost, serve the sandbox, forget a
person or export what is held about them, re-encrypt the response store.

One module per command group (``run.py``, ``estimate.py``, ``sandbox.py``, ``personal_data.py``), each adding its
subcommands to the parser and holding their handlers; ``main.py`` puts the parser together. Heavy imports (Dagster,
the definitions, DuckDB) happen inside the handlers, so that ``enrich --help`` starts fast.
"""

from enrichment_assets.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
