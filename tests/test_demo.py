"""Smoke test of `lzu demo`: the whole pipeline with a tiny configuration.

Trains both detectors for a few steps on small canvases, evaluates them,
exports and serves the LZU model, and checks the report, the figures, the
metrics and the gRPC check. About a minute on 2 CPU cores.
"""

import math
import os

import numpy as np
import pytest

pytest.importorskip("keras_cv")
pytest.importorskip("pycocotools")
pytest.importorskip("grpc")

from keras_lzu import demo  # noqa: E402

pytestmark = pytest.mark.tensorflow_only


def tiny_config(out):
    return demo.parse_args([
        "--steps", "2", "--canvas", "192", "320", "--train-images", "4",
        "--val-images", "2", "--batch-size", "2", "--num-classes", "2",
        "--min-confidence", "0", "--budget", "0.25", "--out", str(out),
    ])


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_out")
    return demo.run_demo(tiny_config(out), log=lambda *args: None)


def test_zoomed_size_is_a_multiple_of_32():
    assert demo.zoomed_size((640, 1024), 0.25) == (320, 512)
    assert demo.zoomed_size((600, 960), 0.25) == (288, 480)
    assert all(s % 32 == 0 for s in demo.zoomed_size((1200, 1920), 0.1))


def test_default_budget_is_a_quarter_of_each_side():
    config = demo.parse_args([])
    height, width = config.canvas
    assert config.zoomed_size == (height // 4, width // 4)


def test_report_and_figures_exist(result):
    assert os.path.isfile(result["report"])
    with open(result["report"]) as f:
        report = f.read()
    assert "| uniform |" in report and "| LZU |" in report
    assert "forward ms/image" in report
    for path in result["figures"].values():
        assert path.endswith(".png") and os.path.getsize(path) > 1000
        assert os.path.basename(path) in report


def test_metrics_are_numbers_in_unit_interval(result):
    assert set(result["metrics"]) == {"uniform", "LZU"}
    for values in result["metrics"].values():
        for key in ("AP", "AP50", "AP_small"):
            assert isinstance(values[key], float)
            assert 0.0 <= values[key] <= 1.0
        for column in ("ms/image", "forward ms/image"):
            assert math.isfinite(values[column]) and values[column] > 0
    assert result["zoomed_size"] == (96, 160)


def test_grpc_answers_equal_in_process_predictions(result):
    serving = result["serving"]
    assert serving["ok"], serving
    assert serving["same_counts"]
    # With no confidence threshold every image has detections to compare.
    assert serving["detections"] > 0
    assert serving["max_box_diff"] <= 1e-2
    assert serving["max_score_diff"] <= 1e-2


def test_dense_labels_pad_and_scale():
    labels = demo.dense_labels(
        [np.array([[10, 20, 30, 40]], "float32"), np.zeros((0, 4))],
        [np.array([1]), np.zeros((0,), "int32")], max_boxes=2,
        scale=(0.5, 0.25))
    np.testing.assert_allclose(labels["boxes"][0, 0], [2.5, 10, 7.5, 20])
    assert np.all(labels["boxes"][0, 1] == -1)
    assert np.all(labels["classes"][1] == -1)


def test_coco_metrics_of_perfect_detections_are_one():
    boxes = [np.array([[10, 10, 20, 22], [50, 40, 90, 70]], "float32")]
    classes = [np.array([0, 1], "int32")]
    split = {"images": np.zeros((1, 100, 120, 3), "uint8"), "boxes": boxes,
             "classes": classes}
    detections = [{"boxes": boxes[0], "scores": np.array([0.9, 0.8]),
                   "classes": classes[0]}]
    metrics = demo.coco_metrics(split, detections, ("a", "b"))
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP_small"] == pytest.approx(1.0)


@pytest.mark.parametrize("trainable", [False, True])
def test_trainable_saliency_flag_controls_the_saliency_weights(tmp_path, trainable):
    argv = ["--out", str(tmp_path)] + (["--trainable-saliency"] if trainable else [])
    config = demo.parse_args(argv)
    assert config.trainable_saliency is trainable
    prior = np.ones((31, 51), "float32")
    model = demo.build_lzu(
        demo.build_retinanet(2, filters=(8, 8, 16, 16), head_filters=8),
        (64, 96), prior, config.trainable_saliency,
    )
    assert bool(model.saliency_layer.trainable_weights) is trainable
    assert len(model.saliency_layer.weights) > 0


@pytest.mark.parametrize("flag, expected", [
    ([], demo.CLASS_COLOURS),
    (["--class-colours"], True),
    (["--no-class-colours"], False),
])
def test_class_colours_flag_reaches_the_scenes(tmp_path, flag, expected):
    config = demo.parse_args(["--out", str(tmp_path), "--canvas", "96", "160"]
                             + flag)
    assert config.class_colours is expected
    scenes = demo.make_scenes(config)
    assert scenes.class_colours is expected
    # The generator draws the same layout either way; the flag changes the
    # image, so the scenes really are built with it.
    other = demo.make_scenes(demo.parse_args(
        ["--out", str(tmp_path), "--canvas", "96", "160",
         "--class-colours" if not expected else "--no-class-colours"]))
    a, b = scenes.sample(0), other.sample(0)
    np.testing.assert_array_equal(a["boxes"], b["boxes"])
    assert not np.array_equal(a["image"], b["image"])


@pytest.mark.parametrize("flag, floor", [
    ([], demo.PRIOR_FLOOR),
    (["--prior-floor", "0.3"], 0.3),
])
def test_prior_floor_flag_sets_the_floor_of_the_kde_prior(tmp_path, flag, floor):
    config = demo.parse_args(["--out", str(tmp_path)] + flag)
    assert config.prior_floor == floor
    # One box in the top-left corner of a 96x160 canvas: the density is 1 at
    # the box and ~0 in the far corner, where only the floor remains:
    # (0 + floor) / (1 + floor).
    split = {"boxes": [np.array([[0.0, 0.0, 8.0, 8.0]], "float32")]}
    prior = demo.box_prior(split, (96, 160), config.prior_floor)
    assert prior.max() == pytest.approx(1.0)
    assert prior[-1, -1] == pytest.approx(floor / (1 + floor), rel=1e-4)


def test_higher_prior_floor_warps_less():
    from keras_lzu.layers import SaliencyGrid

    split = {"boxes": [np.array([[60.0, 40.0, 100.0, 56.0]], "float32")]}
    images = np.zeros((1, 96, 160, 3), "float32")

    def peak_row_density(floor):
        grid = SaliencyGrid(prior=demo.box_prior(split, (96, 160), floor))
        column = np.asarray(grid(images))[0, :, 25, 1]
        return 1.0 / (np.diff(column).min() * (len(column) - 1))

    strong, gentle = peak_row_density(0.01), peak_row_density(1.0)
    assert strong > gentle > 1.0
