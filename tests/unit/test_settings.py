"""The KG_* environment variables: each declared once in kg_pipeline/settings.py, read there when
asked (not when imported), and listed in the README as the module declares them."""

import ast
import re
from pathlib import Path

import pytest

import kg_pipeline
from kg_pipeline import settings
from kg_pipeline.errors import KgError
from kg_pipeline.settings import LOCAL_PORT, LOCAL_THREADS, RESULTS_DIR, SETTINGS, SettingError

PACKAGE = Path(kg_pipeline.__file__).parent
README = PACKAGE.parent / "README.md"
VARIABLE = re.compile(r"\bKG_[A-Z0-9_]+\b")


def test_each_variable_is_declared_once() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    declared = {v.name for v in vars(settings).values() if isinstance(v, settings.Setting)}
    assert declared == set(names)  # none left out of SETTINGS, hence of the README


def test_no_module_but_settings_reads_a_kg_variable() -> None:
    """A variable's name as a value in code (``os.environ.get("KG_X")``, ``X_ENV = "KG_X"``) is
    a read that bypasses the settings; docstrings and messages may still mention it."""
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and VARIABLE.fullmatch(node.value)
            ):
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value}")
    assert readers == []


def test_every_variable_the_package_mentions_is_declared() -> None:
    mentioned = {
        name
        for path in PACKAGE.rglob("*")
        if path.suffix in (".py", ".json") and path.is_file()
        for name in VARIABLE.findall(path.read_text(encoding="utf-8"))
    }
    assert mentioned <= {s.name for s in SETTINGS}, mentioned - {s.name for s in SETTINGS}


def test_a_variable_set_after_import_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KG_RESULTS_DIR", "/srv/kg/results")
    assert RESULTS_DIR.get() == Path("/srv/kg/results")
    monkeypatch.setenv("KG_LOCAL_PORT", "9000")
    assert LOCAL_PORT.get() == 9000


def test_an_unset_or_empty_variable_means_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KG_LOCAL_PORT", raising=False)
    assert LOCAL_PORT.get() == 8089
    monkeypatch.setenv("KG_LOCAL_PORT", "")
    assert LOCAL_PORT.get() == 8089
    monkeypatch.setenv("KG_LOCAL_THREADS", "")
    assert LOCAL_THREADS.get() is None


def test_a_value_of_the_wrong_type_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KG_LOCAL_THREADS", "all")
    with pytest.raises(SettingError, match=r"KG_LOCAL_THREADS='all' is not a valid integer"):
        LOCAL_THREADS.get()
    assert issubclass(SettingError, KgError) and issubclass(SettingError, ValueError)


def test_the_readme_lists_the_variables_as_the_module_declares_them() -> None:
    """`python -m kg_pipeline.settings` prints the table to paste."""
    assert settings.markdown_table() in README.read_text(encoding="utf-8")
