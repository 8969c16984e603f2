"""The ``enrich`` command line: its parser, made of each command group's subcommands, and the entry point."""

from __future__ import annotations

import argparse

from enrichment_assets.cli import estimate, personal_data, run, sandbox, state
from enrichment_assets.cli.output import errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enrich", description="Turn lead lists into reachable phone numbers.")
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_parser(sub)
    estimate.add_parser(sub)
    sandbox.add_parser(sub)
    personal_data.add_parsers(sub)
    state.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        errors.print("enrich: interrupted")
        return 130

