import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
from backend_utils import to_numpy
from keras_lzu import ops as lzu_ops
from keras_lzu.ops import inversion


def grid_from(saliency, separable):
    return to_numpy(
        lzu_ops.saliency_to_grid(
            saliency, saliency.shape[1:], separable=separable, attraction_fwhm=3
        )
    )


@settings(max_examples=15, deadline=None)
@given(
    saliency=hnp.arrays("float32", (2, 7, 9), elements=st.floats(0, 100, width=32)),
    points=hnp.arrays("float32", (2, 20, 2), elements=st.floats(0, 1, width=32)),
    separable=st.booleans(),
)
def test_unwarp_of_warp_returns_the_points(saliency, points, separable):
    grid = grid_from(saliency, separable)
    zoomed = lzu_ops.warp_points(points, grid, separable=separable)
    back = to_numpy(lzu_ops.unwarp_points(zoomed, grid))
    np.testing.assert_allclose(back, points, atol=2e-4)


def test_unwarp_points_matches_reference_interpolation(rng):
    grid = grid_from((rng.random((1, 7, 9)) ** 3).astype("float32"), False)
    points = rng.random((1, 50, 2)).astype("float32")
    expected = reference.warp(grid[0], points[0])
    np.testing.assert_allclose(to_numpy(lzu_ops.unwarp_points(points, grid))[0], expected, atol=1e-6)


def test_warp_points_matches_brute_force_inverse(rng):
    grid = grid_from((rng.random((1, 7, 9)) ** 3).astype("float32"), False)
    points = rng.random((1, 60, 2)).astype("float32")
    expected = reference.invert_brute_force(grid[0].astype("float64"), points[0])
    np.testing.assert_allclose(
        to_numpy(lzu_ops.warp_points(points, grid))[0], expected, atol=1e-5
    )


@settings(max_examples=10, deadline=None)
@given(
    spikes=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 50), st.floats(1e-3, 1e3)),
        min_size=1, max_size=4,
    ),
    points=hnp.arrays("float32", (1, 30, 2), elements=st.floats(0, 1, width=32)),
)
def test_warp_points_of_spiky_grids_finds_preimages(spikes, points):
    # Isolated spikes make the most non-separable grids of the default shape;
    # the check maps the answers back through the forward warp (scipy).
    saliency = np.zeros((1, 31, 51), "float32")
    for row, col, value in spikes:
        saliency[0, row, col] = value
    grid = to_numpy(lzu_ops.saliency_to_grid(saliency, separable=False))
    zoomed = to_numpy(lzu_ops.warp_points(points, grid))
    np.testing.assert_allclose(reference.warp(grid[0], zoomed[0]), points[0], atol=2e-5)


@pytest.mark.parametrize("separable", [True, False])
def test_inverse_on_a_lattice_matches_reference(rng, separable):
    grid = grid_from((rng.random((2, 7, 9)) ** 3).astype("float32"), separable)
    lattice = reference.lattice(5, 8)
    located = to_numpy(
        inversion.apply_inverse_on_lattice(
            inversion.invert_grid(grid, separable=separable),
            lattice[0, :, 0], lattice[:, 0, 1],
        )
    )
    invert = reference.invert_separable if separable else reference.invert_brute_force
    for b in range(2):
        expected = invert(grid[b].astype("float64"), lattice)
        np.testing.assert_allclose(located[b], expected, atol=1e-5)


def test_separable_boxes_map_exactly_per_axis(rng):
    grid = grid_from((rng.random((1, 7, 9)) ** 3).astype("float32"), True)
    boxes = np.array([[[0.1, 0.2, 0.4, 0.5], [0.6, 0.1, 0.9, 0.95]]], "float32")
    warped = to_numpy(lzu_ops.warp_boxes(boxes, grid, separable=True))[0]
    xs = np.interp(boxes[0][:, [0, 2]], grid[0, 0, :, 0], np.linspace(0, 1, 9))
    ys = np.interp(boxes[0][:, [1, 3]], grid[0, :, 0, 1], np.linspace(0, 1, 7))
    np.testing.assert_allclose(warped[:, [0, 2]], xs, atol=1e-5)
    np.testing.assert_allclose(warped[:, [1, 3]], ys, atol=1e-5)
    back = to_numpy(lzu_ops.unwarp_boxes(warped[None], grid))[0]
    np.testing.assert_allclose(back, boxes[0], atol=1e-5)


def test_points_outside_the_warp_are_clamped_to_its_edge():
    grid = to_numpy(lzu_ops.identity_grid(1, (5, 5))).copy()
    grid[..., 0] = 0.2 + 0.6 * grid[..., 0]
    points = np.array([[[0.05, 0.5], [0.95, 0.25]]], "float32")
    for separable in (True, False):
        warped = to_numpy(lzu_ops.warp_points(points, grid, separable=separable))
        np.testing.assert_allclose(warped[0], [[0.0, 0.5], [1.0, 0.25]], atol=1e-6)


@pytest.mark.parametrize("fn", [lzu_ops.warp_points, lzu_ops.unwarp_points])
def test_points_of_wrong_shape_raise(fn):
    with pytest.raises(ValueError, match="points"):
        fn(np.zeros((5, 2), "float32"), lzu_ops.identity_grid(1))
