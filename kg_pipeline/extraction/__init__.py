"""Stage 2, chunks → records: the prompt registry, one chunk's extraction (extract) and its
outcome, named answers, quote matching and grounding, concept merging, routing, Prometheus
telemetry, a run's cost and latency analytics, the cloud baseline and the training-data export.
Imports ``contract``, ``corpus``, ``providers`` and ``store`` (the training export also scores
with ``quality.concepts``); never Dagster."""
