import math

import numpy as np
import pytest
import tensorflow as tf

from keras_lzu.data import saliency_prior_from_boxes


def brute_force_kde(boxes, grid_shape, bandwidth, floor, alpha=0.0):
    """The documented density, one control point and one box at a time;
    each bump has height `(sx * sy) ** -alpha`."""
    gh, gw = grid_shape
    density = np.zeros(grid_shape)
    for i in range(gh):
        for j in range(gw):
            x, y = j / (gw - 1), i / (gh - 1)
            for x1, y1, x2, y2 in boxes:
                sx = max(bandwidth * (x2 - x1), 0.5 / (gw - 1))
                sy = max(bandwidth * (y2 - y1), 0.5 / (gh - 1))
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                density[i, j] += (sx * sy) ** -alpha * math.exp(
                    -0.5 * ((x - cx) / sx) ** 2 - 0.5 * ((y - cy) / sy) ** 2
                )
    return (density / density.max() + floor) / (1 + floor)


BOXES = np.array(
    [[0.1, 0.2, 0.3, 0.5], [0.6, 0.4, 0.65, 0.45], [0.0, 0.8, 1.0, 1.0]]
)


def test_matches_a_brute_force_kernel_density_estimate():
    prior = saliency_prior_from_boxes(
        BOXES, grid_shape=(5, 7), bandwidth=0.7, floor=0.05
    )
    expected = brute_force_kde(BOXES, (5, 7), bandwidth=0.7, floor=0.05)
    np.testing.assert_allclose(prior, expected, rtol=1e-5)


@pytest.mark.parametrize("box_weight, alpha",
                         [("height", 0.0), ("mass", 1.0), (0.5, 0.5)])
def test_box_weight_matches_a_brute_force_weighted_kde(box_weight, alpha):
    prior = saliency_prior_from_boxes(
        BOXES, grid_shape=(5, 7), bandwidth=0.7, floor=0.05,
        box_weight=box_weight,
    )
    expected = brute_force_kde(BOXES, (5, 7), 0.7, 0.05, alpha=alpha)
    np.testing.assert_allclose(prior, expected, rtol=1e-5)


@pytest.mark.parametrize("box_weight", ["height", "mass", 0.5, 2])
def test_one_box_gives_the_same_prior_whatever_its_weight(box_weight):
    box = np.array([[0.2, 0.3, 0.5, 0.4]])
    np.testing.assert_allclose(
        saliency_prior_from_boxes(box, box_weight=box_weight),
        saliency_prior_from_boxes(box),
        rtol=1e-6,
    )


# Two boxes far apart, centred on control points of an 11x11 grid: (0.1,
# 0.1) and (0.7, 0.7); sigmas 0.5 * size: 0.05 and 0.2 (area ratio 16).
FAR_APART = np.array([[0.05, 0.05, 0.15, 0.15], [0.5, 0.5, 0.9, 0.9]])


def _peaks_above_floor(box_weight, floor=0.1):
    prior = saliency_prior_from_boxes(
        FAR_APART, grid_shape=(11, 11), floor=floor, box_weight=box_weight
    ).astype("float64")
    density = prior * (1 + floor) - floor  # density / its maximum
    return density[1, 1], density[7, 7]


def test_unit_mass_peaks_in_the_inverse_ratio_of_the_areas():
    small, large = _peaks_above_floor("mass")
    # The other box adds at most exp(-9) to each peak.
    assert small == pytest.approx(1.0, abs=1e-6)
    assert large == pytest.approx(1 / 16, rel=1e-3)


def test_unit_height_peaks_are_equal_and_area_powers_interpolate():
    small, large = _peaks_above_floor("height")
    assert large == pytest.approx(small, rel=1e-3)
    small, large = _peaks_above_floor(0.5)
    assert large / small == pytest.approx(1 / 4, rel=1e-3)


@pytest.mark.parametrize("box_weight", ["area", -1.0, True, float("nan"),
                                        None, "1"])
def test_bad_box_weight_raises_naming_it(box_weight):
    with pytest.raises(ValueError, match="`box_weight` must be"):
        saliency_prior_from_boxes(BOXES, box_weight=box_weight)


def test_single_box_peaks_at_the_control_point_nearest_its_centre():
    box = np.array([[0.27, 0.6, 0.42, 0.8]])
    prior = saliency_prior_from_boxes(box, grid_shape=(31, 51))
    peak = np.unravel_index(np.argmax(prior), prior.shape)
    assert peak == (round(0.7 * 30), round(0.345 * 50))


def test_output_is_float32_positive_with_maximum_one():
    prior = saliency_prior_from_boxes(BOXES, grid_shape=(31, 51), floor=0.01)
    assert prior.dtype == np.float32 and prior.shape == (31, 51)
    assert np.all(np.isfinite(prior))
    assert prior.max() == pytest.approx(1.0)
    assert prior.min() >= 0.01 / 1.01 - 1e-7


def test_pixel_boxes_with_image_size_equal_normalized_boxes():
    pixels = BOXES * np.array([1920, 1200, 1920, 1200])
    np.testing.assert_allclose(
        saliency_prior_from_boxes(pixels, image_size=(1200, 1920)),
        saliency_prior_from_boxes(BOXES),
        rtol=1e-6,
    )


def test_list_of_per_image_arrays_equals_all_boxes():
    per_image = [BOXES[:2], np.zeros((0, 4)), BOXES[2:]]
    np.testing.assert_allclose(
        saliency_prior_from_boxes(per_image), saliency_prior_from_boxes(BOXES)
    )


def test_padding_rows_are_ignored():
    padded = np.concatenate([BOXES, -np.ones((3, 4)), np.zeros((2, 4))])
    np.testing.assert_allclose(
        saliency_prior_from_boxes(padded), saliency_prior_from_boxes(BOXES)
    )


def test_all_zero_boxes_give_a_uniform_prior_with_a_warning():
    with pytest.warns(UserWarning, match="no valid box"):
        prior = saliency_prior_from_boxes(np.zeros((4, 4)), grid_shape=(3, 5))
    np.testing.assert_array_equal(prior, np.ones((3, 5), "float32"))


def test_dataset_of_padded_pixel_boxes_matches_arrays():
    height, width = 50, 100
    pixel_boxes = np.array(
        [
            [[10, 5, 30, 25], [-1, -1, -1, -1]],
            [[60, 20, 90, 45], [0, 30, 100, 50]],
        ],
        "float32",
    )
    classes = np.array([[0, -1], [1, 2]], "float32")
    images = np.zeros((2, height, width, 3), "float32")
    dataset = tf.data.Dataset.from_tensor_slices(
        (images, {"boxes": pixel_boxes, "classes": classes})
    ).batch(1)
    expected = np.array(
        [[0.1, 0.1, 0.3, 0.5], [0.6, 0.4, 0.9, 0.9], [0.0, 0.6, 1.0, 1.0]]
    )
    np.testing.assert_allclose(
        saliency_prior_from_boxes(dataset),
        saliency_prior_from_boxes(expected),
        rtol=1e-6,
    )


def test_ragged_dataset_in_relative_format_matches_arrays():
    boxes = tf.ragged.constant(
        [[[0.1, 0.1, 0.3, 0.5]], [[0.6, 0.4, 0.9, 0.9], [0.0, 0.6, 1.0, 1.0]]],
        ragged_rank=1,
    )
    classes = tf.ragged.constant([[0.0], [1.0, 2.0]])
    dataset = tf.data.Dataset.from_tensors(
        (tf.zeros((2, 8, 8, 3)), {"boxes": boxes, "classes": classes})
    )
    expected = np.array(
        [[0.1, 0.1, 0.3, 0.5], [0.6, 0.4, 0.9, 0.9], [0.0, 0.6, 1.0, 1.0]]
    )
    np.testing.assert_allclose(
        saliency_prior_from_boxes(dataset, bounding_box_format="rel_xyxy"),
        saliency_prior_from_boxes(expected),
        rtol=1e-6,
    )


def test_synthetic_scenes_prior_peaks_on_the_horizon_band():
    from keras_lzu.data import SyntheticDrivingScenes

    scenes = SyntheticDrivingScenes(image_size=(240, 384), seed=0)
    samples = [scenes.sample(i) for i in range(6)]
    prior = saliency_prior_from_boxes(
        [s["boxes"] for s in samples], image_size=(240, 384)
    )
    peak_row = np.argmax(prior.sum(axis=1)) / (prior.shape[0] - 1)
    horizons = [s["horizon"] / 240 for s in samples]
    assert min(horizons) - 0.1 < peak_row < max(horizons) + 0.1


@pytest.mark.parametrize(
    "boxes, kwargs, message",
    [
        (np.zeros((0, 4)), {}, "empty"),
        ([], {}, "empty"),
        (np.zeros((3, 3)), {}, r"\(N, 4\)"),
        (np.zeros((2, 3, 4)), {}, r"\(N, 4\)"),
        ([np.zeros((1, 4)), np.zeros((1, 5))], {}, r"boxes\[1\]"),
        (np.array([[0.1, 0.1, np.nan, 0.5]]), {}, "NaN"),
        (np.array([[10, 10, 50, 50.0]]), {}, "image_size"),
        (BOXES, {"grid_shape": (1, 5)}, "grid_shape"),
        (BOXES, {"bandwidth": 0.0}, "bandwidth"),
        (BOXES, {"floor": -1.0}, "floor"),
        (BOXES, {"image_size": (0, 10)}, "image_size"),
    ],
)
def test_invalid_input_raises(boxes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        saliency_prior_from_boxes(boxes, **kwargs)


def test_empty_dataset_and_bad_format_raise():
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.zeros((0, 4, 4, 3)), {"boxes": tf.zeros((0, 2, 4))})
    )
    with pytest.raises(ValueError, match="empty"):
        saliency_prior_from_boxes(dataset)
    with pytest.raises(ValueError, match="bounding_box_format"):
        saliency_prior_from_boxes(dataset, bounding_box_format="xywh")
