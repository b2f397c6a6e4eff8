"""Dagster only: the assets and their checks (``defs.assets``), the resources, the model
registry's dynamic partitions, the per-server pools that limit calls in flight, the step slots a
`kg` run claims up front and the recovery of runs whose process died. With ``cli`` the only
layer that imports Dagster; it may import every package below it, never ``cli``."""
