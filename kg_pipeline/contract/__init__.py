"""What every stage speaks: the extraction schema (pydantic; also the JSON schema sent for
constrained decoding), the entity and relation vocabularies (+ ``vocabularies/``), reference
extractions, name normalisation and the price table (``prices.json``). The bottom stage: it
imports only ``settings`` (the KG_* variables) and ``errors`` (KgError), and never Dagster."""
