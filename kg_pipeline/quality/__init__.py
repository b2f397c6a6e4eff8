"""Scoring extractions against references (pure functions), and the training-data export, which
keeps the records whose score meets a threshold. Imports the stages below; never Dagster, and
never a model."""
