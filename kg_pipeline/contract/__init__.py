"""What every stage speaks: the extraction schema (pydantic; also the JSON schema sent for
constrained decoding), the entity and relation vocabularies (+ ``vocabularies/``), reference
extractions, name normalisation and the price table (``prices.json``). The bottom layer: it
imports no other package of kg_pipeline, and never Dagster."""
