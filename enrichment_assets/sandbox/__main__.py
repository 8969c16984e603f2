"""``python -m enrichment_assets.sandbox [--port N] [--seed S] [--size N] [--realistic]``: serve the sandbox."""

from __future__ import annotations

import argparse
import contextlib

from enrichment_assets.sandbox.config import SandboxConfig
from enrichment_assets.sandbox.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the five vendor APIs of the enrichment sandbox.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=None, help="people in the world (default 3000)")
    parser.add_argument("--realistic", action="store_true", help="lognormal latency, p50 0.3 s, p95 1 s")
    args = parser.parse_args(argv)
    kwargs = {"seed": args.seed} | ({"world_size": args.size} if args.size else {})
    config = SandboxConfig.realistic(**kwargs) if args.realistic else SandboxConfig(**kwargs)
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, config, host=args.host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
