"""The averaging behind `antialias=True`, against exact NumPy means.

Backend-independent: the compiled tests of `test_antialiased_sampling.py`
run this code on every backend."""

import numpy as np
import pytest

import reference
from backend_utils import to_numpy
from keras_lzu.ops import footprints


def random_windows(rng, shape, size, widest, margin=0.5):
    """`(lo, hi)` windows of widths in `[1, widest]` inside
    `[-margin, size + margin]` (edge units)."""
    widths = rng.uniform(1.0, widest, shape)
    lo = rng.uniform(-margin, size + margin - widths)
    return lo.astype("float32"), (lo + widths).astype("float32")


def as_general(x_windows, y_windows):
    """Separable `(Bg, W')` and `(Bg, H')` windows as per-pixel ones."""
    shape = (len(x_windows[0]), y_windows[0].shape[1], x_windows[0].shape[1])
    return (
        tuple(np.broadcast_to(w[:, None, :], shape) for w in x_windows),
        tuple(np.broadcast_to(w[:, :, None], shape) for w in y_windows),
    )


def expected_means(images, x_windows, y_windows):
    return np.stack([
        reference.box_average(
            images[b],
            tuple(w[min(b, len(w) - 1)] for w in x_windows),
            tuple(w[min(b, len(w) - 1)] for w in y_windows),
        )
        for b in range(len(images))
    ])


@pytest.mark.backend_independent
@pytest.mark.parametrize("grid_batch", [1, 2])
def test_separable_means_are_exact(rng, grid_batch):
    images = rng.random((2, 13, 17, 3)).astype("float32")
    x_windows = random_windows(rng, (grid_batch, 9), 17, widest=12)
    y_windows = random_windows(rng, (grid_batch, 7), 13, widest=9)
    out = to_numpy(footprints.average_separable(images, x_windows, y_windows))
    expected = expected_means(images, *as_general(x_windows, y_windows))
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.backend_independent
def test_unit_windows_are_bilinear_samples(rng):
    # The mean of the pixel squares over [m - 1/2, m + 1/2] is the linear
    # interpolation at m (pixel coordinate m - 1/2), edge-clamped.
    image = rng.random((1, 6, 8, 2)).astype("float32")
    xs = rng.uniform(-0.5, 8.5, (1, 5)).astype("float32")
    ys = rng.uniform(-0.5, 6.5, (1, 4)).astype("float32")
    out = to_numpy(footprints.average_separable(
        image, (xs - 0.5, xs + 0.5), (ys - 0.5, ys + 0.5)
    ))
    points = np.stack(np.meshgrid(xs[0] / 8, ys[0] / 6), axis=-1)
    expected = reference.sample(image[0], points)
    np.testing.assert_allclose(out[0], expected, atol=1e-5)


@pytest.mark.backend_independent
@pytest.mark.parametrize("grid_batch", [1, 2])
def test_general_means_are_exact_up_to_three_rows_high(rng, grid_batch):
    images = rng.random((2, 15, 19, 2)).astype("float32")
    shape = (grid_batch, 6, 7)
    x_windows = random_windows(rng, shape, 19, widest=15)
    y_windows = random_windows(rng, shape, 15, widest=3)
    out = to_numpy(footprints.average_general(images, x_windows, y_windows))
    expected = expected_means(images, x_windows, y_windows)
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.backend_independent
def test_general_means_of_taller_windows_are_close(rng):
    """The stated bound of the pyramid: windows 3 to 12 rows high, inside
    the image, err by at most 0.12 on uniform noise in [0, 1] and 0.04 on a
    sinusoid of amplitude 0.5 and period 32 rows along y."""
    noise = rng.random((1, 64, 24, 1)).astype("float32")
    rows = reference.pixel_centres(64)[:, None, None]
    smooth = np.broadcast_to(
        0.5 + 0.5 * np.sin(2 * np.pi * 2 * rows), (1, 64, 24, 1)
    ).astype("float32")
    x_windows = random_windows(rng, (1, 10, 12), 24, widest=6, margin=0)
    y_windows = random_windows(rng, (1, 10, 12), 64, widest=12, margin=0)
    y_windows = (y_windows[0], np.maximum(y_windows[1], y_windows[0] + 3))
    for images, bound in ((noise, 0.12), (smooth, 0.04)):
        out = to_numpy(footprints.average_general(images, x_windows, y_windows))
        error = np.abs(out - expected_means(images, x_windows, y_windows))
        assert error.max() <= bound


@pytest.mark.backend_independent
def test_general_means_are_continuous_in_the_window_height(rng):
    # Levels switch as windows grow; the blend keeps the means continuous.
    images = rng.random((1, 48, 8, 1)).astype("float32")
    heights = np.linspace(1.0, 40.0, 3901, dtype="float32")
    y0 = np.full_like(heights, 2.0)[None, :, None]
    y_windows = (y0, y0 + heights[None, :, None])
    x_windows = (np.full_like(y0, 3.0), np.full_like(y0, 4.5))
    out = to_numpy(footprints.average_general(images, x_windows, y_windows))
    steps = np.abs(np.diff(out[0, :, 0, 0]))
    assert steps.max() < 5e-3
