import keras
import numpy as np
import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "tensorflow_only: needs the TensorFlow backend (skipped elsewhere)",
    )
    config.addinivalue_line(
        "markers",
        "backend_independent: checks semantics against NumPy references "
        "that the cross-backend tests of the same code cover on every "
        "backend; run on TensorFlow only, to keep the other passes short",
    )


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason="needs the TensorFlow backend")
    once = pytest.mark.skip(reason="backend-independent: run on TensorFlow")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)
        elif "backend_independent" in item.keywords:
            item.add_marker(once)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
