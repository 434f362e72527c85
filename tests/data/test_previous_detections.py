"""`simulate_previous_detections`: the statistics of its output match the
jitter its docstring documents, measured over many boxes."""

import numpy as np
import pytest
import tensorflow as tf

from keras_lzu.data import simulate_previous_detections
from keras_lzu.data import with_previous_detections

IMAGE_SIZE = (480, 640)
# One box per image, well inside it, so that jitter is never clipped.
IMAGES = 4000


@pytest.fixture(scope="module")
def ground_truth():
    rng = np.random.default_rng(0)
    sizes = rng.uniform(20, 60, (IMAGES, 1, 2))
    corners = rng.uniform(150, 250, (IMAGES, 1, 2))
    boxes = np.concatenate([corners, corners + sizes], -1).astype("float32")
    classes = rng.integers(0, 5, (IMAGES, 1)).astype("float32")
    return boxes, classes


def centres_and_sizes(xyxy):
    return (xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]


def test_kept_boxes_are_shifted_and_rescaled_as_documented(ground_truth):
    boxes, classes = ground_truth
    out = simulate_previous_detections(
        boxes, classes, IMAGE_SIZE, seed=1, shift_sigma=0.2,
        scale_sigma=0.3, drop_rate=0.0, false_positive_rate=0.0,
        max_boxes=1,
    )
    np.testing.assert_array_equal(out["classes"], classes)
    centre, size = centres_and_sizes(boxes)
    new_centre, new_size = centres_and_sizes(out["boxes"].numpy())
    shifts = ((new_centre - centre) / size).reshape(-1, 2)
    log_scales = np.log(new_size / size).reshape(-1, 2)
    n = len(shifts)
    for values, sigma in ((shifts, 0.2), (log_scales, 0.3)):
        # Four standard errors of the mean and of the standard deviation.
        np.testing.assert_allclose(
            values.mean(axis=0), 0.0, atol=4 * sigma / np.sqrt(n)
        )
        np.testing.assert_allclose(
            values.std(axis=0), sigma, atol=4 * sigma / np.sqrt(2 * n)
        )
    # x and y draw independently.
    assert abs(np.corrcoef(shifts.T)[0, 1]) < 4 / np.sqrt(n)
    scores = out["scores"].numpy()
    assert scores.min() >= 0.5 and scores.max() <= 1.0


def test_drop_rate_and_false_positive_count_match(ground_truth):
    boxes, classes = ground_truth
    out = simulate_previous_detections(
        boxes, classes, IMAGE_SIZE, seed=2, drop_rate=0.3,
        false_positive_rate=1.5, max_false_positives=3,
        score_range=(0.8, 1.0), false_positive_score_range=(0.0, 0.5),
    )
    assert out["boxes"].shape == (IMAGES, 4, 4)
    scores = out["scores"].numpy()
    real = scores >= 0.8
    false = (scores >= 0) & (scores <= 0.5)
    p, n = 0.3, IMAGES
    drop = 1 - real.sum(axis=1).mean()
    assert abs(drop - p) < 4 * np.sqrt(p * (1 - p) / n)
    # Binomial(3, 0.5) per image.
    count = false.sum(axis=1)
    assert abs(count.mean() - 1.5) < 4 * np.sqrt(3 * 0.25 / n)
    assert count.max() == 3
    # Sorted by score, padding last; padding rows are -1 throughout.
    assert np.all(np.diff(scores, axis=1) <= 0)
    padding = scores < 0
    np.testing.assert_array_equal(out["boxes"].numpy()[padding], -1.0)
    np.testing.assert_array_equal(out["classes"].numpy()[padding], -1.0)


def test_false_positives_imitate_the_images_boxes(ground_truth):
    boxes, classes = ground_truth
    out = simulate_previous_detections(
        boxes, classes, IMAGE_SIZE, seed=3, drop_rate=1.0,
        false_positive_rate=1.0, max_false_positives=1, scale_sigma=0.1,
    )
    present = out["scores"].numpy()[:, 0] >= 0
    assert abs(present.mean() - 1.0) < 1e-9
    fp = out["boxes"].numpy()[:, 0]
    # The class and (rescaled) size of the image's only box.
    np.testing.assert_array_equal(out["classes"].numpy()[:, 0], classes[:, 0])
    _, size = centres_and_sizes(boxes[:, 0])
    _, fp_size = centres_and_sizes(fp)
    inside = np.all((fp[:, :2] > 0) & (fp[:, 2:] < IMAGE_SIZE[::-1]), -1)
    log_scales = np.log(fp_size[inside] / size[inside])
    assert abs(log_scales.mean()) < 0.01
    assert abs(log_scales.std() - 0.1) < 0.01
    # Centres spread uniformly over the image.
    centre, _ = centres_and_sizes(fp)
    np.testing.assert_allclose(
        centre.mean(axis=0), np.array(IMAGE_SIZE[::-1]) / 2, rtol=0.05
    )


def test_an_image_without_boxes_gets_none():
    boxes = np.full((5, 4), -1.0, "float32")
    classes = np.full((5,), -1.0, "float32")
    out = simulate_previous_detections(
        boxes, classes, IMAGE_SIZE, seed=0, false_positive_rate=4.0
    )
    np.testing.assert_array_equal(out["boxes"], -1.0)


def test_boxes_are_clipped_to_the_image_and_keep_their_format():
    # center_xywh: a box centred on the right edge, and one outside.
    boxes = np.array([[640, 100, 40, 20], [700, 100, 20, 20]], "float32")
    out = simulate_previous_detections(
        boxes, np.array([0.0, 1.0]), IMAGE_SIZE, seed=0,
        bounding_box_format="center_xywh", shift_sigma=0.0,
        scale_sigma=0.0, drop_rate=0.0, false_positive_rate=0.0,
    )
    np.testing.assert_allclose(out["boxes"][0], [630, 100, 20, 20])
    np.testing.assert_array_equal(out["boxes"][1], -1.0)


def test_draws_depend_only_on_seed_and_index(ground_truth):
    boxes, classes = ground_truth[0][:8], ground_truth[1][:8]

    def run(seed, index):
        return simulate_previous_detections(
            boxes, classes, IMAGE_SIZE, seed, index
        )["boxes"].numpy()

    np.testing.assert_array_equal(run(0, 5), run(0, 5))
    assert not np.array_equal(run(0, 5), run(0, 6))
    assert not np.array_equal(run(0, 5), run(1, 5))


def test_with_previous_detections_is_deterministic_in_a_dataset():
    size = (24, 32)
    boxes = np.array([[[4, 4, 12, 10]], [[16, 8, 30, 20]]], "float32")
    classes = np.array([[1.0], [2.0]])
    images = np.zeros((2, *size, 3), "uint8")
    dataset = tf.data.Dataset.from_tensor_slices(
        (images, {"boxes": boxes, "classes": classes})
    )
    mapped = with_previous_detections(dataset, seed=4, max_boxes=3)
    first = [x["prior_boxes"].numpy() for x, _ in mapped]
    again = [x["prior_boxes"].numpy() for x, _ in mapped]
    np.testing.assert_array_equal(first, again)
    for index in range(2):
        expected = simulate_previous_detections(
            boxes[index], classes[index], size, 4, index, max_boxes=3
        )["boxes"]
        np.testing.assert_array_equal(first[index], expected)
    assert not np.array_equal(first[0], first[1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"drop_rate": 1.5}, "drop_rate"),
        ({"shift_sigma": -1}, "shift_sigma"),
        ({"false_positive_rate": 5, "max_false_positives": 4},
         "false_positive_rate"),
        ({"max_boxes": 0}, "max_boxes"),
        ({"score_range": (0.9, 0.1)}, "score_range"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate_previous_detections(
            np.zeros((1, 4)), np.zeros((1,)), IMAGE_SIZE, 0, **kwargs
        )
