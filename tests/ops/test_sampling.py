import numpy as np
import pytest

import reference
from backend_utils import compile_function, gradient, to_numpy
from keras_lzu import ops as lzu_ops


def random_grid(rng, batch, separable, grid_shape=(9, 13)):
    saliency = (rng.random((batch, *grid_shape)) ** 4).astype("float32")
    return to_numpy(
        lzu_ops.saliency_to_grid(
            saliency, grid_shape, separable=separable, attraction_fwhm=4
        )
    )


def smooth_images(batch, height, width, channels=2):
    ys, xs = np.meshgrid(
        reference.pixel_centres(height), reference.pixel_centres(width),
        indexing="ij",
    )
    images = [
        np.stack(
            [np.sin(2 * np.pi * (xs * (b + 1) + 0.3 * c)) * np.cos(np.pi * ys)
             for c in range(channels)],
            axis=-1,
        )
        for b in range(batch)
    ]
    return np.stack(images).astype("float32")


@pytest.mark.parametrize("size", [(20, 30), (37, 53), (74, 106), (11, 61), (1, 1)])
@pytest.mark.parametrize("separable", [True, False])
def test_identity_zoom_equals_tf_image_resize(rng, size, separable):
    images = rng.random((2, 37, 53, 3)).astype("float32")
    zoomed = lzu_ops.zoom(
        images, lzu_ops.identity_grid(1), size, separable=separable
    )
    expected = reference.resize_bilinear(images, size)
    np.testing.assert_allclose(to_numpy(zoomed), expected, atol=3e-5)


@pytest.mark.parametrize("size", [(16, 24), (33, 47), (80, 70)])
@pytest.mark.parametrize("grid_batch", [1, 3])
def test_zoom_matches_reference_on_random_grids(rng, size, grid_batch):
    images = rng.random((3, 41, 58, 2)).astype("float32")
    grids = random_grid(rng, grid_batch, separable=False)
    zoomed = to_numpy(lzu_ops.zoom(images, grids, size))
    np.testing.assert_allclose(
        zoomed, reference.zoom(images, grids, size), atol=2e-5
    )


@pytest.mark.parametrize("image_size", [(1, 9), (7, 1)])
@pytest.mark.parametrize("separable", [True, False])
def test_zoom_of_one_pixel_high_or_wide_images_matches_reference(
    rng, image_size, separable
):
    # An axis of one pixel has both bilinear taps on that pixel.
    images = rng.random((2, *image_size, 3)).astype("float32")
    grids = random_grid(rng, 1, separable=separable)
    zoomed = to_numpy(
        lzu_ops.zoom(images, grids, (5, 6), separable=separable)
    )
    np.testing.assert_allclose(
        zoomed, reference.zoom(images, grids, (5, 6)), atol=2e-5
    )


@pytest.mark.parametrize("grid_batch", [1, 2])
def test_separable_zoom_matches_reference(rng, grid_batch):
    images = rng.random((2, 40, 64, 3)).astype("float32")
    grids = random_grid(rng, grid_batch, separable=True)
    zoomed = to_numpy(lzu_ops.zoom(images, grids, (25, 31), separable=True))
    np.testing.assert_allclose(
        zoomed, reference.zoom(images, grids, (25, 31)), atol=3e-5
    )


@pytest.mark.parametrize("size", [(16, 24), (35, 21), (40, 64)])
@pytest.mark.parametrize("separable", [True, False])
def test_unzoom_of_separable_grid_matches_reference(rng, size, separable):
    features = rng.random((2, 20, 32, 4)).astype("float32")
    grids = random_grid(rng, 2, separable=True)
    out = to_numpy(lzu_ops.unzoom(features, grids, size, separable=separable))
    for b in range(2):
        expected = reference.unzoom(
            features[b], grids[b], size, reference.invert_separable
        )
        np.testing.assert_allclose(out[b], expected, atol=5e-5)


def assert_unzoom_matches_brute_force(features, grids, size):
    out = to_numpy(lzu_ops.unzoom(features, grids, size))
    for b in range(len(features)):
        expected = reference.unzoom(
            features[b], grids[b].astype("float64"), size,
            reference.invert_brute_force,
        )
        np.testing.assert_allclose(out[b], expected, atol=1e-4)


def test_unzoom_of_general_grid_matches_brute_force(rng):
    features = rng.random((2, 12, 18, 3)).astype("float32")
    grids = random_grid(rng, 2, separable=False, grid_shape=(7, 9))
    assert_unzoom_matches_brute_force(features, grids, (10, 14))


def spiky_grid(rng, batch, grid_shape, fwhm):
    """A strongly non-separable grid: a few isolated saliency spikes."""
    saliency = np.zeros((batch, *grid_shape), "float32")
    for b in range(batch):
        for _ in range(3):
            row, col = rng.integers(grid_shape[0]), rng.integers(grid_shape[1])
            saliency[b, row, col] = rng.uniform(0.1, 100.0)
    return to_numpy(
        lzu_ops.saliency_to_grid(
            saliency, grid_shape, separable=False, attraction_fwhm=fwhm
        )
    )


@pytest.mark.parametrize("grid_shape,fwhm", [((7, 9), 3), ((31, 51), 13)])
def test_unzoom_of_spiky_general_grid_matches_brute_force(rng, grid_shape, fwhm):
    # Grids where a quad-to-quad walk from the marginal inverse lands in the
    # wrong quad for most points; the inverse must stay exact.
    features = rng.random((2, 16, 24, 3)).astype("float32")
    grids = spiky_grid(rng, 2, grid_shape, fwhm)
    separable_guess = reference.invert_separable(
        grids[0].astype("float64"), reference.lattice(12, 20)
    )
    exact = reference.invert_brute_force(
        grids[0].astype("float64"), reference.lattice(12, 20)
    )
    assert np.abs(separable_guess - exact).max() > 0.05  # really non-separable
    assert_unzoom_matches_brute_force(features, grids, (12, 20))


def test_unzoom_defaults_to_the_features_size(rng):
    features = rng.random((1, 15, 22, 2)).astype("float32")
    grid = random_grid(rng, 1, separable=True)
    assert tuple(lzu_ops.unzoom(features, grid, separable=True).shape) == (1, 15, 22, 2)


def test_identity_unzoom_is_a_bilinear_resize(rng):
    features = rng.random((2, 15, 22, 5)).astype("float32")
    out = lzu_ops.unzoom(features, lzu_ops.identity_grid(1), (30, 44))
    expected = reference.resize_bilinear(features, (30, 44))
    np.testing.assert_allclose(to_numpy(out), expected, atol=3e-5)


def test_unzoom_clamps_outside_the_warp_range(rng):
    grid = to_numpy(lzu_ops.identity_grid(1, (5, 5))).copy()
    grid[..., 0] = 0.25 + 0.5 * grid[..., 0]
    features = rng.random((1, 8, 8, 1)).astype("float32")
    out = to_numpy(lzu_ops.unzoom(features, grid, (8, 16)))
    # Columns left of x = 0.25 map to u_x = 0: the features' left edge,
    # sampled at pixel coordinate -0.5 (edge replicate).
    np.testing.assert_allclose(out[0, :, 0, 0], out[0, :, 1, 0])
    np.testing.assert_allclose(
        out[0, :, 0, 0], reference.sample(features[0], np.stack(
            [np.zeros(8), reference.pixel_centres(8)], -1))[:, 0], atol=1e-5
    )


@pytest.mark.parametrize("separable", [True, False])
def test_unzoom_of_zoom_recovers_smooth_images(rng, separable):
    """Bound: two bilinear resamplings of a smooth image with frequencies up
    to 2 cycles per image at 64 x 96 pixels stay within 0.03 of it."""
    images = smooth_images(2, 64, 96)
    grid = random_grid(rng, 1, separable=separable)
    zoomed = lzu_ops.zoom(images, grid, (64, 96), separable=separable)
    restored = to_numpy(lzu_ops.unzoom(zoomed, grid, separable=separable))
    assert np.abs(restored - images).max() < 0.03


@pytest.mark.parametrize("separable", [True, False])
def test_compiled_ops_equal_eager(rng, separable):
    images = rng.random((3, 30, 40, 3)).astype("float32")
    saliency = (rng.random((3, 31, 51)) ** 4).astype("float32")

    def pipeline(images, saliency):
        grid = lzu_ops.saliency_to_grid(saliency, separable=separable)
        zoomed = lzu_ops.zoom(images, grid, (20, 24), separable=separable)
        return lzu_ops.unzoom(zoomed, grid, (15, 20), separable=separable)

    eager = to_numpy(pipeline(images, saliency))
    compiled = to_numpy(compile_function(pipeline)(images, saliency))
    np.testing.assert_allclose(compiled, eager, atol=2e-5)


def _directional_check(fn, x, rng, eps=1e-2, rtol=0.05):
    direction = rng.standard_normal(x.shape).astype("float32")
    analytic = float(np.sum(gradient(fn, x) * direction))
    numeric = (
        float(to_numpy(fn(x + eps * direction)))
        - float(to_numpy(fn(x - eps * direction)))
    ) / (2 * eps)
    assert np.isfinite(analytic)
    assert abs(analytic - numeric) <= rtol * abs(numeric) + 1e-3


@pytest.mark.parametrize("separable", [True, False])
def test_gradients_reach_images_features_and_saliency(rng, separable):
    from keras import ops

    images = rng.random((1, 24, 32, 2)).astype("float32")
    weights = ops.convert_to_tensor(rng.random((1, 12, 16, 2)).astype("float32"))
    saliency = (0.5 + rng.random((1, 31, 51))).astype("float32")
    grid = lzu_ops.saliency_to_grid(saliency, separable=separable)

    def from_images(x):
        return ops.sum(lzu_ops.zoom(x, grid, (12, 16), separable=separable) * weights)

    def from_features(x):
        return ops.sum(lzu_ops.unzoom(x, grid, (12, 16), separable=separable) * weights)

    def through_zoom(s):
        g = lzu_ops.saliency_to_grid(s, separable=separable)
        return ops.sum(lzu_ops.zoom(images, g, (12, 16), separable=separable) * weights)

    def through_unzoom(s):
        g = lzu_ops.saliency_to_grid(s, separable=separable)
        return ops.sum(lzu_ops.unzoom(images, g, (12, 16), separable=separable) * weights)

    _directional_check(from_images, images, rng)
    _directional_check(from_features, images, rng)
    _directional_check(through_zoom, saliency, rng)
    _directional_check(through_unzoom, saliency, rng)


def test_uint8_images_are_zoomed_as_float(rng):
    images = rng.integers(0, 256, (1, 10, 12, 3)).astype("uint8")
    zoomed = lzu_ops.zoom(images, lzu_ops.identity_grid(1), (5, 6))
    expected = reference.resize_bilinear(images, (5, 6))
    assert "float32" in str(zoomed.dtype)
    np.testing.assert_allclose(to_numpy(zoomed), expected, atol=1e-3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda g: lzu_ops.zoom(np.ones((4, 4, 3)), g, (2, 2)), "images"),
        (lambda g: lzu_ops.zoom(np.ones((1, 0, 4, 3)), g, (2, 2)), "zero height"),
        (lambda g: lzu_ops.zoom(np.ones((1, 4, 4, 3)), g, (0, 2)), "output_size"),
        (lambda g: lzu_ops.zoom(np.ones((1, 4, 4, 3)), g[0], (2, 2)), "grid"),
        (lambda g: lzu_ops.zoom(np.ones((1, 4, 4, 3)), g * 2, (2, 2)), r"\[0, 1\]"),
        (lambda g: lzu_ops.zoom(np.ones((2, 4, 4, 3)), np.concatenate([g] * 3), (2, 2)), "batch size"),
        (lambda g: lzu_ops.unzoom(np.ones((1, 4, 4)), g), "features"),
        (lambda g: lzu_ops.unzoom(np.ones((1, 4, 4, 2)), g, (3, -1)), "output_size"),
    ],
)
def test_bad_arguments_raise_value_errors(call, message):
    grid = to_numpy(lzu_ops.identity_grid(1, (5, 5)))
    with pytest.raises(ValueError, match=message):
        call(grid)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("separable", [True, False])
def test_ops_trace_with_unknown_image_and_feature_sizes(rng, separable):
    import tensorflow as tf

    grid = random_grid(rng, 1, separable=separable)

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3))])
    def pipeline(images):
        zoomed = lzu_ops.zoom(images, grid, (12, 16), separable=separable)
        return lzu_ops.unzoom(zoomed, grid, (9, 11), separable=separable)

    images = rng.random((2, 30, 41, 3)).astype("float32")
    eager = lzu_ops.unzoom(
        lzu_ops.zoom(images, grid, (12, 16), separable=separable),
        grid, (9, 11), separable=separable,
    )
    np.testing.assert_allclose(
        pipeline(images).numpy(), to_numpy(eager), atol=1e-5
    )


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("size", [(20, 30), (74, 106), (1, 1)])
def test_scipy_resize_reference_equals_tf_image_resize(rng, size):
    # On machines without TensorFlow the resize tests compare against the
    # SciPy path of `reference.resize_bilinear`; here it must equal TF's.
    import tensorflow as tf

    images = rng.random((2, 37, 53, 3)).astype("float32")
    expected = tf.image.resize(images, size, "bilinear", antialias=False)
    np.testing.assert_allclose(
        reference.resize_bilinear_scipy(images, size), expected.numpy(),
        atol=1e-5,
    )


# (4, 5) -> (20, 20) and 12 -> 20 are ratios at which TensorFlow's resize
# kernel compiled by XLA samples the wrong pixel (tensorflow#118344).
@pytest.mark.parametrize("in_size, size", [
    ((4, 5), (20, 20)), ((12, 9), (20, 35)), ((31, 51), (7, 11)),
    ((1, 3), (5, 1)),
])
def test_resize_bilinear_equals_tf_image_resize_eager_and_compiled(
        rng, in_size, size):
    images = rng.random((2, *in_size, 3)).astype("float32")
    expected = reference.resize_bilinear(images, size)
    np.testing.assert_allclose(
        to_numpy(lzu_ops.resize_bilinear(images, size)), expected, atol=1e-5
    )
    compiled = compile_function(lambda x: lzu_ops.resize_bilinear(x, size))
    np.testing.assert_allclose(to_numpy(compiled(images)), expected,
                               atol=1e-5)


def test_saliency_of_another_shape_gives_the_same_grid_compiled(rng):
    # Resized from 4x4 to the 20x20 grid, a ratio XLA's resize gets wrong.
    saliency = rng.random((1, 4, 4)).astype("float32") + 0.1

    def grid(s):
        return lzu_ops.saliency_to_grid(s, (20, 20), attraction_fwhm=4)

    np.testing.assert_allclose(
        to_numpy(compile_function(grid)(saliency)), to_numpy(grid(saliency)),
        atol=1e-5,
    )
