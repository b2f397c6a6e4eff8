"""A vocabulary that does not resolve is one line naming the known ones, before any run starts:
no traceback, no model called, nothing written."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from kg_pipeline.cli.main import main


@pytest.mark.parametrize("command", [["ingest"], ["ingest", "image"]])
def test_an_unknown_vocabulary_is_one_line_before_the_run(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.md").write_text("A canal lock raises boats.", encoding="utf-8")
    result = CliRunner().invoke(main, [*command, "--vocabulary", "nope", "a.md", "-o", "g.json"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: no vocabulary named 'nope' and no such file; give one of base31, kg60, kg90, "
        "redocred or the path of a JSON vocabulary file"
    ]
    assert not (tmp_path / "g.json").exists()


def test_a_malformed_vocabulary_file_in_corpus_check_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    bad = tmp_path / "vocabulary.json"
    bad.write_text('{"categories": "not a mapping"}', encoding="utf-8")
    result = CliRunner().invoke(main, ["corpus", "check", str(tmp_path), "--vocabulary", str(bad)])
    assert result.exit_code == 1
    assert len(result.output.splitlines()) == 1 and "expected a JSON list of types" in result.output
