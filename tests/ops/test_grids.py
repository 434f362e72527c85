import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
from backend_utils import compile_function, to_numpy
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
