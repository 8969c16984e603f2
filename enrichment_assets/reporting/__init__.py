"""Pictures and summaries of what a run bought (no Dagster)."""
