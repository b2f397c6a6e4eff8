"""The `kg` command (``kg_pipeline.cli.main:main``), one module per command group: admin
(registered models), analytics, image, local (the embedded server), operator (recommend,
training export), routing, run (ingest, run, ui) and store; ``common`` holds what they share.
The top layer: it may import anything below it, Dagster included."""
