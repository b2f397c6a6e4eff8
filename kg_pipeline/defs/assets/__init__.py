"""Thin Dagster assets over the pure modules: they wire, log and attach metadata."""
