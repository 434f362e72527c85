"""Every model the package builds saves and loads again with
`keras_lzu.load_model` (same predictions), or refuses to save with an error
that says what its config leaves out.

The adapters' own test modules round-trip the KerasCV / KerasHub RetinaNet
and DeepLab wrappers and the generic one, and the `lzu train` / `lzu demo`
tests load the KerasHub models they save; this module covers the
benchmarks' compact detector (`benchmarks.harness`: custom pyramid and
heads), wrapped and not, loading in a fresh process, `lzu export --model`
and the refusals.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import keras_cv
import numpy as np
import pytest

import keras_lzu
from benchmarks import harness
from keras_lzu.serving import cli_commands
from tests.models.conftest import NUM_CLASSES
from tests.models.conftest import OUTPUT_SIZE
from tests.models.conftest import square_images
from tests.models.conftest import tiny_resnet_backbone

pytestmark = pytest.mark.tensorflow_only

CALLER_SIZE = (2 * OUTPUT_SIZE[0], 2 * OUTPUT_SIZE[1])
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DETECTION_KEYS = ("boxes", "confidence", "classes", "num_detections")


@keras.saving.register_keras_serializable(package="keras_lzu_tests")
class ForgetfulPyramid(harness.CompactFeaturePyramid):
    """The compact pyramid with a `get_config` that leaves out `filters`."""

    def get_config(self):
        config = super().get_config()
        del config["filters"]
        return config


class UnregisteredDoubling(keras.layers.Layer):
    def call(self, inputs):
        return 2.0 * inputs


@pytest.fixture(scope="module")
def saved_compact_lzu(compact_retinanet_base, tmp_path_factory):
    """The compact detector wrapped with a non-uniform fixed saliency, and
    the `.keras` file it was saved to."""
    model = keras_lzu.wrap(compact_retinanet_base, OUTPUT_SIZE)
    log_saliency = model.saliency_layer.log_saliency
    log_saliency.assign(
        np.random.default_rng(0).normal(0, 1, log_saliency.shape)
    )
    path = tmp_path_factory.mktemp("compact_lzu") / "lzu.keras"
    model.save(path)
    return model, path


def assert_same_detections(actual, expected):
    for key in DETECTION_KEYS:
        np.testing.assert_allclose(
            np.asarray(actual[key]), np.asarray(expected[key]), atol=1e-5,
            err_msg=key,
        )


def test_compact_detector_reloads_with_its_pyramid_heads_and_settings(
    compact_retinanet_base, tmp_path
):
    model = compact_retinanet_base
    model.save(tmp_path / "compact.keras")
    loaded = keras_lzu.load_model(tmp_path / "compact.keras")
    images, _ = square_images(2, OUTPUT_SIZE, seed=1)
    raw, reloaded_raw = model({"images": images}), loaded({"images": images})
    for key in ("box", "classification"):
        np.testing.assert_allclose(reloaded_raw[key], raw[key], atol=1e-5)
    assert_same_detections(
        loaded.decode_predictions(reloaded_raw, images),
        model.decode_predictions(raw, images),
    )
    assert loaded.feature_pyramid.filters == 8
    assert loaded.label_encoder.positive_threshold == harness.POSITIVE_IOU
    assert loaded.label_encoder.negative_threshold == harness.NEGATIVE_IOU
    anchors = model.anchor_generator(image_shape=(*OUTPUT_SIZE, 3))
    reloaded_anchors = loaded.anchor_generator(image_shape=(*OUTPUT_SIZE, 3))
    for level in anchors:
        np.testing.assert_array_equal(reloaded_anchors[level], anchors[level])


def test_wrapped_compact_detector_reloads_with_the_same_predictions(
    saved_compact_lzu,
):
    model, path = saved_compact_lzu
    loaded = keras_lzu.load_model(path)
    assert type(loaded) is type(model)
    images, _ = square_images(2, CALLER_SIZE, seed=2)
    raw, reloaded_raw = model(images), loaded(images)
    for key in ("box", "classification"):
        np.testing.assert_allclose(reloaded_raw[key], raw[key], atol=1e-5)
    assert_same_detections(
        loaded.decode_predictions(reloaded_raw, images),
        model.decode_predictions(raw, images),
    )


def test_saved_wrapped_model_loads_in_a_fresh_process(
    saved_compact_lzu, tmp_path
):
    model, path = saved_compact_lzu
    images, _ = square_images(2, CALLER_SIZE, seed=3)
    expected = model.predict(images, verbose=0)
    np.save(tmp_path / "images.npy", images)
    code = textwrap.dedent(
        f"""
        import numpy as np
        import benchmarks.harness  # registers the compact pyramid's class
        import keras_lzu

        model = keras_lzu.load_model({str(path)!r})
        images = np.load({str(tmp_path / "images.npy")!r})
        out = model.predict(images, verbose=0)
        np.savez({str(tmp_path / "out.npz")!r}, **out)
        print(type(model).__name__)
        """
    )
    # `benchmarks.harness` is imported from the repository root.
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        cwd=REPOSITORY_ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("LZURetinaNet")
    assert_same_detections(np.load(tmp_path / "out.npz"), expected)


def test_lzu_export_exports_the_saved_compact_detector(
    saved_compact_lzu, tmp_path, capsys
):
    model, path = saved_compact_lzu
    export_dir = tmp_path / "export"
    code = cli_commands.export_main(
        ["--model", str(path), "--export_dir", str(export_dir)]
    )
    assert code == 0, capsys.readouterr().err
    version = export_dir / "1"
    assert capsys.readouterr().out.strip() == str(version)
    assert (version / "saved_model.pb").is_file()
    metadata = json.loads(
        (version / "assets" / "lzu_metadata.json").read_text()
    )
    assert metadata["task"] == "detection"
    assert metadata["output_size"] == list(OUTPUT_SIZE)
    assert metadata["num_classes"] == NUM_CLASSES


def test_save_refuses_a_pyramid_its_config_does_not_rebuild(tmp_path):
    keras.utils.set_random_seed(7)
    retinanet = keras_cv.models.RetinaNet(
        num_classes=NUM_CLASSES, bounding_box_format="xyxy",
        backbone=tiny_resnet_backbone(),
        feature_pyramid=ForgetfulPyramid(filters=8),
    )
    model = keras_lzu.wrap(retinanet, OUTPUT_SIZE)
    path = tmp_path / "model.keras"
    path.write_bytes(b"an earlier file")
    with pytest.raises(ValueError) as raised:
        model.save(path)
    message = str(raised.value)
    assert "ForgetfulPyramid" in message
    assert "filters=64 instead of 8" in message
    assert "get_config()" in message
    assert path.read_bytes() == b"an earlier file"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_save_refuses_a_layer_whose_class_is_not_registered(tmp_path):
    images = keras.Input((None, None, 3))
    stem = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="stem")(
        images
    )
    scores = keras.layers.Conv2D(NUM_CLASSES, 1)(UnregisteredDoubling()(stem))
    model = keras_lzu.wrap(
        keras.Model(images, scores), OUTPUT_SIZE, feature_layers=["stem"]
    )
    with pytest.raises(ValueError, match="UnregisteredDoubling") as raised:
        model.save(tmp_path / "model.keras")
    assert "register_keras_serializable" in str(raised.value)
    assert os.listdir(tmp_path) == []
