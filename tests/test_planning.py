"""`keras_lzu.plan_warp`: its predictions against `warp_boxes`, its choice
of warp on hand-made box sets, its criterion in closed form, its inputs."""

import doctest
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import docstring_examples
import keras_lzu
from keras_lzu import planning

pytestmark = pytest.mark.tensorflow_only

CANVAS = (640, 1024)
BUDGET = (320, 512)
CANVAS_XYXY = np.array([CANVAS[1], CANVAS[0], CANVAS[1], CANVAS[0]])


def _band_boxes():
    """Small objects (6-20 px) in a horizontal band, large ones below."""
    rng = np.random.default_rng(0)
    x, side = rng.uniform(0, 1000, 120), rng.uniform(6, 20, 120)
    y = rng.normal(300, 8, 120)
    small = np.stack([x, y, x + side, y + side], axis=-1)
    x, side = rng.uniform(0, 880, 12), rng.uniform(100, 140, 12)
    large = np.stack([x, 470 + 0 * x, x + side, 470 + side], axis=-1)
    return np.concatenate([small, large])


def _diagonal_boxes():
    """Small objects along the diagonal of the image (a road seen from
    above)."""
    rng = np.random.default_rng(1)
    t, side = rng.uniform(0, 1, 120), rng.uniform(6, 30, 120)
    x, y = t * 980, t * 600
    return np.stack([x, y, x + side, y + side], axis=-1)


@pytest.fixture(scope="module")
def band_plan():
    return keras_lzu.plan_warp(_band_boxes(), CANVAS, BUDGET)


@pytest.fixture(scope="module")
def diagonal_plan():
    return keras_lzu.plan_warp(_diagonal_boxes(), CANVAS, BUDGET)


def test_a_horizontal_band_gives_a_separable_warp(band_plan):
    assert band_plan.separable
    assert band_plan.separability < planning.SEPARABILITY_THRESHOLD


def test_a_diagonal_line_of_boxes_gives_a_general_warp(diagonal_plan):
    assert not diagonal_plan.separable
    assert diagonal_plan.separability > 2 * planning.SEPARABILITY_THRESHOLD


def _box_magnifications(plan, boxes):
    """Each box's linear magnification against a uniform resize, measured
    by mapping the boxes with `keras_lzu.ops.warp_boxes` on the plan's
    grid."""
    normalized = (boxes / CANVAS_XYXY).astype("float32")
    zoomed = keras.ops.convert_to_numpy(keras_lzu.ops.warp_boxes(
        normalized[None], plan.grid, separable=plan.separable))[0]
    return np.sqrt(
        np.prod(zoomed[:, 2:] - zoomed[:, :2], axis=-1)
        / np.prod(normalized[:, 2:] - normalized[:, :2], axis=-1)
    )


def _measured_magnification(plan, boxes):
    """Median linear magnification per COCO bucket (`warp_boxes`)."""
    ratio = _box_magnifications(plan, boxes)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    buckets = {"small": area < 32**2,
               "medium": (area >= 32**2) & (area < 96**2),
               "large": area >= 96**2}
    return {name: float(np.median(ratio[mask])) if mask.any() else None
            for name, mask in buckets.items()}


@pytest.mark.parametrize("layout", ["band", "diagonal"])
def test_predicted_magnification_matches_warp_boxes(layout, band_plan,
                                                    diagonal_plan):
    plan, boxes = {"band": (band_plan, _band_boxes()),
                   "diagonal": (diagonal_plan, _diagonal_boxes())}[layout]
    # The plan clips boxes to the canvas; so does the measurement.
    boxes = np.clip(boxes, 0, CANVAS_XYXY)
    measured = _measured_magnification(plan, boxes)
    assert plan.magnification["small"] > 1.5
    for bucket, value in plan.magnification.items():
        if value is None:
            assert measured[bucket] is None
        else:
            # float32 inversion in warp_boxes against the plan's float64.
            assert value == pytest.approx(measured[bucket], rel=1e-3), bucket


@pytest.mark.parametrize("layout", ["band", "diagonal"])
def test_plan_grid_is_the_grid_wrap_builds_from_the_prior(
        layout, band_plan, diagonal_plan):
    plan = band_plan if layout == "band" else diagonal_plan
    layer = keras_lzu.SaliencyGrid(prior=plan.prior, separable=plan.separable)
    grid = keras.ops.convert_to_numpy(layer(np.zeros((1, 8, 8, 3))))
    # The layer holds the log of the prior in float32.
    np.testing.assert_allclose(grid, plan.grid, atol=5e-5)


def test_plan_respects_the_compression_bounds(band_plan):
    assert band_plan.worst_compression >= band_plan.min_scale == 0.5
    assert band_plan.worst_box_compression >= band_plan.min_box_scale == 0.8
    measured = _box_magnifications(band_plan,
                                   np.clip(_band_boxes(), 0, CANVAS_XYXY))
    assert band_plan.worst_box_compression == pytest.approx(measured.min(),
                                                            rel=1e-3)
    strict = keras_lzu.plan_warp(_band_boxes(), CANVAS, BUDGET,
                                 min_scale=0.9)
    assert strict.worst_compression >= 0.9
    assert strict.magnification["small"] < band_plan.magnification["small"]


def _cluster_boxes():
    """Small objects (6-16 px) clustered in the top right, ten large ones
    (100-140 px) anywhere: what a warp that magnifies the cluster shrinks
    (the cluster layout of `SyntheticDrivingScenes`)."""
    rng = np.random.default_rng(2)
    x, y = rng.uniform(560, 900, 150), rng.uniform(100, 280, 150)
    side = rng.uniform(6, 16, 150)
    small = np.stack([x, y, x + side, y + side], axis=-1)
    x, y = rng.uniform(0, 880, 10), rng.uniform(0, 500, 10)
    side = rng.uniform(100, 140, 10)
    large = np.stack([x, y, x + side, y + side], axis=-1)
    return np.concatenate([small, large])


def test_a_cluster_does_not_shrink_the_large_boxes_elsewhere():
    boxes = _cluster_boxes()
    plan = keras_lzu.plan_warp(boxes, CANVAS, BUDGET)
    measured = _box_magnifications(plan, boxes)
    large = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1) >= 96**2
    assert measured[large].min() >= 0.8 * (1 - 1e-3)
    assert plan.magnification["small"] > 1.5
    # A general warp magnifies the cluster alone: it gains far more than a
    # separable one, which stretches the cluster's rows and columns.
    assert plan.separability <= planning.SEPARABILITY_THRESHOLD
    assert not plan.separable
    gains = {kind: value - plan.uniform_criterion
             for kind, value in plan.kind_criteria.items()}
    assert gains["general"] > planning.GENERAL_GAIN_RATIO * gains["separable"]
    # Without the box bound the best warp is separable and shrinks a large
    # box to 0.67x.
    loose = keras_lzu.plan_warp(boxes, CANVAS, BUDGET, min_box_scale=0.1)
    assert loose.separable
    assert _box_magnifications(loose, boxes)[large].min() < 0.7


def _piecewise_linear_grid(knots_x, gh=26, gw=26):
    """A separable grid with the same piecewise-linear map on both axes,
    `x(u)` linear between the given (u, x) knots."""
    u = np.linspace(0, 1, gw)
    x = np.interp(u, *zip(*knots_x))
    xs, ys = np.meshgrid(x, np.interp(np.linspace(0, 1, gh), *zip(*knots_x)))
    return np.stack([xs, ys], axis=-1)[None]


# A 400x400 canvas zoomed to 200x200 (uniform: 0.5x); a 16 px object in the
# corner (8 px uniform) and a 128 px one in the other (64 px uniform).
CLOSED_FORM_BOXES = np.array([[0, 0, 0.04, 0.04], [0.68, 0.68, 1, 1]])
# Magnifies the small object 4x (to the 32 px target) and leaves the large
# one as the uniform resize has it (64 px); shrinks the space between them
# 0.8125x.
SPARES_LARGE = _piecewise_linear_grid(
    [(0, 0), (0.16, 0.04), (0.68, 0.68), (1, 1)])
# Magnifies the small object 4x (to the 32 px target) and shrinks the large
# one 0.625x (to 40 px, still above the target).
TO_TARGET = _piecewise_linear_grid([(0, 0), (0.16, 0.04), (0.8, 0.68), (1, 1)])
# Magnifies the small object 8x (64 px: no more than the target earns) and
# shrinks the large one 0.375x (24 px: below the target).
BEYOND_TARGET = _piecewise_linear_grid(
    [(0, 0), (0.32, 0.04), (0.88, 0.68), (1, 1)])


def _closed_form_score(grid):
    return planning.score_warp(grid, CLOSED_FORM_BOXES, (400, 400),
                               (200, 200), target_size=32.0)


def test_criterion_charges_shrinking_a_large_object_above_the_target():
    spares = _closed_form_score(SPARES_LARGE)
    to_target = _closed_form_score(TO_TARGET)
    beyond = _closed_form_score(BEYOND_TARGET)
    uniform = _closed_form_score(
        keras.ops.convert_to_numpy(keras_lzu.ops.identity_grid(1, (26, 26))))
    # Each box: log(min(side / max(32, uniform side), 1)), averaged.
    assert spares.criterion == pytest.approx(0.0, abs=1e-6)
    # The large object's own target is its uniform side, 64 px: at 40 px
    # it loses log(40 / 64) although it is above 32.
    assert to_target.criterion == pytest.approx(math.log(40 / 64) / 2,
                                                rel=1e-5)
    # The small one at 64 px earns no more than at 32.
    assert beyond.criterion == pytest.approx(math.log(24 / 64) / 2, rel=1e-5)
    assert uniform.criterion == pytest.approx(math.log(8 / 32) / 2, rel=1e-5)
    assert to_target.magnification["small"] == pytest.approx(4.0, rel=1e-6)
    assert to_target.magnification["medium"] is None
    assert to_target.magnification["large"] == pytest.approx(0.625, rel=1e-6)
    assert spares.worst_box_compression == pytest.approx(1.0, rel=1e-5)
    assert to_target.worst_box_compression == pytest.approx(0.625, rel=1e-5)
    assert beyond.worst_box_compression == pytest.approx(0.375, rel=1e-5)
    assert uniform.worst_box_compression == pytest.approx(1.0, rel=1e-6)
    # Local scale 1 / slope on both axes where the large object is, or
    # between the objects.
    assert spares.worst_compression == pytest.approx(0.52 / 0.64, rel=1e-5)
    assert to_target.worst_compression == pytest.approx(1 / 1.6, rel=1e-5)
    assert beyond.worst_compression == pytest.approx(0.12 / 0.32, rel=1e-5)


def test_no_warp_is_planned_when_every_object_is_above_the_target():
    boxes = np.array([[100, 100, 300, 300], [600, 200, 800, 400.0]])
    plan = keras_lzu.plan_warp(boxes, CANVAS, BUDGET, target_size=32)
    assert plan.floor is None and plan.box_weight is None
    np.testing.assert_array_equal(plan.prior, np.ones((31, 51)))
    assert plan.criterion == plan.uniform_criterion
    assert plan.criterion == pytest.approx(0.0, abs=1e-6)


def test_no_warp_is_planned_for_small_objects_spread_evenly():
    # A regular lattice of equal boxes tiling the canvas (one per 64x64
    # cell): any warp that magnifies some of them shrinks others, and the
    # mean of the log magnifications of boxes spread evenly over the image
    # is at most 0 (Jensen, the zoomed cells' areas summing to the
    # image's).
    y, x = np.meshgrid(np.arange(26, 640, 64.0), np.arange(26, 1024, 64.0))
    x, y = x.ravel(), y.ravel()
    boxes = np.stack([x, y, x + 12, y + 12], axis=-1)
    plan = keras_lzu.plan_warp(boxes, CANVAS, BUDGET)
    assert plan.floor is None
    assert plan.criterion == plan.uniform_criterion


def test_dataset_of_pixel_boxes_plans_as_the_array_does(band_plan):
    boxes = _band_boxes().astype("float32").reshape(4, 33, 4)
    classes = np.zeros((4, 33), "float32")
    images = np.zeros((4, *CANVAS, 1), "uint8")
    dataset = tf.data.Dataset.from_tensor_slices(
        (images, {"boxes": boxes, "classes": classes})).batch(2)
    plan = keras_lzu.plan_warp(dataset, CANVAS, BUDGET)
    # The dataset holds the boxes in float32.
    np.testing.assert_allclose(plan.prior, band_plan.prior, atol=1e-5)
    for bucket in ("small", "large"):
        assert plan.magnification[bucket] == pytest.approx(
            band_plan.magnification[bucket], rel=1e-4)


def test_relative_boxes_plan_as_pixel_boxes_do(band_plan):
    relative = _band_boxes() / CANVAS_XYXY
    plan = keras_lzu.plan_warp(list(relative[:, None]), CANVAS, BUDGET,
                               bounding_box_format="rel_xyxy")
    np.testing.assert_allclose(plan.prior, band_plan.prior, atol=1e-6)


def test_str_is_a_table_and_summary_is_json(band_plan):
    text = str(band_plan)
    assert "separable" in text and "worst compression" in text
    assert f"of a box {band_plan.worst_box_compression:.2f}x" in text
    for bucket in ("small", "medium", "large"):
        assert bucket in text
    summary = json.loads(json.dumps(band_plan.summary()))
    assert summary["separable"] is True
    assert summary["magnification"]["small"] == pytest.approx(
        band_plan.magnification["small"])


@pytest.mark.parametrize(
    "boxes, kwargs, message",
    [
        (np.zeros((0, 4)), {}, "empty"),
        (-np.ones((3, 4)), {}, "no valid box"),
        (np.zeros((3, 3)), {}, r"\(N, 4\)"),
        (np.array([[0.1, 0.1, 0.2, 0.2]]), {}, "rel_xyxy"),
        (_diagonal_boxes(), {"output_size": (700, 512)}, "must not exceed"),
        (_diagonal_boxes(), {"output_size": (320,)}, "output_size"),
        (_diagonal_boxes(), {"image_size": (640.5, 1024)}, "image_size"),
        (_diagonal_boxes(), {"target_size": 0}, "target_size"),
        (_diagonal_boxes(), {"min_scale": 0}, "min_scale"),
        (_diagonal_boxes(), {"min_scale": 1.5}, "min_scale"),
        (_diagonal_boxes(), {"min_box_scale": 0}, "min_box_scale"),
        (_diagonal_boxes(), {"bounding_box_format": "xywh"},
         "bounding_box_format"),
        (_diagonal_boxes(), {"grid_shape": (1, 5)}, "grid_shape"),
    ],
)
def test_bad_input_raises_naming_the_argument(boxes, kwargs, message):
    arguments = {"image_size": CANVAS, "output_size": BUDGET, **kwargs}
    with pytest.raises(ValueError, match=message):
        keras_lzu.plan_warp(boxes, **arguments)


def test_docstring_examples_give_the_output_shown():
    examples = doctest.DocTestFinder(exclude_empty=True).find(
        planning, globs={"np": np, "keras": keras, "keras_lzu": keras_lzu})
    examples = [example for example in examples if example.examples]
    assert examples
    for example in examples:
        failures = docstring_examples.run(example)
        assert not failures, failures
