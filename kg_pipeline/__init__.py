"""kg_pipeline: knowledge-graph extraction with local LLMs, measured against a cloud baseline."""

__version__ = "0.1.0"
