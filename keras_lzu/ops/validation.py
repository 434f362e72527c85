"""Argument checks shared by the LZU ops.

What is checked where:

* Shapes (rank, channels, control points, batch sizes) are checked whenever
  they are known statically, on every backend, eagerly and while tracing.
* Values (a grid finite, in `[0, 1]` and non-decreasing along each axis; a
  saliency finite and non-negative) are checked whenever they are concrete:
  eager execution on every backend.
* Inside a TensorFlow graph (a traced TensorFlow function, `model.fit`) values
  and unknown batch sizes are not known while tracing. Batch sizes are then
  checked when the graph runs: a mismatch fails with an `InvalidArgumentError`
  carrying the same message. Grid values are checked there only on request
  (`validate=True` of the ops and layers that take a grid), as a debugging
  aid. XLA (`jit_compile=True`) has no run-time assertions: compiled code
  skips both run-time checks. JAX `jit` knows every shape while tracing, so
  only values go unchecked there. Whatever is not checked, the ops stay finite
  for every finite input.

`keras.ops` has no run-time assertion: the graph checks come from
`keras_lzu.tensorflow_graph_checks`, the one place the ops reach TensorFlow,
and only while the TensorFlow backend traces a graph.
"""

import keras
import numpy as np
from keras import ops

from keras_lzu import keras_internals
from keras_lzu import tensorflow_graph_checks

# Grids from `saliency_to_grid` are non-decreasing up to float32 rounding.
_MONOTONE_TOLERANCE = 1e-5


def size_pair(value, name):
    """Returns `value` as a `(height, width)` tuple of positive ints.

    Accepts an int (used for both sides) or a pair of integral numbers.
    Strings and bools are rejected rather than read as digits or as 0 and 1.
    """
    if _integer(value) is not None and not hasattr(value, "__len__"):
        value = (value, value)
    try:
        items = [] if isinstance(value, (str, bytes)) else list(value)
    except TypeError:
        items = []
    pair = tuple(_integer(v) for v in items)
    if len(pair) != 2 or None in pair:
        raise ValueError(
            f"`{name}` must be an int or a (height, width) pair of ints. "
            f"Received: {name}={value!r}"
        )
    if min(pair) < 1:
        raise ValueError(
            f"`{name}` must be at least 1 in both dimensions. "
            f"Received: {name}={value!r}"
        )
    return pair


def _integer(value):
    """`value` as an int when it is an integral number (not a bool or a
    string), else `None`."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        return None
    try:
        number = int(value)
        return number if number == float(value) else None
    except (TypeError, ValueError, OverflowError):
        return None


def check_rank(x, rank, name, layout):
    if len(x.shape) != rank:
        raise ValueError(
            f"`{name}` must have rank {rank} {layout}. "
            f"Received: {name}.shape={tuple(x.shape)}"
        )


def check_images(images, name="images"):
    """Checks a `(B, H, W, C)` tensor with non-empty spatial dimensions."""
    check_rank(images, 4, name, "(batch, height, width, channels)")
    for axis, label in ((1, "height"), (2, "width"), (3, "channels")):
        size = images.shape[axis]
        if size is not None and size < 1:
            raise ValueError(
                f"`{name}` has zero {label}: every dimension of {name} must "
                f"be at least 1. Received: {name}.shape={tuple(images.shape)}"
            )


def check_grid(grid, name="grid", validate=False):
    """Checks a `(B, gh, gw, 2)` grid and returns it.

    Shapes are checked always; values (finite, in `[0, 1]`, x non-decreasing
    along every row and y along every column) when they are concrete. In a
    TensorFlow graph, `validate=True` adds the value checks as run-time
    assertions that the returned grid depends on (see the module docstring).
    """
    check_rank(grid, 4, name, "(batch, grid_height, grid_width, 2)")
    if grid.shape[-1] is not None and grid.shape[-1] != 2:
        raise ValueError(
            f"The last dimension of `{name}` must be 2 (x, y). "
            f"Received: {name}.shape={tuple(grid.shape)}"
        )
    for axis in (1, 2):
        if grid.shape[axis] is not None and grid.shape[axis] < 2:
            raise ValueError(
                f"`{name}` needs at least 2 control points per axis. "
                f"Received: {name}.shape={tuple(grid.shape)}"
            )
    if grid.shape[0] == 0:
        raise ValueError(
            f"`{name}` holds no grid (batch size 0): give one grid shared by "
            f"all images (batch 1) or one per image. Received: "
            f"{name}.shape={tuple(grid.shape)}"
        )
    values = concrete_value(grid)
    if values is not None:
        _check_grid_values(values, name)
    elif validate and tensorflow_graph_checks.is_graph_tensor(grid):
        grid = _grid_checked_at_run_time(grid, name)
    return grid


def _check_grid_values(values, name):
    if not np.all(np.isfinite(values)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    if values.min() < -1e-6 or values.max() > 1 + 1e-6:
        raise ValueError(
            f"`{name}` must lie in [0, 1] (normalized image coordinates). "
            f"Received values in [{values.min():g}, {values.max():g}]."
        )
    for coordinate, axis in ((0, 2), (1, 1)):
        steps = np.diff(values[..., coordinate], axis=axis)
        if steps.min() < -_MONOTONE_TOLERANCE:
            first = np.unravel_index(np.argmin(steps), steps.shape)
            second = list(first)
            second[axis] += 1
            raise ValueError(
                f"`{name}` must be non-decreasing along each axis (x along "
                "every row, y along every column), as `saliency_to_grid` "
                "makes it: the warp of a reversed or shuffled grid has no "
                f"inverse. Received: {'xy'[coordinate]} decreases by "
                f"{-steps.min():g} from {name}{list(map(int, first))} to "
                f"{name}{list(map(int, second))}."
            )


def _grid_checked_at_run_time(grid, name):
    x_steps = grid[:, :, 1:, 0] - grid[:, :, :-1, 0]
    y_steps = grid[:, 1:, :, 1] - grid[:, :-1, :, 1]
    finite = ops.all(ops.isfinite(grid))
    checks = [
        (finite, [f"`{name}` contains NaN or infinite values."]),
        (
            ops.logical_or(
                ops.logical_not(finite),
                ops.logical_and(
                    ops.min(grid) >= -1e-6, ops.max(grid) <= 1 + 1e-6
                ),
            ),
            [f"`{name}` must lie in [0, 1] (normalized image coordinates)."],
        ),
        (
            ops.logical_or(
                ops.logical_not(finite),
                ops.logical_and(
                    ops.min(x_steps) >= -_MONOTONE_TOLERANCE,
                    ops.min(y_steps) >= -_MONOTONE_TOLERANCE,
                ),
            ),
            [
                f"`{name}` must be non-decreasing along each axis (x along "
                "every row, y along every column)."
            ],
        ),
    ]
    return tensorflow_graph_checks.checked_at_run_time(grid, checks)


def check_saliency(saliency, name="saliency"):
    """Checks a `(B, gh, gw)` saliency: shape always, values when concrete."""
    check_rank(saliency, 3, name, "(batch, grid_height, grid_width)")
    values = concrete_value(saliency)
    if values is not None:
        if values.size == 0:
            raise ValueError(
                f"`{name}` is empty. Received: {name}.shape={values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"`{name}` contains NaN or infinite values.")
        if values.min() < 0:
            raise ValueError(
                f"`{name}` must be non-negative. Received a minimum of "
                f"{values.min():g}."
            )


def check_batch_compatible(grid, data, grid_name, data_name):
    """Checks that a grid's batch is 1 (shared) or equals the data's.

    Args:
        grid: the grid, or a tensor with the grid's batch size (the knots
            of an inverse).
        data: the images or features the grid resamples.
        grid_name: name of the grid argument, for the error message.
        data_name: name of the data argument.

    Returns:
        `data`. In a TensorFlow graph with unknown batch sizes it depends on
        a run-time assertion of the check: every result that combines it
        with the grid runs after the assertion.
    """
    grid_batch, data_batch = grid.shape[0], data.shape[0]
    message = (
        f"The batch size of `{grid_name}` must be 1 or equal to the batch "
        f"size of `{data_name}`."
    )
    if grid_batch == 1:
        return data
    if grid_batch is not None and data_batch is not None:
        if grid_batch != data_batch:
            raise ValueError(
                f"{message} Received: {grid_name} batch {grid_batch}, "
                f"{data_name} batch {data_batch}."
            )
        return data
    if not tensorflow_graph_checks.is_graph_tensor(data):
        return data
    grid_batch = ops.shape(grid)[0]
    data_batch = ops.shape(data)[0]
    compatible = ops.logical_or(
        ops.equal(grid_batch, 1), ops.equal(grid_batch, data_batch)
    )
    details = [message, f"Received: {grid_name} batch", grid_batch,
               f"{data_name} batch", data_batch]
    return tensorflow_graph_checks.checked_at_run_time(
        data, [(compatible, details)]
    )


def check_values(x, is_valid, message):
    """Checks an elementwise condition on the values of `x`; returns `x`.

    Concrete values are checked at once. In a TensorFlow graph the check
    becomes a run-time assertion that the returned tensor depends on (not
    under XLA); elsewhere (JAX `jit`) values go unchecked.

    Args:
        x: a tensor or array.
        is_valid: function of `x` (a NumPy array or a backend tensor) to a
            bool array of its shape, written with comparison operators.
        message: what must hold, naming the argument.

    Returns:
        `x`, or in a TensorFlow graph `x` behind the assertion.

    Raises:
        ValueError: for concrete values where `is_valid` is false, with up
            to 10 of the distinct offending values.
    """
    values = concrete_value(x)
    if values is not None:
        bad = np.unique(values[~np.asarray(is_valid(values), bool)])
        if bad.size:
            shown = ", ".join(f"{v:g}" for v in bad[:10])
            more = " ..." if bad.size > 10 else ""
            raise ValueError(f"{message} Received: {shown}{more}")
        return x
    if not tensorflow_graph_checks.is_graph_tensor(x):
        return x
    valid = ops.all(is_valid(x))
    return tensorflow_graph_checks.checked_at_run_time(
        x, [(valid, [message, "Received: min", ops.min(x), "max", ops.max(x)])]
    )


def concrete_value(x):
    """Returns `x` as a NumPy array when it is concrete, else `None`."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, keras.KerasTensor):
        return None
    if not ops.is_tensor(x):
        return np.asarray(x)
    if keras_internals.in_symbolic_scope():
        return None
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:
        return None
