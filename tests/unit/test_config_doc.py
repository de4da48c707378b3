"""docs/config.md is generated from the schema table (gpuemu.config_doc) and kept current."""

from __future__ import annotations

import pytest

from gpuemu import config_doc

from .test_config_keys import schema_keys


def test_docs_config_md_is_current():
    assert config_doc.DOC.read_text() == config_doc.render(), (
        "docs/config.md is out of date: run `python -m gpuemu.config_doc`")


def test_the_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config_doc, "DOC", tmp_path / "config.md")
    (tmp_path / "config.md").write_text("# stale\n")
    assert config_doc.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert config_doc.main([]) == 0 and config_doc.main(["--check"]) == 0


def test_every_key_is_documented_and_no_meaning_is_stale():
    text = config_doc.render()
    for key in schema_keys():
        assert f"| `{key.rsplit('.', 1)[1]}` |" in text, key
    assert sorted(set(config_doc.MEANINGS) - set(schema_keys())) == []
    assert sorted(set(config_doc.DEFAULTS) - set(schema_keys())) == []


def test_a_scalar_tolerance_is_documented_as_atol_with_rtol_0():
    assert "a number, which means an absolute\ntolerance with rtol 0" in config_doc.render()


def test_a_key_without_meaning_is_an_error(monkeypatch):
    from gpuemu import config_keys

    monkeypatch.setitem(config_keys.SECTIONS, "ci", {**config_keys.SECTIONS["ci"], "novel": None})
    with pytest.raises(LookupError, match=r"ci\.novel has no meaning"):
        config_doc.render()
