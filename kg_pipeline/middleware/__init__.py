"""What wraps a provider call: a slot pool per server (pooled), retries and outage waits
(resilient), spreading calls over replicas (fleet), a fallback model (fallback), the response
cache (cached), the model configuration re-read from the store at each call (live), and the
retries and fallback of an image description (vision); ``stack`` assembles the first five in
their one order. Imports ``providers`` and ``contract``; where pools, cached answers and
configurations are kept is handed in by the caller. Never Dagster."""
