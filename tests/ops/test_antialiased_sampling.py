"""`zoom` and `unzoom` with `antialias=True`: the mean over each output
pixel's footprint (see `keras_lzu.ops.footprints`).

The first tests run on every backend (compiled, and through gradients); the
rest check the semantics in more cases, on TensorFlow only.
"""

import numpy as np
import pytest

import reference
from backend_utils import compile_function, fast_function, gradient, to_numpy
from keras_lzu import ops as lzu_ops


def random_grid(rng, batch, separable, grid_shape=(9, 13), fwhm=4):
    saliency = (rng.random((batch, *grid_shape)) ** 4).astype("float32")
    return to_numpy(
        lzu_ops.saliency_to_grid(
            saliency, grid_shape, separable=separable, attraction_fwhm=fwhm
        )
    )


def smooth_images(batch, height, width, channels=2):
    """Values in [0, 1], 2 cycles per image along x and 1 along y."""
    ys, xs = np.meshgrid(
        reference.pixel_centres(height), reference.pixel_centres(width),
        indexing="ij",
    )
    images = [
        np.stack(
            [0.5 + 0.5 * np.sin(2 * np.pi * (2 * xs + 0.3 * c + 0.1 * b))
             * np.cos(2 * np.pi * ys) for c in range(channels)],
            axis=-1,
        )
        for b in range(batch)
    ]
    return np.stack(images).astype("float32")


def footprints_of(mapping, size, image_size):
    """Reference windows `((x0, x1), (y0, y1))` of a `size` output whose
    cells map to an `image_size` input through `mapping`."""
    corners = mapping(reference.edge_lattice(*size))
    centres = mapping(reference.lattice(*size))
    return reference.footprint_windows(corners, centres, image_size)


def heights(windows):
    (_, _), (y0, y1) = windows
    return y1 - y0


def unit_windows(windows):
    """Output pixels whose windows are the unit pixel on both axes: where
    the map magnifies."""
    (x0, x1), (y0, y1) = windows
    return (np.abs(x1 - x0 - 1) < 1e-6) & (np.abs(y1 - y0 - 1) < 1e-6)


def warp_of(grid):
    return lambda points: reference.warp(grid.astype("float64"), points)


def inverse_of(grid, separable):
    invert = reference.invert_separable if separable else reference.invert_brute_force
    return lambda points: invert(grid.astype("float64"), points)


# On every backend.


def test_compiled_antialiased_ops_equal_the_footprint_means(rng):
    """Compiled (XLA, `jax.jit`), both paths: the separable path exactly;
    the general path exactly where footprints are at most 3 rows high and
    within 0.02 on a smooth image shrunk up to 9 times."""
    images = rng.random((2, 40, 64, 2)).astype("float32")
    smooth = smooth_images(2, 40, 64)
    separable = random_grid(rng, 2, separable=True)
    general = random_grid(rng, 1, separable=False)

    def antialiased(images, smooth):
        return (
            lzu_ops.zoom(images, separable, (50, 20), separable=True, antialias=True),
            lzu_ops.unzoom(images, separable, (9, 14), separable=True, antialias=True),
            lzu_ops.zoom(images, general, (24, 30), antialias=True),
            lzu_ops.zoom(smooth, general, (6, 9), antialias=True),
        )

    outputs = [to_numpy(o) for o in compile_function(antialiased)(images, smooth)]
    sep_zoom, sep_unzoom, zoom, shrunk = outputs
    for b in range(2):
        expected = reference.antialiased_zoom(images[b], separable[b], (50, 20))
        np.testing.assert_allclose(sep_zoom[b], expected, atol=2e-5)
        expected = reference.antialiased_unzoom(
            images[b], separable[b], (9, 14), reference.invert_separable
        )
        np.testing.assert_allclose(sep_unzoom[b], expected, atol=2e-5)
    grid = general[0]
    assert heights(footprints_of(warp_of(grid), (24, 30), (40, 64))).max() <= 3
    assert heights(footprints_of(warp_of(grid), (6, 9), (40, 64))).max() > 8
    for b in range(2):
        expected = reference.antialiased_zoom(images[b], grid, (24, 30))
        np.testing.assert_allclose(zoom[b], expected, atol=2e-5)
        expected = reference.antialiased_zoom(smooth[b], grid, (6, 9))
        np.testing.assert_allclose(shrunk[b], expected, atol=0.02)


def _directional_check(terms, x, rng, eps=1e-2, rtol=0.05):
    """The gradient of `sum(terms(x))` along a random direction against
    central differences of every term, within `rtol` of the sum of their
    magnitudes (terms of opposite signs would otherwise cancel)."""
    from keras import ops

    direction = rng.standard_normal(x.shape).astype("float32")
    analytic = float(np.sum(gradient(lambda x: ops.sum(terms(x)), x) * direction))
    terms = fast_function(terms)
    numeric = (
        to_numpy(terms(x + eps * direction)) - to_numpy(terms(x - eps * direction))
    ) / (2 * eps)
    assert np.isfinite(analytic)
    assert abs(analytic - numeric.sum()) <= rtol * np.abs(numeric).sum() + 1e-3


def test_gradients_reach_images_and_saliency(rng):
    from keras import ops

    images = smooth_images(1, 24, 32)
    weights = ops.convert_to_tensor(rng.random((1, 8, 10, 2)).astype("float32"))
    saliency = (0.5 + rng.random((1, 9, 13))).astype("float32")
    # One direction in images and saliency together: one compiled gradient.
    inputs = np.concatenate([images.ravel(), saliency.ravel()])

    def terms(inputs):
        """Separable and general zoom: the two averagers, with windows that
        move with the grid (unzoom averages the same ways, at positions
        from the inverse, whose gradients `test_sampling.py` checks)."""
        images = ops.reshape(inputs[: 24 * 32 * 2], (1, 24, 32, 2))
        saliency = ops.reshape(inputs[24 * 32 * 2 :], (1, 9, 13))
        out = []
        for separable in (True, False):
            grid = lzu_ops.saliency_to_grid(saliency, (9, 13), separable=separable)
            zoomed = lzu_ops.zoom(
                images, grid, (8, 10), separable=separable, antialias=True
            )
            out.append(ops.sum(zoomed * weights))
        return ops.stack(out)

    _directional_check(terms, inputs, rng)


# Identity grid: resizes (TensorFlow's as references).


@pytest.mark.backend_independent
@pytest.mark.parametrize("separable", [True, False])
def test_identity_zoom_equals_tf_area_or_bilinear_resize(rng, separable):
    """Area resize along axes that shrink, bilinear along axes that grow
    (where `antialias=True` changes nothing either)."""
    tf = pytest.importorskip("tensorflow")
    images = rng.random((2, 37, 53, 3)).astype("float32")

    def zoom(size):
        return to_numpy(lzu_ops.zoom(
            images, lzu_ops.identity_grid(1), size, separable=separable,
            antialias=True,
        ))

    np.testing.assert_allclose(
        zoom((13, 20)), tf.image.resize(images, (13, 20), "area"), atol=1e-5
    )
    np.testing.assert_allclose(
        zoom((60, 70)),
        tf.image.resize(images, (60, 70), "bilinear", antialias=True),
        atol=3e-5,
    )
    rows = tf.image.resize(images, (14, 53), "area")
    np.testing.assert_allclose(
        zoom((14, 80)), tf.image.resize(rows, (14, 80), "bilinear"), atol=3e-5
    )


@pytest.mark.backend_independent
def test_identity_separable_zoom_equals_area_resize_at_any_scale(rng):
    tf = pytest.importorskip("tensorflow")
    images = rng.random((1, 37, 53, 2)).astype("float32")
    zoomed = lzu_ops.zoom(
        images, lzu_ops.identity_grid(1), (4, 5), separable=True,
        antialias=True,
    )
    expected = tf.image.resize(images, (4, 5), "area").numpy()
    np.testing.assert_allclose(to_numpy(zoomed), expected, atol=1e-5)


@pytest.mark.backend_independent
def test_identity_zoom_is_close_to_tf_antialiased_resize(rng):
    """The box (area) filter against TensorFlow's `antialias=True`, a
    triangle filter of the same scale: on a smooth image shrunk 2.2 to 2.5
    times they agree within 0.02; on uniform noise in [0, 1] within 0.04
    on average (0.2 at most), where the plain bilinear zoom is 0.1 away."""
    tf = pytest.importorskip("tensorflow")
    noise = rng.random((1, 60, 80, 1)).astype("float32")
    smooth = smooth_images(1, 60, 80)
    size = (24, 36)
    for images, mean_bound, max_bound in ((smooth, 0.01, 0.02), (noise, 0.04, 0.2)):
        expected = tf.image.resize(images, size, antialias=True).numpy()
        for separable in (True, False):
            zoomed = to_numpy(lzu_ops.zoom(
                images, lzu_ops.identity_grid(1), size, separable=separable,
                antialias=True,
            ))
            error = np.abs(zoomed - expected)
            assert error.mean() <= mean_bound and error.max() <= max_bound
    plain = to_numpy(lzu_ops.zoom(noise, lzu_ops.identity_grid(1), size))
    assert np.abs(plain - expected).mean() > 0.1


@pytest.mark.backend_independent
@pytest.mark.parametrize("separable", [True, False])
def test_identity_unzoom_averages_when_shrinking(rng, separable):
    tf = pytest.importorskip("tensorflow")
    features = rng.random((2, 21, 30, 4)).astype("float32")
    out = lzu_ops.unzoom(
        features, lzu_ops.identity_grid(1), (9, 13), separable=separable,
        antialias=True,
    )
    expected = tf.image.resize(features, (9, 13), "area").numpy()
    np.testing.assert_allclose(to_numpy(out), expected, atol=1e-5)


# Warped grids: the definition.


@pytest.mark.backend_independent
def test_separable_zoom_equals_the_footprint_means(rng):
    images = rng.random((2, 40, 64, 3)).astype("float32")
    grid = random_grid(rng, 1, separable=True)
    zoomed = to_numpy(lzu_ops.zoom(
        images, grid, (5, 7), separable=True, antialias=True
    ))
    for b in range(2):
        expected = reference.antialiased_zoom(images[b], grid[0], (5, 7))
        np.testing.assert_allclose(zoomed[b], expected, atol=2e-5)


@pytest.mark.backend_independent
def test_general_zoom_equals_the_footprint_rectangle_means(rng):
    # Footprints at most 3 rows high are averaged exactly over the
    # rectangle between the mapped corners' means, for any grid.
    images = rng.random((2, 40, 64, 2)).astype("float32")
    grids = random_grid(rng, 2, separable=False)
    zoomed = to_numpy(lzu_ops.zoom(images, grids, (24, 30), antialias=True))
    for b in range(2):
        windows = footprints_of(warp_of(grids[b]), (24, 30), (40, 64))
        assert heights(windows).max() <= 3
        expected = reference.antialiased_zoom(images[b], grids[b], (24, 30))
        np.testing.assert_allclose(zoomed[b], expected, atol=2e-5)


@pytest.mark.backend_independent
def test_general_unzoom_equals_the_footprint_rectangle_means(rng):
    features = rng.random((1, 24, 32, 2)).astype("float32")
    grid = random_grid(rng, 1, separable=False, grid_shape=(7, 9))
    out = to_numpy(lzu_ops.unzoom(features, grid, (14, 18), antialias=True))
    windows = footprints_of(inverse_of(grid[0], False), (14, 18), (24, 32))
    short = heights(windows) <= 3
    assert short.mean() > 0.9
    expected = reference.antialiased_unzoom(
        features[0], grid[0], (14, 18), reference.invert_brute_force
    )
    np.testing.assert_allclose(out[0][short], expected[short], atol=1e-4)


# Warped grids: against brute-force integration over the exact footprint.


@pytest.mark.backend_independent
def test_general_zoom_is_close_to_the_exact_footprint_means(rng):
    """Stated error of the general path (rectangle footprints, pyramid above
    3 rows) against the brute-force mean over each cell's exact image under
    a non-separable warp shrinking 4 times on average (every footprint at
    least a pixel wide, up to 6): at most 0.1 (0.015 on average) on uniform
    noise in [0, 1], where the plain zoom errs by 0.4; at most 0.01 on a
    smooth image."""
    grid = random_grid(rng, 1, separable=False)[0]
    noise = rng.random((1, 96, 128, 1)).astype("float32")
    smooth = smooth_images(1, 96, 128, channels=1)
    size = (24, 32)
    for images, max_bound, mean_bound in ((noise, 0.1, 0.015), (smooth, 0.01, 0.002)):
        exact, extent = reference.footprint_mean(images[0], warp_of(grid), size)
        assert extent.min() >= 1 and extent.max() > 4
        zoomed = to_numpy(lzu_ops.zoom(images, grid[None], size, antialias=True))
        error = np.abs(zoomed[0] - exact)
        assert error.max() <= max_bound and error.mean() <= mean_bound
    exact, _ = reference.footprint_mean(noise[0], warp_of(grid), size)
    plain = to_numpy(lzu_ops.zoom(noise, grid[None], size))
    assert np.abs(plain[0] - exact).max() > 0.4


@pytest.mark.backend_independent
def test_general_unzoom_is_close_to_the_exact_area_means(rng):
    """The unzoom of features, at every output pixel whose footprint under
    `T^-1` is at least a pixel wide both ways, against the brute-force area
    mean over that footprint (the inverse by Newton's method on every quad):
    within 0.06 on uniform noise in [0, 1], where one bilinear tap errs by
    0.3."""
    grid = random_grid(rng, 1, separable=False, grid_shape=(7, 9), fwhm=3)
    features = rng.random((1, 24, 32, 2)).astype("float32")
    size = (8, 10)
    exact, extent = reference.footprint_mean(
        features[0], inverse_of(grid[0], False), size, samples=8
    )
    compressed = (extent >= 1).all(axis=-1)
    assert compressed.mean() > 0.5
    out = to_numpy(lzu_ops.unzoom(features, grid, size, antialias=True))[0]
    assert np.abs(out - exact)[compressed].max() <= 0.06
    plain = to_numpy(lzu_ops.unzoom(features, grid, size))[0]
    assert np.abs(plain - exact)[compressed].max() > 0.3


# Where the map magnifies, nothing changes.


@pytest.mark.backend_independent
@pytest.mark.parametrize("separable", [True, False])
def test_zoom_where_it_magnifies_equals_the_plain_zoom(rng, separable):
    images = rng.random((1, 20, 24, 2)).astype("float32")
    grid = random_grid(rng, 1, separable=separable)
    size = (24, 28)
    magnified = unit_windows(footprints_of(warp_of(grid[0]), size, (20, 24)))
    assert 0.3 < magnified.mean() < 1
    plain = to_numpy(lzu_ops.zoom(images, grid, size, separable=separable))
    antialiased = to_numpy(lzu_ops.zoom(
        images, grid, size, separable=separable, antialias=True
    ))
    np.testing.assert_allclose(
        antialiased[0][magnified], plain[0][magnified], atol=1e-5
    )
    assert np.abs(antialiased - plain)[0][~magnified].max() > 0.05


@pytest.mark.backend_independent
@pytest.mark.parametrize("separable", [True, False])
def test_unzoom_where_it_magnifies_equals_the_plain_unzoom(rng, separable):
    features = rng.random((1, 16, 20, 3)).astype("float32")
    grid = random_grid(rng, 1, separable=separable)
    size = (16, 20)
    windows = footprints_of(inverse_of(grid[0], separable), size, (16, 20))
    magnified = unit_windows(windows)
    assert 0.1 < magnified.mean() < 1
    plain = to_numpy(lzu_ops.unzoom(features, grid, size, separable=separable))
    antialiased = to_numpy(lzu_ops.unzoom(
        features, grid, size, separable=separable, antialias=True
    ))
    np.testing.assert_allclose(
        antialiased[0][magnified], plain[0][magnified], atol=1e-5
    )
    assert np.abs(antialiased - plain)[0][~magnified].max() > 0.05


@pytest.mark.tensorflow_only
def test_antialiased_zoom_traces_with_unknown_image_sizes(rng):
    import tensorflow as tf

    grids = [random_grid(rng, 1, separable=s) for s in (True, False)]

    def zoom(images):
        return [
            lzu_ops.zoom(images, grid, (12, 16), separable=s, antialias=True)
            for grid, s in zip(grids, (True, False))
        ]

    traced = tf.function(
        zoom, input_signature=[tf.TensorSpec((None, None, None, 3))]
    )
    images = rng.random((2, 30, 41, 3)).astype("float32")
    for got, expected in zip(traced(images), zoom(images)):
        np.testing.assert_allclose(got.numpy(), to_numpy(expected), atol=1e-5)
