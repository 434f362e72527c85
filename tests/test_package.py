import importlib
import os
import pkgutil
import subprocess
import sys
import types

import numpy as np

import keras_lzu


def test_import_loads_no_model_library_or_serving_stack():
    code = (
        "import sys, keras_lzu\n"
        "heavy = [m for m in ('keras_cv', 'keras_hub', 'tensorflow_serving',"
        " 'grpc') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        check=True,
    )
    assert result.stdout.strip() == ""


def test_public_names_are_exported():
    for name in ("SaliencyGrid", "ZoomLayer", "UnzoomLayer", "InvertGrid",
                 "wrap", "load_model", "export", "saliency_prior_from_boxes",
                 "plan_warp", "ops"):
        assert getattr(keras_lzu, name) is not None
    for name in ("identity_grid", "saliency_to_grid", "zoom", "invert_grid",
                 "unzoom", "warp_boxes", "unwarp_boxes", "warp_points",
                 "unwarp_points"):
        assert callable(getattr(keras_lzu.ops, name))


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="zoomify"):
        keras_lzu.zoomify


def test_lazy_attributes_are_the_same_function_on_every_access():
    for name in sorted(keras_lzu._LAZY):
        first = getattr(keras_lzu, name)
        second = getattr(keras_lzu, name)
        assert first is second, name
        assert callable(first) and not isinstance(first, types.ModuleType)


def test_lazy_attributes_can_be_called_twice(tmp_path):
    import pytest

    for _ in range(2):
        with pytest.raises(ValueError, match="infer"):
            keras_lzu.export(object(), tmp_path)
        with pytest.raises(TypeError, match="does not support object"):
            keras_lzu.wrap(object(), (32, 32))
        with pytest.raises(ValueError, match="not found"):
            keras_lzu.load_model(os.path.join(tmp_path, "missing.keras"))
        prior = keras_lzu.saliency_prior_from_boxes(
            np.array([[0.4, 0.4, 0.6, 0.6]]), grid_shape=(5, 7)
        )
        assert np.unravel_index(np.argmax(prior), prior.shape) == (2, 3)


def test_no_name_is_both_a_submodule_and_another_attribute():
    """`package.name` must not be a function at one time and the submodule
    `package/name.py` at another (importing a submodule rebinds the name)."""
    root = os.path.dirname(keras_lzu.__file__)
    for folder, _, files in os.walk(root):
        if "__init__.py" not in files:
            continue
        relative = os.path.relpath(folder, os.path.dirname(root))
        package = importlib.import_module(relative.replace(os.sep, "."))
        lazy = getattr(package, "_LAZY", {})
        for submodule in pkgutil.iter_modules(package.__path__):
            where = f"{package.__name__}.{submodule.name}"
            assert submodule.name not in lazy, where
            value = vars(package).get(submodule.name)
            assert value is None or isinstance(value, types.ModuleType), where
