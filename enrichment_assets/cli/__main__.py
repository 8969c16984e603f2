"""``python -m enrichment_assets.cli``: the same as ``enrich``."""

import sys

from enrichment_assets.cli.main import main

sys.exit(main())
