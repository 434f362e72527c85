import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import keras
from keras import ops

import reference
from backend_utils import compile_function, to_numpy, values_and_gradient
from keras_lzu import ops as lzu_ops


def test_identity_grid_is_linspace():
    grid = to_numpy(lzu_ops.identity_grid(2, (5, 7)))
    assert grid.shape == (2, 5, 7, 2)
    np.testing.assert_allclose(grid[1, 3, :, 0], np.linspace(0, 1, 7))
    np.testing.assert_allclose(grid[0, :, 4, 1], np.linspace(0, 1, 5))


@pytest.mark.parametrize("separable", [True, False])
def test_uniform_saliency_gives_identity_grid(separable):
    saliency = np.full((1, 31, 51), 3.0, "float32")
    grid = lzu_ops.saliency_to_grid(saliency, separable=separable)
    np.testing.assert_allclose(
        to_numpy(grid), to_numpy(lzu_ops.identity_grid(1)), atol=1e-5
    )


@pytest.mark.parametrize("anti_crop", [True, False])
def test_separable_grid_matches_reference_loops(rng, anti_crop):
    saliency = rng.random((2, 9, 13)).astype("float32") ** 3
    grid = to_numpy(
        lzu_ops.saliency_to_grid(
            saliency, (9, 13), attraction_fwhm=4, anti_crop=anti_crop
        )
    )
    for b in range(2):
        expected = reference.separable_grid(saliency[b], (9, 13), 4, anti_crop)
        np.testing.assert_allclose(grid[b], expected, atol=2e-6)


def test_non_separable_grid_matches_2d_reference(rng):
    gh, gw, fwhm = 7, 10, 3.0
    saliency = rng.random((1, gh, gw)) ** 2
    grid = to_numpy(
        lzu_ops.saliency_to_grid(
            saliency.astype("float32"), (gh, gw), separable=False,
            attraction_fwhm=fwhm,
        )
    )
    pad = min(gh, gw) - 1
    s = np.pad(saliency[0] / saliency.max() + 1e-6, pad, mode="reflect")
    px = (np.arange(gw + 2 * pad) - pad) / (gw - 1)
    py = (np.arange(gh + 2 * pad) - pad) / (gh - 1)
    for i in range(gh):
        for j in range(gw):
            a, b = np.meshgrid(np.arange(-pad, pad + 1), np.arange(-pad, pad + 1))
            k = np.exp(-4 * np.log(2) * (a**2 + b**2) / fwhm**2)
            w = k * s[i : i + 2 * pad + 1, j : j + 2 * pad + 1]
            x = (w * px[j : j + 2 * pad + 1][None, :]).sum() / w.sum()
            y = (w * py[i : i + 2 * pad + 1][:, None]).sum() / w.sum()
            np.testing.assert_allclose(grid[0, i, j], np.clip([x, y], 0, 1), atol=2e-6)


def test_salient_region_attracts_control_points():
    saliency = np.ones((1, 31, 51), "float32")
    saliency[0, 10:16, 20:30] = 50.0
    grid = to_numpy(lzu_ops.saliency_to_grid(saliency))
    spacing = np.diff(grid[0, 0, :, 0])
    assert spacing[20:29].mean() < 0.5 * spacing[:10].mean()


def test_anti_crop_keeps_the_field_of_view(rng):
    saliency = rng.random((3, 31, 51)).astype("float32") ** 4
    for separable in (True, False):
        grid = to_numpy(lzu_ops.saliency_to_grid(saliency, separable=separable))
        np.testing.assert_allclose(grid[:, :, 0, 0], 0, atol=1e-5)
        np.testing.assert_allclose(grid[:, :, -1, 0], 1, atol=1e-5)
        np.testing.assert_allclose(grid[:, 0, :, 1], 0, atol=1e-5)
        np.testing.assert_allclose(grid[:, -1, :, 1], 1, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    saliency=hnp.arrays(
        "float32", (2, 8, 11),
        elements=st.floats(0, 1e6, width=32, allow_subnormal=False),
    ),
    separable=st.booleans(),
    anti_crop=st.booleans(),
)
def test_grid_is_monotone_and_in_unit_square(saliency, separable, anti_crop):
    grid = to_numpy(
        lzu_ops.saliency_to_grid(
            saliency, (8, 11), separable=separable, attraction_fwhm=3,
            anti_crop=anti_crop,
        )
    )
    assert np.all(np.isfinite(grid))
    assert grid.min() >= 0 and grid.max() <= 1
    assert np.all(np.diff(grid[..., 0], axis=2) >= -1e-6)
    assert np.all(np.diff(grid[..., 1], axis=1) >= -1e-6)


@pytest.mark.parametrize("separable", [True, False])
def test_extreme_saliency_never_gives_nan(separable):
    saliency = np.zeros((4, 31, 51), "float32")
    saliency[1, 3, 49] = 1e30
    saliency[2] = 1e-30
    saliency[3, :, :] = 3e38
    fn = compile_function(
        lambda s: lzu_ops.saliency_to_grid(s, separable=separable)
    )
    for grid in (lzu_ops.saliency_to_grid(saliency, separable=separable),
                 fn(saliency)):
        grid = to_numpy(grid)
        assert np.all(np.isfinite(grid))
        assert grid.min() >= 0 and grid.max() <= 1
    np.testing.assert_allclose(grid[0], to_numpy(lzu_ops.identity_grid(1))[0], atol=1e-5)


def test_saliency_of_other_size_is_resized():
    saliency = np.ones((1, 10, 20), "float32")
    grid = lzu_ops.saliency_to_grid(saliency, grid_shape=(5, 9))
    assert tuple(grid.shape) == (1, 5, 9, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"saliency": np.ones((31, 51))}, "saliency"),
        ({"saliency": -np.ones((1, 31, 51))}, "non-negative"),
        ({"saliency": np.full((1, 31, 51), np.nan)}, "NaN"),
        ({"saliency": np.ones((1, 31, 51)), "grid_shape": (1, 5)}, "grid_shape"),
        ({"saliency": np.ones((1, 31, 51)), "attraction_fwhm": 0}, "attraction_fwhm"),
    ],
)
def test_bad_saliency_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lzu_ops.saliency_to_grid(**kwargs)


GRADIENT_GRID = (7, 9)
# Finite-difference steps: relative to a positive map, and at the all-zero
# map 1% of the floor it adds once divided by the smallest peak.
RELATIVE_STEP = 1e-2
STEP_AT_ZERO = (
    1e-2 * lzu_ops.grids.SALIENCY_FLOOR * lzu_ops.grids.SALIENCY_MIN_PEAK
)


def extreme_saliency_maps(rng):
    """All-zero, single-cell and extreme-range non-negative maps."""
    largest = np.finfo("float32").max
    maps = np.zeros((9, *GRADIENT_GRID), "float32")
    maps[1, 3, 4] = 1.0
    maps[2, 0, 0] = 1.0
    maps[3, 6, 8] = largest
    maps[4] = 1e-30
    maps[5] = 1e-40
    maps[6] = 10.0 ** rng.uniform(-38, 38, GRADIENT_GRID)
    maps[7, 2, 5] = 2 * lzu_ops.grids.SALIENCY_MIN_PEAK
    maps[8] = largest
    return maps


def grid_zoom_unzoom_losses(rng, separable):
    """Per map of a batch, a scalar that depends on it through the grid, the
    zoomed image and the unzoomed features (the same image for every map)."""
    image = ops.convert_to_tensor(rng.random((1, 12, 16, 2)), "float32")
    weights = [
        ops.convert_to_tensor(rng.standard_normal((1, *shape, 2)), "float32")
        for shape in (GRADIENT_GRID, (8, 10), (12, 16))
    ]

    def losses(saliency):
        batch = ops.shape(saliency)[0]
        grid = lzu_ops.saliency_to_grid(
            saliency, GRADIENT_GRID, separable=separable, attraction_fwhm=3
        )
        images = ops.broadcast_to(image, (batch, *image.shape[1:]))
        zoomed = lzu_ops.zoom(images, grid, (8, 10), separable=separable)
        unzoomed = lzu_ops.unzoom(zoomed, grid, (12, 16), separable=separable)
        return sum(
            ops.sum(x * w, axis=(1, 2, 3))
            for x, w in zip((grid, zoomed, unzoomed), weights)
        )

    return losses


@pytest.fixture(
    scope="module", params=[True, False], ids=["separable", "general"]
)
def saliency_derivatives(request):
    """Gradients and values of `grid_zoom_unzoom_losses`, all from one
    (compiled) program: at the extreme maps (the first is all zero) and at a
    positive map, and values a step from each along a direction."""
    rng = np.random.default_rng(7)
    extreme = extreme_saliency_maps(rng)
    positive = (1e-3 + rng.random((1, *GRADIENT_GRID)) ** 4).astype("float32")
    direction = positive * rng.uniform(-1, 1, positive.shape).astype("float32")
    at_zero = rng.random((1, *GRADIENT_GRID)).astype("float32")
    maps = np.concatenate([
        extreme,
        positive,
        positive + RELATIVE_STEP * direction,
        positive - RELATIVE_STEP * direction,
        STEP_AT_ZERO * at_zero,
    ])
    values, grads = values_and_gradient(
        grid_zoom_unzoom_losses(rng, request.param), maps
    )
    n = len(extreme)
    return {
        "extreme_gradients": grads[:n],
        "zero_value": values[0],
        "zero_gradient": grads[0],
        "zero_direction": at_zero[0],
        "zero_stepped_value": values[n + 3],
        "positive_gradient": grads[n],
        "positive_direction": direction[0],
        "positive_stepped_values": values[n + 1 : n + 3],
    }


def test_saliency_gradient_is_finite_for_any_non_negative_map(
    saliency_derivatives,
):
    assert np.all(np.isfinite(saliency_derivatives["extreme_gradients"]))


# Adam squares every gradient in float32 (largest value 3.4e38): a gradient
# above about 1e19 makes its second moment infinite and the next step NaN.
# The bound leaves a factor of 1e6 for the chain rule to a saliency network.
LARGEST_SAFE_GRADIENT = 1e13


def test_saliency_gradient_is_small_enough_for_adam(saliency_derivatives):
    gradients = saliency_derivatives["extreme_gradients"]
    assert np.abs(gradients).max() <= LARGEST_SAFE_GRADIENT


@pytest.mark.tensorflow_only  # Optimizer code is the same on every backend.
def test_adam_steps_from_a_nearly_zero_saliency_stay_finite():
    """A saliency through a ReLU (as a user's network may output), nearly
    zero at the start: two Adam steps keep it finite."""
    losses = grid_zoom_unzoom_losses(np.random.default_rng(7), True)
    saliency = keras.Variable(np.full((1, *GRADIENT_GRID), 1e-30, "float32"))
    adam = keras.optimizers.Adam(1e-3)
    for _ in range(2):
        _, grad = values_and_gradient(
            lambda s: losses(ops.relu(s)), to_numpy(saliency)
        )
        adam.apply_gradients([(ops.convert_to_tensor(grad), saliency)])
    assert np.all(np.isfinite(to_numpy(saliency)))


def test_saliency_gradient_matches_central_differences(saliency_derivatives):
    """Float32 central differences, relative steps of 1e-2: within 2%."""
    d = saliency_derivatives
    analytic = np.sum(d["positive_gradient"] * d["positive_direction"])
    above, below = d["positive_stepped_values"]
    numeric = (above - below) / (2 * RELATIVE_STEP)
    assert abs(analytic - numeric) <= 0.02 * abs(numeric)


def test_zero_saliency_gradient_is_the_one_sided_derivative(
    saliency_derivatives,
):
    """All-zero saliency gives the identity grid, and the grid moves
    continuously with a small non-negative saliency: the gradient there is
    the derivative along any non-negative direction (forward differences)."""
    d = saliency_derivatives
    analytic = np.sum(d["zero_gradient"] * d["zero_direction"])
    numeric = (d["zero_stepped_value"] - d["zero_value"]) / STEP_AT_ZERO
    assert abs(analytic - numeric) <= 0.02 * abs(numeric)
