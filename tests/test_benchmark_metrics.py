"""The accuracy benchmark's own measuring helpers, against NumPy."""

import keras
import numpy as np

from benchmarks import accuracy


def test_class_iou_matches_counting_pixels():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(2, 5, 7))
    predicted = rng.integers(0, 3, size=(2, 5, 7))
    # Class 3 is in neither map: NaN, not 0, so it leaves the mean alone.
    ious = accuracy.class_iou(truth, predicted, 4)
    for k in range(3):
        both = np.sum((truth == k) & (predicted == k))
        either = np.sum((truth == k) | (predicted == k))
        np.testing.assert_allclose(ious[k], both / either)
    assert np.isnan(ious[3])


def test_recalibrate_batch_norm_sets_the_average_batch_statistics():
    rng = np.random.default_rng(1)
    images = rng.normal(2.0, 3.0, size=(12, 4, 4, 3)).astype("float32")
    norm = keras.layers.BatchNormalization(momentum=0.99)
    inner = keras.Sequential([keras.Input((4, 4, 3)), norm])
    model = keras.Sequential([keras.Input((4, 4, 3)), inner])
    norm.moving_mean.assign(np.full(3, 50.0))
    norm.moving_variance.assign(np.full(3, 1e-4))

    assert accuracy.recalibrate_batch_norm(
        model, images, count=12, batch_size=4, seed=3) == 1

    order = np.random.default_rng(3).permutation(12)
    batches = [images[order[i:i + 4]] for i in range(0, 12, 4)]
    means = [b.mean(axis=(0, 1, 2)) for b in batches]
    variances = [b.var(axis=(0, 1, 2)) for b in batches]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_mean),
                               np.mean(means, axis=0), rtol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(norm.moving_variance),
        np.mean(variances, axis=0), rtol=1e-4)
    assert norm.momentum == 0.99
