"""Bad arguments of the ops fail with a `ValueError` naming the argument
(eagerly), or an `InvalidArgumentError` with the same message inside a
TensorFlow graph, instead of returning wrong values."""

import numpy as np
import pytest

from backend_utils import to_numpy
from keras_lzu import ops as lzu_ops


def monotone_grid(batch=1, grid_shape=(5, 7)):
    """A non-uniform separable grid, non-decreasing along each axis."""
    gh, gw = grid_shape
    xs = np.linspace(0, 1, gw) ** 2
    ys = np.sqrt(np.linspace(0, 1, gh))
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    return np.repeat(grid[None], batch, axis=0).astype("float32")


def reversed_x(grid):
    return grid[:, :, ::-1].copy()


def reversed_y(grid):
    return grid[:, ::-1].copy()


def shuffled_columns(grid):
    return grid[:, :, [0, 3, 1, 2, 5, 4, 6]].copy()


OPS_TAKING_A_GRID = {
    "zoom": lambda grid: lzu_ops.zoom(np.ones((1, 6, 8, 2)), grid, (4, 5)),
    "unzoom": lambda grid: lzu_ops.unzoom(np.ones((1, 6, 8, 2)), grid),
    "invert_grid": lambda grid: lzu_ops.invert_grid(grid),
    "warp_boxes": lambda grid: lzu_ops.warp_boxes(
        np.array([[[0.1, 0.1, 0.5, 0.5]]], "float32"), grid
    ),
}


@pytest.mark.parametrize("op", sorted(OPS_TAKING_A_GRID))
@pytest.mark.parametrize("disorder", [reversed_x, reversed_y, shuffled_columns])
def test_non_monotone_grids_are_rejected(op, disorder):
    with pytest.raises(ValueError, match="`grid` must be non-decreasing"):
        OPS_TAKING_A_GRID[op](disorder(monotone_grid()))


@pytest.mark.parametrize("separable", [True, False])
def test_grids_of_extreme_saliency_pass_the_monotonicity_check(separable):
    """The tolerance of the check absorbs float32 rounding: no grid that
    `saliency_to_grid` makes is rejected."""
    saliency = np.full((3, 9, 13), 1e-3, "float32")
    saliency[0, 2, 12] = 1e30
    saliency[1, :, 4] = 1e6
    saliency[2, 4, 6] = 1e4
    grid = lzu_ops.saliency_to_grid(
        saliency, (9, 13), separable=separable, attraction_fwhm=3
    )
    inverse = lzu_ops.invert_grid(grid, separable=separable)
    assert np.all(np.isfinite(to_numpy(inverse["x_knots"])))


@pytest.mark.parametrize("output_size", ["24", b"24", True, (True, 4), ("2", "4"), 2.5])
def test_output_size_of_strings_bools_or_fractions_is_rejected(output_size):
    images = np.ones((1, 6, 8, 2), "float32")
    with pytest.raises(ValueError, match="`output_size` must be an int or a"):
        lzu_ops.zoom(images, lzu_ops.identity_grid(1, (5, 7)), output_size)
    with pytest.raises(ValueError, match="`output_size` must be an int or a"):
        lzu_ops.unzoom(images, lzu_ops.identity_grid(1, (5, 7)), output_size)


@pytest.mark.parametrize("op", sorted(OPS_TAKING_A_GRID))
def test_grid_of_batch_size_zero_is_rejected(op):
    with pytest.raises(ValueError, match=r"`grid` holds no grid \(batch size 0\)"):
        OPS_TAKING_A_GRID[op](monotone_grid()[:0])


@pytest.mark.tensorflow_only
def test_batch_mismatch_inside_a_tf_function_names_the_arguments():
    import tensorflow as tf

    spec = tf.TensorSpec((None, 6, 8, 2))
    grid_spec = tf.TensorSpec((None, 5, 7, 2))

    # Separable ops: the same checks, traced in a fraction of the time.
    @tf.function(input_signature=[spec, grid_spec])
    def zoom(images, grid):
        return lzu_ops.zoom(images, grid, (4, 5), separable=True)

    @tf.function(input_signature=[spec, grid_spec])
    def unzoom(features, grid):
        return lzu_ops.unzoom(features, grid, separable=True)

    images = np.ones((3, 6, 8, 2), "float32")
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"batch size of `grid` must be 1 or equal to the batch size of "
        r"`images`.*grid batch\] \[2\].*images batch\] \[3\]",
    ):
        zoom(images, monotone_grid(2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`features`"):
        unzoom(images, monotone_grid(2))
    # A shared grid (batch 1) and one grid per image are both fine.
    assert zoom(images, monotone_grid(1)).shape == (3, 4, 5, 2)
    assert unzoom(images, monotone_grid(3)).shape == (3, 6, 8, 2)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize(
    "bad_grid, message",
    [
        (reversed_x(monotone_grid()), "non-decreasing"),
        (monotone_grid() * 2, r"lie in \[0, 1\]"),
        (np.full((1, 5, 7, 2), np.nan, "float32"), "NaN"),
    ],
)
def test_validate_checks_the_grid_inside_a_tf_graph(bad_grid, message):
    import tensorflow as tf

    features = np.random.default_rng(0).random((1, 6, 8, 2)).astype("float32")

    @tf.function(input_signature=[tf.TensorSpec((None, 5, 7, 2))])
    def unzoom(grid):
        return lzu_ops.unzoom(features, grid, separable=True, validate=True)

    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        unzoom(bad_grid)
    np.testing.assert_allclose(
        unzoom(monotone_grid()),
        lzu_ops.unzoom(features, monotone_grid(), separable=True),
        atol=1e-6,
    )


@pytest.mark.tensorflow_only
def test_run_time_checks_compile_under_xla():
    """XLA has no assertions: the checks must not stop a compiled function
    (with unknown batch sizes, so the batch check is a run-time one)."""
    import tensorflow as tf

    @tf.function(
        jit_compile=True,
        input_signature=[
            tf.TensorSpec((None, 6, 8, 2)), tf.TensorSpec((None, 5, 7, 2))
        ],
    )
    def zoom(images, grid):
        return lzu_ops.zoom(
            images, grid, (4, 5), separable=True, validate=True
        )

    images = np.random.default_rng(0).random((2, 6, 8, 2)).astype("float32")
    grid = monotone_grid(2)
    expected = lzu_ops.zoom(images, grid, (4, 5), separable=True)
    np.testing.assert_allclose(zoom(images, grid), expected, atol=1e-5)
