import subprocess
import sys

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
                 "wrap", "load_model", "export", "saliency_prior_from_boxes", "ops"):
        assert getattr(keras_lzu, name) is not None
    for name in ("identity_grid", "saliency_to_grid", "zoom", "invert_grid",
                 "unzoom", "warp_boxes", "unwarp_boxes", "warp_points",
                 "unwarp_points"):
        assert callable(getattr(keras_lzu.ops, name))


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="zoomify"):
        keras_lzu.zoomify
