"""What wraps a provider call: a slot pool per server (pooled), retries and outage waits
(resilient), spreading calls over replicas (fleet), a fallback model (fallback), the model
configuration re-read from the store at each call (live), and the retries and fallback of an
image description (vision). Imports ``providers``, ``contract``, ``store`` and the prompt types
of ``extraction.prompts``; never Dagster."""
