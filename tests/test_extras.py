"""Optional dependencies: `lzu` names the extra to install, and the
library never imports the benchmarks."""

import ast
import contextlib
import io
import pathlib

import pytest

import keras_lzu
from keras_lzu import cli
from keras_lzu import demo
from keras_lzu.extras import MissingExtraError
from keras_lzu.extras import import_optional


def test_import_optional_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "json", None)
    with pytest.raises(MissingExtraError,
                       match=r"Parsing needs .*'json'.*keras-lzu\[eval\]"):
        import_optional("json", "eval", "Parsing")


@pytest.mark.parametrize("module", demo.DEMO_REQUIREMENTS)
def test_lzu_demo_with_a_missing_package_names_the_demo_extra(monkeypatch,
                                                              module):
    monkeypatch.setitem(__import__("sys").modules, module, None)
    started = []
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: started.append(1))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(["demo", "--steps", "1"])
    assert code == 2
    assert module.split(".")[0] in err.getvalue()
    assert "pip install 'keras-lzu[demo]'" in err.getvalue()
    assert not started


def test_the_library_never_imports_benchmarks():
    package = pathlib.Path(keras_lzu.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names]
                     if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [])
            offenders += [f"{path.name}: {name}" for name in names
                          if name.split(".")[0] == "benchmarks"]
    assert not offenders
