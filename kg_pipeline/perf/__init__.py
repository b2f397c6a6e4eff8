"""Load generation and latency statistics for serving benchmarks (pure, no Dagster)."""
