"""Stage 2, chunks → records: the prompt registry, one chunk's extraction (extract) and its
outcome, named answers, quote matching and grounding, concept merging, routing, Prometheus
telemetry, a run's cost and latency analytics and the cloud baseline. Imports ``contract``,
``corpus``, ``providers`` and ``store``; never Dagster."""
