"""The public gold sets a benchmark run imports: where each one's files are, which seeded sample
of its documents a run takes, and what the run's folder is called.

A benchmark figure is only comparable with another taken on the same documents, so the sample
is a pure function of the data set, its size and the seed: ``random.Random(seed).sample`` over the
imported documents in file order, the draw ``benchmarks/redocred_quality.py`` makes, so the
product path and the side script score the same 50 documents for the same seed.

The data sets are not part of the repository (their licences and sizes keep them out): a run
reads the path given with ``--data``, else finds the data set under ``KG_DATASETS_DIR`` if set,
else under ``../shared/datasets`` beside the working folder or beside the checkout.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kg_pipeline.contract.vocabulary import Vocabulary
from kg_pipeline.corpus.importers.common import GoldSetFormatError, ImportedDocument, ImportSummary
from kg_pipeline.corpus.importers.redocred import import_redocred
from kg_pipeline.corpus.importers.text2kgbench import import_text2kgbench
from kg_pipeline.errors import KgError
from kg_pipeline.settings import DATASETS_DIR

T = TypeVar("T")

# The package's checkout: its parent holds shared/ where the data sets are kept beside it.
_CHECKOUT = Path(__file__).resolve().parents[3]
_SHARED = Path("..") / "shared" / "datasets"

Imported = tuple[list[ImportedDocument], Vocabulary, ImportSummary]


class DataSetNotFound(KgError, FileNotFoundError):
    """The data set's files are in none of the places looked at; the message lists them and
    names the option that gives the path."""


@dataclass(frozen=True)
class GoldSet:
    """One public gold set: its folder under the datasets folder, its splits, and how a split's
    files are read into documents (``ontologies``: Text2KGBench's, None for all)."""

    name: str
    folder: str
    splits: tuple[str, ...]
    default_split: str
    # The data path of a split, relative to the data set's folder.
    split_path: Callable[[str], Path]
    load: Callable[[Path, str, Sequence[str] | None], Imported]
    data_help: str  # what --data names for this data set

    def data_path(self, root: Path, split: str) -> Path:
        return root / self.folder / self.split_path(split)


def _load_redocred(path: Path, split: str, ontologies: Sequence[str] | None) -> Imported:
    if ontologies:
        raise GoldSetFormatError("Re-DocRED has no ontologies; --ontology is for Text2KGBench")
    return import_redocred(path)


def _load_text2kgbench(path: Path, split: str, ontologies: Sequence[str] | None) -> Imported:
    if not (path / split).is_dir():
        raise GoldSetFormatError(f"{path} has no {split}/ folder of sentences")
    return import_text2kgbench(path, list(ontologies) if ontologies else None, split=split)


GOLD_SETS: dict[str, GoldSet] = {
    "redocred": GoldSet(
        name="redocred",
        folder="redocred",
        splits=("dev", "train", "test"),
        default_split="dev",
        split_path=lambda split: Path(f"{split}_revised.json"),
        load=_load_redocred,
        data_help="the split's JSON file, e.g. dev_revised.json (rel_info.json beside it)",
    ),
    "text2kgbench": GoldSet(
        name="text2kgbench",
        folder="text2kgbench-dbpedia",
        splits=("train", "test"),
        default_split="train",
        split_path=lambda split: Path("."),
        load=_load_text2kgbench,
        data_help="the folder holding ontologies/ and the split's folder of JSONL files",
    ),
}


def datasets_roots() -> list[Path]:
    """The folders looked in for the data sets: KG_DATASETS_DIR alone when it is set (an
    operator who names a folder means that one), else the shared folder beside the working
    folder, then the one beside the checkout (each once)."""
    configured = DATASETS_DIR.get()
    if configured is not None:
        return [configured]
    beside_cwd = Path.cwd() / _SHARED
    beside_checkout = _CHECKOUT / _SHARED
    if beside_checkout.resolve() == beside_cwd.resolve():
        return [beside_cwd]
    return [beside_cwd, beside_checkout]


def locate_data(
    gold_set: GoldSet, split: str, given: Path | None, roots: Sequence[Path] | None = None
) -> Path:
    """The split's data path: ``given`` if it exists, else the first of ``roots`` (default: the
    datasets folders, ``datasets_roots()``) holding it. Raises ``DataSetNotFound`` naming every
    place looked at and the --data option."""
    if given is not None:
        if given.exists():
            return given
        raise DataSetNotFound(f"--data {given}: no such file or folder ({gold_set.data_help})")
    tried = [gold_set.data_path(root, split) for root in roots or datasets_roots()]
    for path in tried:
        if path.exists():
            return path
    looked = ", ".join(str(p) for p in tried)
    raise DataSetNotFound(
        f"no {gold_set.name} {split} data found (looked at {looked}); pass --data PATH "
        f"({gold_set.data_help}) or set {DATASETS_DIR.name} to the folder holding "
        f"{gold_set.folder}/"
    )


def seeded_sample(documents: Sequence[T], size: int | None, seed: int) -> list[T]:
    """``size`` documents drawn with ``seed``, in the order drawn; all of them, in file order,
    when ``size`` is None or not smaller than the data set. The same arguments give the same
    documents on every machine (Python's Mersenne Twister is specified)."""
    if size is None or size >= len(documents):
        return list(documents)
    return random.Random(seed).sample(list(documents), size)


def bench_folder_name(
    gold_set: GoldSet, split: str, size: int | None, seed: int, ontologies: Sequence[str] = ()
) -> str:
    """``redocred-dev-n50-seed0``: every choice that decides the documents, so two runs share
    a folder exactly when they score the same documents."""
    parts = [gold_set.name, *sorted(ontologies), split, f"n{size}" if size else "all"]
    return "-".join(parts) + f"-seed{seed}"
