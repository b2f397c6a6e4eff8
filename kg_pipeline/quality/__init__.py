"""Scoring extractions against references: pure functions, no Dagster."""
