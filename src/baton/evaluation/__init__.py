"""Stage 6: metrics (one per module, accumulators with ``update``/``compute``), base against tuned."""
