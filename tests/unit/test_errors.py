"""Every error kg_pipeline defines derives from KgError, so a caller can catch "kg_pipeline
refused, and said why" in one place; and each keeps the built-in base its callers already catch."""

import importlib
import inspect
import pkgutil

import pytest

import kg_pipeline
from kg_pipeline.errors import KgError
from kg_pipeline.extraction.telemetry import ExporterPortsBusy


def package_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the package, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(kg_pipeline.__path__, "kg_pipeline."):
        module = importlib.import_module(info.name)
        for name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_the_package_defines_is_a_kg_error() -> None:
    found = package_exceptions()
    # 28 typed errors and KgError when KgError arrived, SettingError since; fewer would mean the
    # walk missed modules.
    assert len(found) >= 30, sorted(found)
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, KgError))
    assert outside == []


# The base each error had before KgError: `except ValueError` (and the rest) around a call must
# still catch it.
BUILT_IN_BASES = {
    "kg_pipeline.contract.pricing.PriceFileError": ValueError,
    "kg_pipeline.contract.vocabulary.VocabularyError": ValueError,
    "kg_pipeline.corpus.chunking.ChunkingError": ValueError,
    "kg_pipeline.corpus.documents.DocumentError": ValueError,
    "kg_pipeline.corpus.images.BadImage": ValueError,
    "kg_pipeline.corpus.importers.common.GoldSetFormatError": ValueError,
    "kg_pipeline.extraction.records.RecordsFileError": ValueError,
    "kg_pipeline.extraction.telemetry.ExporterPortsBusy": OSError,
    "kg_pipeline.extraction.telemetry.MetricsConfigError": ValueError,
    "kg_pipeline.providers.gbnf.UnsupportedSchema": ValueError,
    "kg_pipeline.providers.parsing.OutputParseError": ValueError,
    "kg_pipeline.providers.registry.UnknownProvider": ValueError,
    "kg_pipeline.quality.training_export.TrainingExportError": ValueError,
    "kg_pipeline.serving.endpoints.EndpointsError": ValueError,
    "kg_pipeline.serving.hardware.GpuQueryError": RuntimeError,
    "kg_pipeline.serving.llama_build.BuildError": RuntimeError,
    "kg_pipeline.serving.local_model.ModelUnavailable": RuntimeError,
    "kg_pipeline.serving.local_server.LocalServerError": RuntimeError,
    "kg_pipeline.serving.quantization.ParameterCountUnknown": RuntimeError,
    "kg_pipeline.settings.SettingError": ValueError,
    "kg_pipeline.store.config.ConfigError": ValueError,
    "kg_pipeline.store.database.StoreUnusable": RuntimeError,
    "kg_pipeline.store.routing_conditions.RoutingError": ValueError,
}


@pytest.mark.parametrize("name", sorted(BUILT_IN_BASES))
def test_a_kg_error_is_still_caught_as_its_built_in_base(name: str) -> None:
    module_name, _, class_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    assert issubclass(cls, KgError) and issubclass(cls, BUILT_IN_BASES[name])


def test_an_os_error_subclass_keeps_its_message() -> None:
    error = ExporterPortsBusy("ports 9464-9467 are all in use")
    assert str(error) == "ports 9464-9467 are all in use"
    assert isinstance(error, OSError) and isinstance(error, KgError)
