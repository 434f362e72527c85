"""`keras_lzu.export(..., jit_compile_lzu=True)` and `lzu export
--jit_compile_lzu`: the LZU part of a wrapped detector compiled with XLA
inside the SavedModel, run by TensorFlow's own loaders (a fresh
TensorFlow-only process, `saved_model_cli run`) and by `lzu serve`, with the
outputs of the default (plain graph) export.

Tolerance: XLA fuses and reorders the float32 arithmetic of the zoom and
unzoom, so boxes may differ by 0.01 pixel and scores by 1e-4 (observed:
1.4e-3 pixel and 2.6e-6); classes and detection counts are equal.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from tensorflow.core.protobuf import saved_model_pb2

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "serving"))

import fake_models  # noqa: E402
import keras_lzu  # noqa: E402
from keras_lzu.serving import cli_commands  # noqa: E402
from tests.models import keras_hub_builders  # noqa: E402

pytestmark = pytest.mark.tensorflow_only

SIZES = ((2, 90, 120), (1, 70, 150))
PNG_KEY = "images_2x90x120"
CLI_KEY = "images_1x70x150"
DETECTION_KEYS = ("boxes", "scores", "classes", "num_detections")

# A fresh interpreter that cannot import keras_lzu, KerasCV or KerasHub
# runs `serving_default` of both exports on every batch and `predict_encoded`
# of the XLA export on one PNG.
FRESH_PROCESS_SCRIPT = textwrap.dedent("""
    import importlib.abc, json, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("keras_lzu", "keras_cv", "keras_hub"):
                raise ImportError(f"{name} must not be needed")

    sys.meta_path.insert(0, Block())
    import numpy as np
    import tensorflow as tf

    job = json.load(open(sys.argv[1]))
    inputs = np.load(job["inputs"])
    results = {}
    for name, path in job["models"].items():
        loaded = tf.saved_model.load(path)
        serve = loaded.signatures["serving_default"]
        for key in inputs.files:
            outputs = serve(images=tf.constant(inputs[key]))
            for output, value in outputs.items():
                results[f"{name}/{key}/{output}"] = value.numpy()
    encoded = loaded.signatures["predict_encoded"]
    png = tf.io.encode_png(inputs[job["png_key"]][0])
    for output, value in encoded(image_bytes=png[None]).items():
        results[f"{name}/png/{output}"] = value.numpy()
    np.savez(job["output"], **results)
""")


@pytest.fixture(scope="module")
def model():
    import keras_hub

    keras.utils.set_random_seed(7)
    # Pixels rescaled to [0, 1], so the untrained detector's scores vary.
    preprocessor = keras_hub.models.RetinaNetObjectDetectorPreprocessor(
        image_converter=keras_hub.layers.RetinaNetImageConverter(
            scale=1 / 255.0, bounding_box_format="xyxy"
        )
    )
    saliency = np.ones((9, 13), "float32")
    saliency[3:5, 2:9] = 8.0
    return keras_lzu.wrap(
        keras_hub_builders.retinanet(preprocessor=preprocessor), (64, 96),
        saliency=saliency, grid_shape=(9, 13), separable=False,
    )


@pytest.fixture(scope="module")
def exports(tmp_path_factory, model):
    """The default export with the Python API; the XLA one of the same
    model saved and exported by `lzu export --jit_compile_lzu`."""
    root = tmp_path_factory.mktemp("jit_compile_lzu")
    plain = keras_lzu.export(model, root / "plain")
    model.save(root / "model.keras")
    status = cli_commands.export_main([
        "--model", str(root / "model.keras"),
        "--export_dir", str(root / "xla"), "--jit_compile_lzu",
    ])
    assert status == 0
    return {"plain": plain, "xla": str(root / "xla" / "1")}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return {f"images_{b}x{h}x{w}": fake_models.random_images(rng, b, h, w)
            for b, h, w in SIZES}


@pytest.fixture(scope="module")
def loaders(tmp_path_factory, exports, images):
    """Runs, side by side, the fresh TensorFlow-only process on both exports
    and `saved_model_cli run` on the XLA export (`CLI_KEY`'s batch).

    Returns:
        `{"fresh": (outputs, log), "cli": outputs or None}` (`None` where
        `saved_model_cli` is not installed next to python).
    """
    work = tmp_path_factory.mktemp("loaders")
    np.savez(work / "inputs.npz", **images)
    job = {"models": exports, "inputs": str(work / "inputs.npz"),
           "output": str(work / "outputs.npz"), "png_key": PNG_KEY}
    (work / "job.json").write_text(json.dumps(job))
    (work / "run.py").write_text(FRESH_PROCESS_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")
    env.pop("KERAS_BACKEND", None)
    running = {"fresh": subprocess.Popen(
        [sys.executable, str(work / "run.py"), str(work / "job.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        cwd=str(work),
    )}
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if os.path.exists(cli):
        np.save(work / "images.npy", images[CLI_KEY])
        running["cli"] = subprocess.Popen(
            [cli, "run", "--dir", exports["xla"], "--tag_set", "serve",
             "--signature_def", "serving_default",
             "--inputs", f"images={work / 'images.npy'}",
             "--outdir", str(work / "cli")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"),
        )
    logs = {name: process.communicate(timeout=300)[1]
            for name, process in running.items()}
    for name, process in running.items():
        assert process.returncode == 0, f"{name}: {logs[name][-3000:]}"
    return {
        "fresh": (dict(np.load(work / "outputs.npz")), logs["fresh"]),
        "cli": {k: np.load(work / "cli" / f"{k}.npy")
                for k in DETECTION_KEYS} if "cli" in running else None,
    }


def _outputs(results, prefix):
    return {key: results[f"{prefix}/{key}"] for key in DETECTION_KEYS}


def assert_same_detections(actual, expected):
    np.testing.assert_array_equal(actual["num_detections"],
                                  expected["num_detections"])
    np.testing.assert_array_equal(actual["classes"], expected["classes"])
    np.testing.assert_allclose(actual["boxes"], expected["boxes"], atol=1e-2)
    np.testing.assert_allclose(actual["scores"], expected["scores"],
                               atol=1e-4)


def _xla_functions(path):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    library = saved_model.meta_graphs[0].graph_def.library.function
    xla = [f for f in library if f.attr["_XlaMustCompile"].b]
    plain_ops = {node.op for f in library if f not in xla
                 for node in f.node_def}
    return xla, plain_ops


def test_export_compiles_only_the_lzu_part_with_xla(exports):
    xla, plain_ops = _xla_functions(exports["xla"])
    # The zoom and the unzooms of P3-P5 at least (the fixed grid and its
    # inverse are constants of the export).
    assert len(xla) >= 4
    xla_ops = {node.op for f in xla for node in f.node_def}
    assert "GatherV2" in xla_ops or "GatherNd" in xla_ops
    assert not xla_ops & {"Conv2D", "NonMaxSuppressionV5"}
    assert "Conv2D" in plain_ops
    assert _xla_functions(exports["plain"])[0] == []


def test_metadata_records_the_choice(exports):
    for name, expected in (("plain", False), ("xla", True)):
        asset = os.path.join(exports[name], "assets", "lzu_metadata.json")
        with open(asset) as f:
            assert json.load(f)["jit_compile_lzu"] is expected


def test_fresh_tensorflow_process_runs_the_xla_export_as_the_default(
        loaders, images):
    results, log = loaders["fresh"]
    assert "Compiled cluster using XLA" in log
    for key in images:
        assert_same_detections(_outputs(results, f"xla/{key}"),
                               _outputs(results, f"plain/{key}"))
    assert_same_detections(
        _outputs(results, "xla/png"),
        {k: v[:1] for k, v in _outputs(results, f"plain/{PNG_KEY}").items()},
    )


def test_saved_model_cli_runs_the_xla_export(loaders):
    if loaders["cli"] is None:
        pytest.skip("saved_model_cli is not installed next to python")
    assert_same_detections(loaders["cli"],
                           _outputs(loaders["fresh"][0], f"plain/{CLI_KEY}"))


def test_lzu_serve_answers_with_the_xla_export(exports, loaders, images):
    from keras_lzu.serving import GrpcPredictionClient
    from keras_lzu.serving import LocalModelServer

    key = "images_2x90x120"
    server = LocalModelServer(os.path.dirname(exports["xla"]),
                              model_name="lzu").start()
    try:
        with GrpcPredictionClient(server.target, "lzu") as client:
            answer = client.predict(images[key])
    finally:
        server.stop(grace=1.0)
    assert_same_detections(answer, _outputs(loaders["fresh"][0],
                                            f"plain/{key}"))


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_jit_compile_lzu_must_be_a_bool(tmp_path, value):
    with pytest.raises(ValueError, match="jit_compile_lzu"):
        keras_lzu.export(object(), tmp_path, jit_compile_lzu=value)
    assert os.listdir(tmp_path) == []


def test_jit_compile_lzu_of_a_model_without_lzu_layers_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no LZU layer"):
        keras_lzu.export(fake_models.FakeDetector(), tmp_path,
                         jit_compile_lzu=True)
    assert os.listdir(tmp_path) == []


def test_fixed_grid_and_inverse_are_constants_of_the_export(exports, model,
                                                            images):
    """The served outputs do not depend on the saliency weight: the grid
    and its inverse were computed at export, not per request."""
    import tensorflow as tf

    loaded = tf.saved_model.load(exports["plain"])
    index = [id(v) for v in model.variables].index(
        id(model.saliency_layer.log_saliency)
    )
    weight = loaded.model_variables[index]
    assert tuple(weight.shape) == (9, 13)
    serve = loaded.signatures["serving_default"]
    batch = tf.constant(images[CLI_KEY])
    before = serve(images=batch)
    weight.assign(tf.random.normal(weight.shape, stddev=3.0, seed=1))
    after = serve(images=batch)
    for key in DETECTION_KEYS:
        np.testing.assert_array_equal(after[key].numpy(), before[key].numpy())
