"""The benchmarks' experiment harness (`benchmarks/harness.py`): its cheap
parts, against closed forms and the data generator; the training runs are
the benchmarks themselves."""

import numpy as np
import pytest

pytest.importorskip("keras_cv")
pytest.importorskip("pycocotools")

from benchmarks import harness  # noqa: E402

pytestmark = pytest.mark.tensorflow_only


def test_zoomed_size_is_a_multiple_of_32():
    assert harness.zoomed_size((640, 1024), 0.25) == (320, 512)
    assert harness.zoomed_size((600, 960), 0.25) == (288, 480)
    assert all(s % 32 == 0 for s in harness.zoomed_size((1200, 1920), 0.1))


def test_default_budget_is_a_quarter_of_each_side():
    config = harness.parse_args([])
    height, width = config.canvas
    assert config.zoomed_size == (height // 4, width // 4)


def test_dense_labels_pad_and_scale():
    labels = harness.dense_labels(
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
    metrics = harness.coco_metrics(split, detections, ("a", "b"))
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP_small"] == pytest.approx(1.0)


@pytest.mark.parametrize("trainable", [False, True])
def test_trainable_saliency_flag_controls_the_saliency_weights(tmp_path, trainable):
    argv = ["--out", str(tmp_path)] + (["--trainable-saliency"] if trainable else [])
    config = harness.parse_args(argv)
    assert config.trainable_saliency is trainable
    prior = np.ones((31, 51), "float32")
    model = harness.build_lzu(
        harness.build_retinanet(2, filters=(8, 8, 16, 16), head_filters=8),
        (64, 96), prior, config.trainable_saliency,
    )
    assert bool(model.saliency_layer.trainable_weights) is trainable
    assert len(model.saliency_layer.weights) > 0


@pytest.mark.parametrize("flag, expected", [
    ([], harness.CLASS_COLOURS),
    (["--class-colours"], True),
    (["--no-class-colours"], False),
])
def test_class_colours_flag_reaches_the_scenes(tmp_path, flag, expected):
    config = harness.parse_args(["--out", str(tmp_path), "--canvas", "96", "160"]
                             + flag)
    assert config.class_colours is expected
    scenes = harness.make_scenes(config)
    assert scenes.class_colours is expected
    # The generator draws the same layout either way; the flag changes the
    # image, so the scenes really are built with it.
    other = harness.make_scenes(harness.parse_args(
        ["--out", str(tmp_path), "--canvas", "96", "160",
         "--class-colours" if not expected else "--no-class-colours"]))
    a, b = scenes.sample(0), other.sample(0)
    np.testing.assert_array_equal(a["boxes"], b["boxes"])
    assert not np.array_equal(a["image"], b["image"])


@pytest.mark.parametrize("flag, floor", [
    ([], harness.PRIOR_FLOOR),
    (["--prior-floor", "0.3"], 0.3),
])
def test_prior_floor_flag_sets_the_floor_of_the_kde_prior(tmp_path, flag, floor):
    config = harness.parse_args(["--out", str(tmp_path)] + flag)
    assert config.prior_floor == floor
    # One box in the top-left corner of a 96x160 canvas: the density is 1 at
    # the box and ~0 in the far corner, where only the floor remains:
    # (0 + floor) / (1 + floor).
    split = {"boxes": [np.array([[0.0, 0.0, 8.0, 8.0]], "float32")]}
    prior = harness.box_prior(split, (96, 160), config.prior_floor)
    assert prior.max() == pytest.approx(1.0)
    assert prior[-1, -1] == pytest.approx(floor / (1 + floor), rel=1e-4)


def test_higher_prior_floor_warps_less():
    from keras_lzu.layers import SaliencyGrid

    split = {"boxes": [np.array([[60.0, 40.0, 100.0, 56.0]], "float32")]}
    images = np.zeros((1, 96, 160, 3), "float32")

    def peak_row_density(floor):
        grid = SaliencyGrid(prior=harness.box_prior(split, (96, 160), floor))
        column = np.asarray(grid(images))[0, :, 25, 1]
        return 1.0 / (np.diff(column).min() * (len(column) - 1))

    strong, gentle = peak_row_density(0.01), peak_row_density(1.0)
    assert strong > gentle > 1.0


def test_report_has_the_table_the_gains_and_the_figures(tmp_path):
    config = harness.parse_args(["--out", str(tmp_path), "--steps", "7"])
    metrics = {
        "uniform": {"AP": 0.25, "AP50": 0.5, "AP_small": None,
                    "ms/image": 12.34, "forward ms/image": 5.0},
        "LZU": {"AP": 0.3125, "AP50": 0.375, "AP_small": 0.1,
                "ms/image": 15.0, "forward ms/image": 6.5},
    }
    figures = {name: str(tmp_path / f"{name}.png")
               for name in ("saliency", "zoomed", "detections")}
    path = harness.write_report(config, metrics, figures,
                                {"data": 1.0, "total": 61.0}, "TABLE")
    report = open(path).read()
    assert "\nTABLE\n" in report
    # AP_small is undefined for uniform: no gain is given for it.
    assert "LZU - uniform: AP +0.062, AP50 -0.125\n" in report
    assert "500 steps" not in report and "7 steps of batch 4" in report
    for name in figures:
        assert f"({name}.png)" in report
    assert "Wall time: data 1 s, total 61 s." in report
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_gains_leave_out_undefined_metrics():
    metrics = {"uniform": {"AP": 0.5, "AP50": None, "AP_small": 0.25},
               "LZU": {"AP": 0.75, "AP50": 0.5, "AP_small": 0.0}}
    assert harness.gains(metrics) == {"AP": 0.25, "AP_small": -0.25}
