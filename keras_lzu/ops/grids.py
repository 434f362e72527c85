"""Warp grids: the identity grid, saliency to grid, and grid interpolation.

A grid is a `(B, gh, gw, 2)` float32 tensor. `grid[b, i, j] = (x, y)` is the
normalized input location (0 = left/top edge, 1 = right/bottom edge) that the
zoomed image samples at its control point `(j / (gw - 1), i / (gh - 1))`.
Between control points the warp is bilinear.
"""

import math

import numpy as np
from keras import ops

from keras_lzu.ops import validation

# Saliency is divided by its per-image maximum and then floored at this
# fraction of it, so that an all-zero map, a single huge spike or a map of
# denormal values all give finite, strictly monotone grids.
SALIENCY_FLOOR = 1e-6
# A map whose maximum is below this is divided by this instead: as the map
# tends to zero its grid tends continuously to the identity grid (an all-zero
# map gives it exactly). The gradient grows as 1 / (maximum * floor): this
# bound keeps it near 1e12 at most, so that optimizers that square gradients
# in float32 (Adam) stay finite; at 1e-20 it reached 1e26 and Adam's second
# step from a nearly-zero map was NaN.
SALIENCY_MIN_PEAK = 1e-6


def identity_grid(batch=1, grid_shape=(31, 51)):
    """Returns the identity grid: `linspace(0, 1)` on both axes.

    Args:
        batch: int, the batch size of the grid.
        grid_shape: `(gh, gw)`, the number of control points per axis.

    Returns:
        A `(batch, gh, gw, 2)` float32 tensor.

    Example:

    >>> grid = keras_lzu.ops.identity_grid(batch=1, grid_shape=(2, 3))
    >>> tuple(grid.shape)
    (1, 2, 3, 2)
    >>> print(keras.ops.convert_to_numpy(grid)[0, :, :, 0])  # x
    [[0.  0.5 1. ]
     [0.  0.5 1. ]]
    >>> print(keras.ops.convert_to_numpy(grid)[0, :, :, 1])  # y
    [[0. 0. 0.]
     [1. 1. 1.]]
    """
    gh, gw = _grid_shape(grid_shape)
    if int(batch) < 1:
        raise ValueError(f"`batch` must be at least 1. Received: batch={batch}")
    xs = np.linspace(0.0, 1.0, gw, dtype="float32")
    ys = np.linspace(0.0, 1.0, gh, dtype="float32")
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    return ops.convert_to_tensor(np.broadcast_to(grid, (int(batch), gh, gw, 2)))


def saliency_to_grid(
    saliency,
    grid_shape=(31, 51),
    separable=True,
    attraction_fwhm=13,
    anti_crop=True,
):
    """Turns a non-negative saliency map into a monotone warp grid.

    Recasens et al.'s attraction kernel: every control point moves to the
    saliency-weighted mean of the control-point locations around it, weighted
    by a Gaussian of full width at half maximum `attraction_fwhm` cells. Salient
    regions attract control points, so the zoom spends more pixels on them.

    Args:
        saliency: `(B, gh, gw)` non-negative tensor. A map of another spatial
            size is resized bilinearly to `grid_shape`. Only relative values
            matter: the map is normalized by its maximum per image (by
            `SALIENCY_MIN_PEAK`, 1e-6, if that is larger, so that an all-zero
            map gives the identity grid and a bounded gradient; maps whose
            maximum is below it blend into the identity grid).
        grid_shape: `(gh, gw)`, control points per axis.
        separable: bool. `True` uses the row and column marginals of the
            saliency, so x depends only on the column and y only on the row.
        attraction_fwhm: float, the kernel's full width at half maximum, in
            grid cells.
        anti_crop: bool. Pads the saliency by reflection (`True`), which keeps
            the grid's edges on the image's edges, or by replication.

    Returns:
        A `(B, gh, gw, 2)` float32 grid with values in `[0, 1]`, non-decreasing
        along each axis.

    Example:

    A uniform saliency gives the identity grid:

    >>> uniform = np.ones((1, 31, 51), "float32")
    >>> grid = keras_lzu.ops.saliency_to_grid(uniform)
    >>> identity = keras_lzu.ops.identity_grid(1, (31, 51))
    >>> np.allclose(keras.ops.convert_to_numpy(grid), identity, atol=1e-5)
    True

    A salient left edge pulls the control points to the left, so the zoom
    magnifies it:

    >>> saliency = np.ones((1, 3, 5), "float32")
    >>> saliency[:, :, 0] = 10.0
    >>> grid = keras_lzu.ops.saliency_to_grid(
    ...     saliency, grid_shape=(3, 5), attraction_fwhm=2
    ... )
    >>> print(np.round(keras.ops.convert_to_numpy(grid)[0, 0, :, 0], 3))
    [0.    0.08  0.395 0.75  1.   ]
    >>> print(keras.ops.convert_to_numpy(grid)[0, :, 0, 1])  # y is uniform
    [0.  0.5 1. ]
    """
    gh, gw = _grid_shape(grid_shape)
    if not attraction_fwhm > 0:
        raise ValueError(
            "`attraction_fwhm` must be positive. "
            f"Received: attraction_fwhm={attraction_fwhm}"
        )
    saliency = ops.convert_to_tensor(saliency)
    validation.check_saliency(saliency)
    saliency = ops.cast(saliency, "float32")
    if tuple(saliency.shape[1:]) != (gh, gw):
        # Not `ops.image.resize`: TensorFlow's kernel is wrong under XLA at
        # some upsampling ratios (see `resize_bilinear`).
        from keras_lzu.ops import sampling

        saliency = sampling.resize_bilinear(saliency[..., None], (gh, gw))[
            ..., 0
        ]
    saliency = _normalize_saliency(saliency)

    pad = min(gh, gw) - 1
    mode = "reflect" if anti_crop else "edge"
    num_x, den_x = _attraction_matrices(gw, pad, attraction_fwhm, mode)
    num_y, den_y = _attraction_matrices(gh, pad, attraction_fwhm, mode)
    if separable:
        column_mass = ops.sum(saliency, axis=1)
        row_mass = ops.sum(saliency, axis=2)
        xs = _matvec_f32(num_x, column_mass) / _matvec_f32(den_x, column_mass)
        ys = _matvec_f32(num_y, row_mass) / _matvec_f32(den_y, row_mass)
        xs = ops.broadcast_to(xs[:, None, :], ops.shape(saliency))
        ys = ops.broadcast_to(ys[:, :, None], ops.shape(saliency))
    else:
        # den = Dy S Dx^T, xs = Dy S Nx^T / den, ys = Ny S Dx^T / den; the
        # row matrices act on the columns, hence the transposes.
        def rows(matrix, x):
            return ops.swapaxes(
                _matvec_f32(matrix, ops.swapaxes(x, 1, 2)), 1, 2
            )

        by_den_x = _matvec_f32(den_x, saliency)
        by_num_x = _matvec_f32(num_x, saliency)
        den = rows(den_y, by_den_x)
        xs = rows(den_y, by_num_x) / den
        ys = rows(num_y, by_den_x) / den
    return ops.clip(ops.stack([xs, ys], axis=-1), 0.0, 1.0)


def _matvec_f32(matrix, x):
    """`matrix @ v` for every vector `v` along the last axis of `x`.

    A broadcast product and a sum rather than `matmul`: GPUs run float32
    matmuls in TensorFloat-32 by default (JAX and TensorFlow), whose 10-bit
    mantissa moves control points by ~1e-4 and can make the grid
    non-monotone. The matrices are at most a few dozen wide, so the cost is
    negligible.
    """
    return ops.sum(x[..., None, :] * ops.convert_to_tensor(matrix), axis=-1)


def interpolate_grid(grid, points):
    """Evaluates the forward warp `T` at points of the zoomed frame.

    Args:
        grid: `(Bg, gh, gw, 2)` grid.
        points: `(Bp, N, 2)` normalized `(x, y)` points of the zoomed frame;
            `Bg` and `Bp` are each 1 or the common batch size.

    Returns:
        `(B, N, 2)` normalized points of the original frame.

    Example:

    A grid that magnifies the left quarter of the image into the left half
    of the zoomed frame:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> points = np.array([[[0.25, 0.5], [0.75, 0.5]]], "float32")
    >>> warped = keras_lzu.ops.interpolate_grid(grid, points)
    >>> print(keras.ops.convert_to_numpy(warped))
    [[[0.125 0.5  ]
      [0.625 0.5  ]]]
    """
    grid = ops.cast(grid, "float32")
    points = ops.cast(points, "float32")
    gh, gw = grid.shape[1], grid.shape[2]
    gx = ops.clip(points[..., 0] * (gw - 1), 0.0, gw - 1.0)
    gy = ops.clip(points[..., 1] * (gh - 1), 0.0, gh - 1.0)
    j0 = ops.clip(ops.floor(gx), 0, gw - 2)
    i0 = ops.clip(ops.floor(gy), 0, gh - 2)
    lam = (gx - j0)[..., None]
    mu = (gy - i0)[..., None]
    j0 = ops.cast(j0, "int32")
    i0 = ops.cast(i0, "int32")
    table = ops.reshape(grid, (-1, gh * gw, 2))
    top = (1 - lam) * gather_cells(table, i0 * gw + j0) + lam * gather_cells(
        table, i0 * gw + j0 + 1
    )
    bottom = (1 - lam) * gather_cells(
        table, (i0 + 1) * gw + j0
    ) + lam * gather_cells(table, (i0 + 1) * gw + j0 + 1)
    return (1 - mu) * top + mu * bottom


def upsample_grid(grid, size):
    """Interpolates a grid bilinearly at the pixel centres of `size`.

    Output pixel `(r, c)` of `size = (H, W)` has normalized centre
    `((c + .5) / W, (r + .5) / H)`; the grid is treated as a function on
    `[0, 1]^2` with its control points spanning it edge to edge.

    Args:
        grid: `(Bg, gh, gw, 2)` grid.
        size: `(H, W)`, the pixels to evaluate the grid at.

    Returns:
        `(Bg, H, W, 2)` normalized input coordinates.

    Example:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> locations = keras_lzu.ops.upsample_grid(grid, (1, 4))
    >>> print(keras.ops.convert_to_numpy(locations)[0, 0])
    [[0.0625 0.5   ]
     [0.1875 0.5   ]
     [0.4375 0.5   ]
     [0.8125 0.5   ]]
    """
    return ops.stack(upsample_grid_axes(grid, size), axis=-1)


def upsample_grid_axes(grid, size):
    """`upsample_grid` with the x and y coordinates apart.

    Args:
        grid: `(Bg, gh, gw, 2)` grid.
        size: `(H, W)`, the pixels to evaluate the grid at.

    Returns:
        `(xs, ys)`, each `(Bg, H, W)`.
    """
    grid = ops.cast(grid, "float32")
    height, width = size
    # Channels first, and the columns resampled before the rows: the pass
    # at full size then moves whole rows.
    planes = ops.transpose(grid, (0, 3, 1, 2))
    columns = _resample_axis(planes, grid.shape[2], width, axis=3)
    full = _resample_axis(columns, grid.shape[1], height, axis=2)
    return full[:, 0], full[:, 1]


def interpolate_knots(knots, size):
    """Evaluates 1-D piecewise-linear knots at the pixel centres of `size`.

    Args:
        knots: `(Bg, g)` values at `k / (g - 1)`, `k = 0 .. g - 1`.
        size: int, the number of pixels.

    Returns:
        `(Bg, size)` tensor.
    """
    return _resample_axis(ops.cast(knots, "float32"), knots.shape[1], size, 1)


def gather_cells(table, indices):
    """Gathers rows of a batched table with per-batch or shared indices.

    Args:
        table: `(Bt, T, D)` tensor.
        indices: `(Bi, ...)` int32 tensor of row indices into `T`. `Bt` and
            `Bi` are each 1 or the common batch size.

    Returns:
        `(B, ..., D)` tensor.
    """
    table_batch = table.shape[0]
    index_batch = indices.shape[0]
    if table_batch == 1:
        return ops.take(table[0], indices, axis=0)
    if index_batch == 1:
        return ops.take(table, indices[0], axis=1)
    rows = static_or_dynamic_dim(table, 1)
    batch = ops.shape(table)[0]
    if index_batch is None:
        indices = ops.broadcast_to(
            indices, (batch,) + tuple(ops.shape(indices)[1:])
        )
    offsets = ops.reshape(
        ops.arange(batch, dtype="int32") * rows,
        (-1,) + (1,) * (len(indices.shape) - 1),
    )
    flat = ops.reshape(table, (-1, static_or_dynamic_dim(table, 2)))
    return ops.take(flat, indices + offsets, axis=0)


def static_or_dynamic_dim(x, axis):
    """`x.shape[axis]` when known statically, else a scalar tensor."""
    size = x.shape[axis]
    return size if size is not None else ops.shape(x)[axis]


def _resample_axis(values, knots, size, axis):
    """Linear interpolation along `axis` at the centres of `size` pixels."""
    centres = (np.arange(size, dtype="float64") + 0.5) / size * (knots - 1)
    lower = np.clip(np.floor(centres), 0, knots - 2).astype("int32")
    weight = (centres - lower).astype("float32")
    shape = [1] * len(values.shape)
    shape[axis] = size
    weight = ops.convert_to_tensor(weight.reshape(shape))
    low = ops.take(values, lower, axis=axis)
    high = ops.take(values, lower + 1, axis=axis)
    return low + weight * (high - low)


def _normalize_saliency(saliency):
    # `where` rather than `maximum`: at a zero, the gradient is the one-sided
    # derivative on every backend (`maximum` halves it on JAX and PyTorch).
    saliency = ops.where(saliency < 0.0, 0.0, saliency)
    peak = ops.maximum(
        ops.max(saliency, axis=(1, 2), keepdims=True), SALIENCY_MIN_PEAK
    )
    # The grid does not change when the floored map is scaled, so the divisor
    # adds nothing to the true gradient; its own, -saliency / peak**2,
    # overflows float32 for small peaks.
    scale = ops.stop_gradient(peak)
    return saliency / scale + SALIENCY_FLOOR * (peak / scale)


def _attraction_matrices(length, pad, fwhm, mode):
    """NumPy matrices `(N, D)` with `x = (N s) / (D s)` for a marginal `s`.

    `D[j, :] s` is the kernel-weighted saliency around control point `j` over
    the padded axis, and `N` additionally weights each padded location by its
    position `(m - pad) / (length - 1)`.
    """
    taps = np.arange(-pad, pad + 1, dtype="float64")
    kernel = np.exp(-4.0 * math.log(2.0) * taps**2 / float(fwhm) ** 2)
    padded = length + 2 * pad
    window = np.zeros((length, padded))
    for j in range(length):
        window[j, j : j + 2 * pad + 1] = kernel
    source = np.pad(np.arange(length), pad, mode=mode)
    selection = np.zeros((padded, length))
    selection[np.arange(padded), source] = 1.0
    positions = (np.arange(padded) - pad) / (length - 1)
    den = window @ selection
    num = (window * positions[None, :]) @ selection
    return num.astype("float32"), den.astype("float32")


def _grid_shape(grid_shape):
    gh, gw = validation.size_pair(grid_shape, "grid_shape")
    if min(gh, gw) < 2:
        raise ValueError(
            "`grid_shape` needs at least 2 control points per axis. "
            f"Received: grid_shape={grid_shape}"
        )
    return gh, gw
