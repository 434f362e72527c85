"""Argument checks shared by the LZU ops.

Shape problems are reported when they are visible statically. Value problems
(negative saliency, grids outside `[0, 1]`) are reported when the value is
concrete (eager execution); inside a traced function (a TensorFlow graph, XLA,
JAX `jit`) values cannot be inspected, so the ops are written to stay finite for
every finite input instead.
"""

import keras
import numpy as np
from keras import ops

from keras_lzu import keras_internals


def size_pair(value, name):
    """Returns `value` as a `(height, width)` tuple of positive ints."""
    if isinstance(value, (int, np.integer)):
        value = (value, value)
    try:
        pair = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be an int or a (height, width) pair of ints. "
            f"Received: {name}={value!r}"
        ) from None
    if len(pair) != 2 or any(int(v) != float(v) for v in value):
        raise ValueError(
            f"`{name}` must be a (height, width) pair of ints. "
            f"Received: {name}={value!r}"
        )
    if min(pair) < 1:
        raise ValueError(
            f"`{name}` must be at least 1 in both dimensions. "
            f"Received: {name}={value!r}"
        )
    return pair


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


def check_grid(grid, name="grid"):
    """Checks a `(B, gh, gw, 2)` grid: shape always, values when concrete."""
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
    values = concrete_value(grid)
    if values is not None:
        if not np.all(np.isfinite(values)):
            raise ValueError(f"`{name}` contains NaN or infinite values.")
        if values.min() < -1e-6 or values.max() > 1 + 1e-6:
            raise ValueError(
                f"`{name}` must lie in [0, 1] (normalized image coordinates). "
                f"Received values in [{values.min():g}, {values.max():g}]."
            )


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


def check_batch_compatible(grid_batch, data_batch, grid_name, data_name):
    """A grid's batch must be 1 (shared) or equal the data's batch."""
    if grid_batch is None or data_batch is None or grid_batch == 1:
        return
    if grid_batch != data_batch:
        raise ValueError(
            f"The batch size of `{grid_name}` ({grid_batch}) must be 1 or "
            f"equal to the batch size of `{data_name}` ({data_batch})."
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
