"""The live provider builds its first provider from the configuration the run already read, and
rebuilds from a fresh read only when the configuration's version changes."""

from dataclasses import dataclass
from typing import Any

from kg_pipeline.middleware.live import LiveProvider, Switch


@dataclass
class Row:
    name: str
    model_name: str
    stamp: str

    def version(self) -> str:
        return self.stamp


class Stored:
    """A stand-in configuration store that counts its reads."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self.reads = 0

    def read(self) -> Row:
        self.reads += 1
        return self.row

    def version(self) -> str:
        return self.row.stamp


def test_the_first_build_reuses_the_row_already_read_and_a_change_rebuilds_once() -> None:
    stored = Stored(Row("a", "model-a", "1"))
    built: list[str] = []
    switches: list[Switch] = []

    def build(row: Row) -> Any:
        built.append(row.model_name)
        return object()

    live = LiveProvider(stored.row, stored.read, stored.version, build, switches.append)
    first = live.current()
    assert live.current() is first
    assert (built, stored.reads) == (["model-a"], 0)

    stored.row = Row("b", "model-b", "2")  # `kg admin extraction reload --model b`
    second = live.current()
    assert second is not first and live.current() is second
    assert (built, stored.reads) == (["model-a", "model-b"], 1)
    assert [(s.name, s.model, s.version) for s in switches] == [("b", "model-b", "2")]
    assert live.built == [first, second]
