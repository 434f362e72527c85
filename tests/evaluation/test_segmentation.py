"""`SegmentationMetrics` against IoU counted pixel by pixel in NumPy."""

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from keras_lzu.evaluation import SegmentationMetrics  # noqa: E402


def numpy_iou(truth, predicted, k):
    both = np.sum((truth == k) & (predicted == k))
    either = np.sum((truth == k) | (predicted == k))
    return both / either


def test_streaming_result_equals_counting_all_pixels(rng):
    truth = rng.integers(0, 3, size=(4, 5, 7))
    predicted = np.where(rng.uniform(size=truth.shape) < 0.6, truth,
                         rng.integers(0, 3, size=truth.shape))
    metrics = SegmentationMetrics(4, class_names=["bg", "a", "b", "c"])
    metrics.update(truth[:1], predicted[:1])
    metrics.update(truth[1:], predicted[1:])
    result = metrics.result()
    expected = {name: numpy_iou(truth, predicted, k)
                for k, name in enumerate(["bg", "a", "b"])}
    # Class 3 ("c") is in neither map: no IoU, and not in the mean.
    assert result["per_class"] == pytest.approx(expected)
    assert result["mIoU"] == pytest.approx(np.mean(list(expected.values())))
    assert result["pixel_accuracy"] == pytest.approx(
        np.mean(truth == predicted))


def test_a_predicted_class_absent_from_the_truth_counts_as_zero():
    metrics = SegmentationMetrics(3)
    metrics.update(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1]))
    result = metrics.result()
    assert result["per_class"] == pytest.approx({"0": 0.5, "1": 1.0,
                                                 "2": 0.0})
    assert result["mIoU"] == pytest.approx(0.5)


def test_ignored_truth_pixels_are_not_counted():
    truth = np.array([[0, 1, 255], [255, 1, 0]])
    predicted = np.array([[0, 1, 1], [0, 0, 0]])
    metrics = SegmentationMetrics(2, ignore_index=255)
    metrics.update(truth, predicted)
    result = metrics.result()
    kept = truth != 255
    assert result["per_class"] == pytest.approx({
        str(k): numpy_iou(truth[kept], predicted[kept], k) for k in (0, 1)})
    assert result["pixel_accuracy"] == pytest.approx(3 / 4)


def test_reset_forgets_the_pixels():
    metrics = SegmentationMetrics(2)
    metrics.update(np.zeros((2, 2), "int32"), np.ones((2, 2), "int32"))
    metrics.reset()
    metrics.update(np.ones((2, 2), "int32"), np.ones((2, 2), "int32"))
    assert metrics.result()["mIoU"] == 1.0


@pytest.mark.parametrize("truth, predicted, message", [
    (np.zeros((2, 2), "int32"), np.zeros((2, 3), "int32"), "same shape"),
    (np.array([0, 3]), np.array([0, 1]), r"`y_true` has label 3"),
    (np.array([0, 1]), np.array([-1, 1]), r"`y_pred` has label -1"),
    (np.array([0.0, 0.5]), np.array([0, 1]), "integer class labels"),
])
def test_bad_labels_are_rejected(truth, predicted, message):
    with pytest.raises(ValueError, match=message):
        SegmentationMetrics(3).update(truth, predicted)


def test_result_before_any_pixel_is_an_error():
    with pytest.raises(ValueError, match="no pixels"):
        SegmentationMetrics(2).result()


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes"),
    ({"num_classes": 2, "class_names": ["a"]}, "class_names"),
    ({"num_classes": 2, "ignore_index": 1.5}, "ignore_index"),
])
def test_bad_constructor_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SegmentationMetrics(**kwargs)
