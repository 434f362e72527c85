"""`keras_lzu.export`: TF Serving layout, signatures, and a SavedModel that
runs in a process importing only TensorFlow."""

import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "serving"))

import fake_models  # noqa: E402
import keras_lzu  # noqa: E402
from keras_lzu import saved_model_export as export_lib  # noqa: E402

pytestmark = pytest.mark.tensorflow_only

SIZES = ((50, 70), (37, 90))

# Runs in a fresh interpreter: loads the exports with TensorFlow alone,
# calls every signature and saves the outputs. `import tensorflow` itself
# imports Keras; loading and running must import nothing Keras-related
# beyond that, and keras_lzu / KerasCV / KerasHub are made unimportable.
FRESH_PROCESS_SCRIPT = textwrap.dedent("""
    import importlib.abc, json, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("keras_lzu", "keras_cv", "keras_hub"):
                raise ImportError(f"{name} must not be needed")

    sys.meta_path.insert(0, Block())
    import numpy as np
    import tensorflow as tf
    baseline = set(sys.modules)

    job = json.load(open(sys.argv[1]))
    inputs = np.load(job["inputs"], allow_pickle=True)
    results = {}
    for model_name, path in job["models"].items():
        loaded = tf.saved_model.load(path)
        serve = loaded.signatures["serving_default"]
        encoded = loaded.signatures["predict_encoded"]
        for key in job["image_keys"]:
            out = serve(images=tf.constant(inputs[key]))
            for name, value in out.items():
                results[f"{model_name}/{key}/{name}"] = value.numpy()
        for key in job["encoded_keys"]:
            files = list(inputs[key])
            if model_name == "segmenter":
                files = files[:1]
            out = encoded(image_bytes=tf.constant(files))
            for name, value in out.items():
                results[f"{model_name}/{key}/{name}"] = value.numpy()
        meta = loaded.signatures["metadata"]()
        results[f"{model_name}/metadata_json"] = meta["lzu_metadata_json"].numpy()
    loaded_modules = sorted(
        m for m in set(sys.modules) - baseline
        if m.split(".")[0] in ("keras", "keras_lzu", "keras_cv", "keras_hub"))
    results["loaded_modules"] = np.array(json.dumps(loaded_modules))
    np.savez(job["output"], **results)
""")


@pytest.fixture(scope="module")
def detector():
    return fake_models.FakeDetector()


@pytest.fixture(scope="module")
def segmenter():
    return fake_models.FakeSegmenter()


@pytest.fixture(scope="module")
def exports(tmp_path_factory, detector, segmenter):
    """Both models exported with the public `keras_lzu.export`, called twice
    in one process as a user would."""
    root = tmp_path_factory.mktemp("export")
    return {
        "detector": keras_lzu.export(detector, root / "detector"),
        "segmenter": keras_lzu.export(segmenter, root / "segmenter"),
    }


@pytest.fixture(scope="module")
def test_inputs():
    rng = np.random.default_rng(7)
    images = {f"images_{h}x{w}": fake_models.random_images(rng, 2, h, w)
              for h, w in SIZES}
    first, second = (images[f"images_{h}x{w}"][0] for h, w in SIZES)
    encoded = {
        "png": [_png(first), _png(second)],
        "jpeg": [_jpeg(first), _jpeg(second)],
    }
    return images, encoded


@pytest.fixture(scope="module")
def fresh_process_outputs(tmp_path_factory, exports, test_inputs):
    images, encoded = test_inputs
    work = tmp_path_factory.mktemp("fresh")
    arrays = dict(images)
    arrays.update({key: np.array(files, dtype=object)
                   for key, files in encoded.items()})
    np.savez(work / "inputs.npz", **arrays)
    job = {
        "models": {name: str(path) for name, path in exports.items()},
        "inputs": str(work / "inputs.npz"),
        "image_keys": sorted(images),
        "encoded_keys": sorted(encoded),
        "output": str(work / "outputs.npz"),
    }
    (work / "job.json").write_text(json.dumps(job))
    (work / "run.py").write_text(FRESH_PROCESS_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, str(work / "run.py"), str(work / "job.json")],
        capture_output=True, text=True, env=env, cwd=str(work), timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(work / "outputs.npz", allow_pickle=True))


def _png(image):
    return tf.io.encode_png(image).numpy()


def _jpeg(image):
    return tf.io.encode_jpeg(image, quality=90).numpy()


def _infer(model, images):
    return {k: v.numpy() for k, v in model.infer(
        tf.constant(images, tf.float32)).items()}


def _assert_detections_close(actual, expected):
    np.testing.assert_allclose(actual["boxes"], expected["boxes"],
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(actual["scores"], expected["scores"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(actual["classes"], expected["classes"])
    np.testing.assert_array_equal(actual["num_detections"],
                                  expected["num_detections"])


def _outputs(results, prefix):
    return {key[len(prefix):]: value for key, value in results.items()
            if key.startswith(prefix)}


def test_layout_is_tf_serving_versioned_saved_model(exports):
    path = exports["detector"]
    assert os.path.basename(path) == "1"
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))
    with open(os.path.join(path, "assets", "lzu_metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["task"] == "detection"
    assert metadata["num_classes"] == 5
    assert metadata["output_size"] == [32, 48]
    assert "keras_lzu_version" in metadata
    siblings = os.listdir(os.path.dirname(path))
    assert siblings == ["1"], "no staging directory may be left behind"


def test_fresh_process_needs_nothing_beyond_tensorflow(fresh_process_outputs):
    assert json.loads(str(fresh_process_outputs["loaded_modules"])) == []


@pytest.mark.parametrize("size", SIZES)
def test_serving_default_matches_infer_for_detection(
        fresh_process_outputs, test_inputs, detector, size):
    key = "images_{}x{}".format(*size)
    images = test_inputs[0][key]
    actual = _outputs(fresh_process_outputs, f"detector/{key}/")
    assert actual["boxes"].dtype == np.float32
    assert actual["classes"].dtype == np.int32
    _assert_detections_close(actual, _infer(detector, images))


@pytest.mark.parametrize("size", SIZES)
def test_serving_default_matches_infer_for_segmentation(
        fresh_process_outputs, test_inputs, segmenter, size):
    key = "images_{}x{}".format(*size)
    images = test_inputs[0][key]
    masks = fresh_process_outputs[f"segmenter/{key}/masks"]
    assert masks.dtype == np.int32
    assert masks.shape == images.shape[:3]
    np.testing.assert_array_equal(masks, _infer(segmenter, images)["masks"])


def test_predict_encoded_png_matches_infer_per_image_frame(
        fresh_process_outputs, test_inputs, detector):
    images, _ = test_inputs
    actual = _outputs(fresh_process_outputs, "detector/png/")
    for index, (h, w) in enumerate(SIZES):
        expected = _infer(detector, images[f"images_{h}x{w}"][:1])
        _assert_detections_close(
            {k: v[index:index + 1] for k, v in actual.items()}, expected)


def test_predict_encoded_jpeg_matches_independently_decoded_pixels(
        fresh_process_outputs, test_inputs, detector, segmenter):
    from PIL import Image

    _, encoded = test_inputs
    actual = _outputs(fresh_process_outputs, "detector/jpeg/")
    for index, data in enumerate(encoded["jpeg"]):
        decoded = tf.io.decode_image(data, channels=3).numpy()
        with Image.open(io.BytesIO(data)) as image:
            pil_pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
        # Two JPEG decoders agree to within rounding of the inverse DCT.
        assert np.abs(pil_pixels - decoded).mean() < 1.0
        expected = _infer(detector, decoded[None])
        _assert_detections_close(
            {k: v[index:index + 1] for k, v in actual.items()}, expected)
    decoded = tf.io.decode_image(encoded["jpeg"][0], channels=3).numpy()
    np.testing.assert_array_equal(
        fresh_process_outputs["segmenter/jpeg/masks"],
        _infer(segmenter, decoded[None])["masks"],
    )


def test_metadata_signature_records_lzu_metadata(fresh_process_outputs):
    metadata = json.loads(
        fresh_process_outputs["segmenter/metadata_json"].item())
    assert metadata["task"] == "segmentation"
    assert metadata["num_classes"] == 4


def test_predict_encoded_rejects_masks_of_different_sizes(exports,
                                                          test_inputs):
    loaded = tf.saved_model.load(exports["segmenter"])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="same size"):
        loaded.signatures["predict_encoded"](
            image_bytes=tf.constant(test_inputs[1]["png"]))


def test_images_over_max_image_size_are_rejected(tmp_path, detector):
    path = export_lib.export(detector, tmp_path, max_image_size=(40, 4000))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="height"):
        serve(images=tf.zeros((1, 41, 10, 3), tf.uint8))


def test_an_empty_batch_is_rejected_saying_so(exports):
    serve = tf.saved_model.load(exports["detector"]).signatures[
        "serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="at least one image"):
        serve(images=tf.zeros((0, 32, 48, 3), tf.uint8))


def test_saved_model_cli_lists_signatures(exports):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        pytest.skip("saved_model_cli is not installed next to python")
    result = subprocess.run(
        [cli, "show", "--dir", exports["detector"], "--all"],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("serving_default", "predict_encoded", "metadata"):
        assert f"signature_def['{name}']" in result.stdout
    assert "inputs['images']" in result.stdout
    assert "inputs['image_bytes']" in result.stdout
    assert "DT_UINT8" in result.stdout


def test_versions_are_numbered_and_never_overwritten(tmp_path, segmenter):
    assert export_lib.export(segmenter, tmp_path).endswith(os.sep + "1")
    assert export_lib.export(segmenter, tmp_path, version=5).endswith(
        os.sep + "5")
    assert export_lib.export(segmenter, tmp_path).endswith(os.sep + "6")
    before = os.path.getmtime(tmp_path / "5" / "saved_model.pb")
    with pytest.raises(FileExistsError, match="Version 5 already exists"):
        export_lib.export(segmenter, tmp_path, version=5)
    assert os.path.getmtime(tmp_path / "5" / "saved_model.pb") == before
    assert sorted(os.listdir(tmp_path)) == ["1", "5", "6"]


@pytest.mark.parametrize("version", [0, -1, 1.5, "2", True])
def test_invalid_version_is_rejected(tmp_path, segmenter, version):
    with pytest.raises(ValueError, match="version"):
        export_lib.export(segmenter, tmp_path, version=version)


@pytest.mark.parametrize("max_image_size", ["24", True, (True, 64), 0])
def test_invalid_max_image_size_is_rejected(tmp_path, segmenter,
                                            max_image_size):
    with pytest.raises(ValueError, match="max_image_size"):
        export_lib.export(segmenter, tmp_path, max_image_size=max_image_size)
    assert os.listdir(tmp_path) == []


def test_model_without_infer_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="infer"):
        export_lib.export(object(), tmp_path)
