"""Runs the `>>>` examples in a package's docstrings as tests.

An example runs as a user would paste it: in a namespace holding only
`np` (NumPy), `keras` and `keras_lzu`, not the module's own globals, so an
example that leans on a private import fails here.
"""

import doctest
import importlib
import inspect
import pkgutil

import keras
import numpy as np
import pytest

import keras_lzu

OPTIONS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

# Eager JAX compiles every primitive anew for every new shape: these few
# examples take 20 s there against 2 s on TensorFlow and 1 s on PyTorch.
# The same functions are checked on JAX against the references in
# tests/ops and tests/layers.
skip_on_jax = pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="eager JAX compiles each primitive per shape (20 s)",
)


def collect(package_name):
    """The docstring examples of a package and its modules, by name."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    examples = []
    for module in _modules(package_name):
        examples.extend(
            test for test in finder.find(module, globs=_user_namespace())
            if test.examples
        )
    return sorted(examples, key=lambda test: test.name)


def run(example):
    """Runs one `doctest.DocTest`; returns the failure report, or ''."""
    report = []
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    runner.run(example, out=report.append, clear_globs=True)
    return "".join(report) if runner.failures else ""


def public_names_without_example(package_name):
    """Functions and classes the package exports whose docstring has no
    `>>>` example."""
    package = importlib.import_module(package_name)
    missing = []
    for name, value in vars(package).items():
        if name.startswith("_") or not (
            inspect.isfunction(value) or inspect.isclass(value)
        ):
            continue
        if not value.__module__.startswith(package_name + "."):
            continue
        if ">>>" not in (value.__doc__ or ""):
            missing.append(name)
    return sorted(missing)


def _modules(package_name):
    package = importlib.import_module(package_name)
    yield package
    for info in pkgutil.iter_modules(package.__path__, package_name + "."):
        yield importlib.import_module(info.name)


def _user_namespace():
    return {"np": np, "keras": keras, "keras_lzu": keras_lzu}
