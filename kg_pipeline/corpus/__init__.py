"""Stage 1, documents → chunks: loading and validating documents, chunking, chunk analysis,
images, corpus statistics and the importers of public gold sets. Imports only ``contract``
(and ``errors``); never Dagster."""
