"""``enrich sandbox``: serve the five-vendor simulator over HTTP."""

from __future__ import annotations

import argparse

from enrichment_assets.cli.output import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    sandbox = sub.add_parser("sandbox", help="serve the five-vendor simulator over HTTP")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from enrichment_assets.sandbox.server import serve

    serve(port=args.port, host=args.host)
    return EXIT_OK
