"""The accuracy benchmark's own measuring helpers, against NumPy."""

import keras
import numpy as np

from benchmarks import accuracy


def test_mask_scores_match_counting_pixels():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(2, 5, 7))
    predicted = rng.integers(0, 3, size=(2, 5, 7))
    # Class 3 ("d") is in neither map: NaN, not 0, and not in the mean.
    scores = accuracy.mask_scores(truth, predicted, ["bg", "b", "c", "d"])
    ious = [np.sum((truth == k) & (predicted == k))
            / np.sum((truth == k) | (predicted == k)) for k in range(3)]
    assert list(scores) == ["mIoU", "IoU b", "IoU c", "IoU d"]
    np.testing.assert_allclose(scores["mIoU"], np.mean(ious))
    np.testing.assert_allclose([scores["IoU b"], scores["IoU c"]], ious[1:])
    assert np.isnan(scores["IoU d"])


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


def test_table_rows_give_the_paired_gain_and_its_t_test():
    from scipy import stats

    uniform = [0.50, 0.60, 0.55, 0.40]
    lzu = [0.56, 0.61, 0.60, 0.38]
    row = accuracy.Row("segmentation", "mIoU", 0.5, (320, 512), uniform, lzu)
    cells = [c.strip() for c in row.cells().strip("|").split("|")]
    gains = np.subtract(lzu, uniform)
    expected = stats.ttest_rel(lzu, uniform)
    assert cells[5] == f"{gains.mean():+.3f} +- {gains.std(ddof=1):.3f}"
    assert cells[7] == "3/4"
    t, p = (float(v) for v in cells[8].split(","))
    np.testing.assert_allclose(t, expected.statistic, rtol=1e-2)
    np.testing.assert_allclose(p, expected.pvalue, rtol=5e-2)
    single_seed = accuracy.Row("detection", "AP", 1, (8, 8), [0.3], [0.4])
    assert single_seed.cells().endswith("| n/a |")
