"""The embedded model server and what knows about model servers: building and starting
llama-server, fetching the default model, the endpoints a model is served at, what each server
has loaded (model status), quantization advice and this machine's hardware. Imports ``providers``
(whose loaded.py holds the dataclasses a server's answer fills); never Dagster (its observations
of model status are in defs/model_observations.py) nor the stages above it."""
