"""`lzu train` then `lzu evaluate`, in this process, on a tiny COCO dataset
with two image sizes: detection and segmentation, LZU (`prior`) and the
uniform baseline, KerasHub (one from a local preset) and KerasCV."""

import json
import math
import os
import types
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import keras_lzu
from training_helpers import OUTPUT_SIZE
from training_helpers import coco_args
from training_helpers import read_json
from training_helpers import run_cli

pytestmark = pytest.mark.tensorflow_only

COMMON = [
    "--output-size", *map(str, OUTPUT_SIZE), "--steps", "2",
    "--batch-size", "2", "--anchor-size", "2",
]
RUNS = {
    "detection-prior": ["--task", "detection", "--saliency", "prior",
                        "--export", "--jit-compile-lzu", "--antialias",
                        "on"],
    # 4 images, batches of 2: 3 steps are an epoch of 2 steps and one of 1.
    "detection-uniform": ["--task", "detection", "--saliency", "uniform",
                          "--backbone", "tiny", "--steps", "3"],
    "segmentation-prior": ["--task", "segmentation", "--saliency", "prior",
                           "--backbone", "tiny"],
    "segmentation-uniform": ["--task", "segmentation", "--saliency",
                             "uniform", "--backbone", "tiny", "--library",
                             "keras_cv", "--antialias"],
}
# The runs trained with `--antialias` (the flag alone means "on").
ANTIALIASED = {"detection-prior", "segmentation-uniform"}
DETECTION_METRICS = {"AP", "AP50", "AP75", "AP_small", "AP_medium",
                     "AP_large", "AR100", "per_class"}


@pytest.fixture(scope="module")
def runs(coco, preset_dir, tmp_path_factory):
    """`runs(name)` trains the run `name` once and returns its outputs."""
    done = {}

    def run(name):
        if name not in done:
            out = str(tmp_path_factory.mktemp(name))
            argv = ["train", *coco_args(coco), *COMMON, *RUNS[name],
                    "--out", out]
            if name == "detection-prior":
                argv += ["--preset", preset_dir.path]
            code, stdout, stderr = run_cli(argv)
            assert code == 0, stderr[-3000:]
            done[name] = types.SimpleNamespace(
                out=out, stdout=stdout,
                model=os.path.join(out, "model.keras"),
                metrics=read_json(os.path.join(out, "metrics.json")),
            )
        return done[name]

    return run


@pytest.mark.parametrize("name", sorted(RUNS))
def test_train_writes_the_model_and_its_metrics(runs, name):
    run = runs(name)
    task, saliency = name.split("-")
    metrics = run.metrics
    assert (metrics["task"], metrics["saliency"]) == (task, saliency)
    assert metrics["canvas"] == [64, 96]  # the largest training image
    assert os.path.isfile(run.model)
    assert not [f for f in os.listdir(run.out) if f.startswith(".")]
    final = metrics["final"]
    if task == "detection":
        assert set(final) == DETECTION_METRICS
        assert 0 <= final["AP50"] <= 1
    else:
        assert set(final["per_class"]) <= {"background", "car", "pedestrian"}
        assert 0 < final["mIoU"] <= 1
        # The loss alone: no accuracy of one-hot labels on sparse masks.
        assert set(metrics["history"][0]) == {"epoch", "loss", "seconds"}
    assert metrics["history"]
    for epoch in metrics["history"]:
        assert math.isfinite(epoch["loss"])


@pytest.mark.parametrize("name", sorted(RUNS))
def test_evaluate_scores_the_saved_model_as_training_did(runs, coco, name,
                                                         tmp_path):
    run = runs(name)
    report = str(tmp_path / "report.json")
    code, _, stderr = run_cli(["evaluate", "--model", run.model,
                               "--annotations", coco.val,
                               "--images", coco.val_images, "--json", report])
    assert code == 0, stderr[-3000:]
    evaluated = read_json(report)["metrics"]
    final = run.metrics["final"]
    assert evaluated.keys() == final.keys()
    for key, value in final.items():
        if isinstance(value, dict):
            assert evaluated[key] == pytest.approx(value, abs=1e-6), key
        elif value is not None:
            assert evaluated[key] == pytest.approx(value, abs=1e-6), key


def test_one_history_entry_and_log_line_per_epoch(runs):
    run = runs("detection-uniform")
    assert [epoch["epoch"] for epoch in run.metrics["history"]] == [1, 2]
    assert run.metrics["steps"] == 3
    log_lines = [line for line in run.stdout.splitlines()
                 if " - loss: " in line]
    assert len(log_lines) == 2, run.stdout


def test_prior_is_planned_from_the_training_boxes_each_in_its_frame(runs,
                                                                    coco):
    run = runs("detection-prior")
    model = keras_lzu.load_model(run.model)
    content = read_json(coco.train)
    sizes = {i["id"]: (i["width"], i["height"]) for i in content["images"]}
    boxes = []
    for annotation in content["annotations"]:
        x, y, w, h = annotation["bbox"]
        width, height = sizes[annotation["image_id"]]
        boxes.append([x / width, y / height, (x + w) / width,
                      (y + h) / height])
    # The canvas is the largest training image; --anchor-size 2 makes the
    # smallest anchor, the plan's target, 16 px.
    plan = keras_lzu.plan_warp(np.array(boxes), (64, 96), OUTPUT_SIZE,
                               target_size=16,
                               bounding_box_format="rel_xyxy")
    assert not model.saliency_layer.trainable
    assert model.saliency_layer.separable == plan.separable
    np.testing.assert_allclose(
        np.asarray(model.saliency_layer.saliency())[0], plan.prior, atol=1e-5
    )
    assert run.metrics["plan"] == json_round_trip(plan.summary())
    assert str(plan) in run.stdout
    assert "magnification vs uniform" in run.stdout


def json_round_trip(value):
    import json

    return json.loads(json.dumps(value))


def test_uniform_zooms_by_bilinear_resizing(runs, coco):
    import keras

    model = keras_lzu.load_model(runs("detection-uniform").model)
    assert not model.saliency_layer.trainable
    zoom = keras.Model(model.inputs, model.get_layer("lzu_zoom").output)
    image = np.random.default_rng(0).uniform(0, 255, (1, 48, 80, 3))
    expected = tf.image.resize(image, OUTPUT_SIZE, "bilinear",
                               antialias=False)
    np.testing.assert_allclose(zoom([image.astype("float32")]), expected,
                               atol=0.05)


def test_export_writes_version_1_with_the_metadata(runs):
    run = runs("detection-prior")
    version = os.path.join(run.out, "export", "1")
    assert os.path.isfile(os.path.join(version, "saved_model.pb"))
    metadata = read_json(os.path.join(version, "assets", "lzu_metadata.json"))
    assert metadata["task"] == "detection"
    assert metadata["output_size"] == list(OUTPUT_SIZE)
    assert metadata["num_classes"] == 2
    assert metadata["antialias"] is True
    # --jit-compile-lzu reached the export: LZU functions are XLA clusters.
    assert metadata["jit_compile_lzu"] is True
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(version, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    library = saved_model.meta_graphs[0].graph_def.library.function
    assert any(f.attr["_XlaMustCompile"].b for f in library)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_antialias_is_recorded_and_saved_with_the_model(runs, name):
    from keras_lzu.models import DEFAULT_ANTIALIAS

    run = runs(name)
    expected = True if name in ANTIALIASED else DEFAULT_ANTIALIAS
    assert run.metrics["antialias"] is expected
    with zipfile.ZipFile(run.model) as archive:
        config = json.loads(archive.read("config.json"))["config"]
    assert config["antialias"] is expected


def test_antialiased_uniform_zooms_by_area_resizing(runs):
    import keras

    model = keras_lzu.load_model(runs("segmentation-uniform").model)
    zoom = keras.Model(model.inputs, model.get_layer("lzu_zoom").output)
    # 2x and 3x the zoomed size: the resize averages 2x3 pixels.
    image = np.random.default_rng(0).uniform(
        0, 255, (1, 2 * OUTPUT_SIZE[0], 3 * OUTPUT_SIZE[1], 3)
    )
    expected = tf.image.resize(image, OUTPUT_SIZE, "area")
    np.testing.assert_allclose(zoom([image.astype("float32")]), expected,
                               atol=0.05)


def test_preset_backbone_starts_from_the_preset_weights(preset_dir):
    from keras_lzu.training import build_base_model

    detector = build_base_model("detection", "keras_hub", 2,
                                preset=preset_dir.path)
    encoder = detector.backbone.image_encoder
    loaded = {w.path: w.numpy() for w in encoder.weights}
    assert loaded.keys() == preset_dir.weights.keys()
    for path, value in preset_dir.weights.items():
        np.testing.assert_array_equal(loaded[path], value, err_msg=path)
    converter = detector.preprocessor.image_converter
    np.testing.assert_allclose(converter.scale, preset_dir.scale)
    np.testing.assert_allclose(converter.offset, preset_dir.offset)
