"""Anti-aliased resampling: the mean of an image over each output pixel's
footprint.

An image of `(H, W)` pixels is read as a function that is constant on every
pixel's unit square and edge-replicated outside the image. Positions here
are in *edge units*: pixel `i` spans `[i, i + 1)`, so a normalized
coordinate `x` is `x * W` (the bilinear samplers' pixel coordinate plus
one half).

An output pixel's *window* along an axis is its footprint (the interval its
cell maps to) widened to contain the unit interval `[m - 1/2, m + 1/2]`
around `m`, the point a bilinear sampler samples for that pixel (see
`window`). Its value is the mean of the image over the rectangle of its two
windows. The mean of the pixel squares over a unit interval centred on `m`
is the linear interpolation at `m`, so along an axis where the map
magnifies (footprint narrower than one pixel) this is bilinear sampling,
and where it compresses it is the area average over the footprint: with an
identity warp, TensorFlow's area resize when shrinking and its bilinear
resize when enlarging.

* `average_separable`: windows that depend on the output column (x) or row
  (y) only, as separable grids give. Exact: a pass of prefix sums per axis.
* `average_general`: a window rectangle per output pixel. Exact along x
  (prefix sums of every row). Along y it reads a pyramid of block means
  (level `l` averages blocks of `2^l` rows) at the level where the window
  spans 2 to 4 blocks and integrates those blocks exactly, blending into
  the next level over the top quarter of each octave so that the result is
  continuous in the window. Exact for windows at most 3 rows high; a taller
  window is integrated over whole blocks of a quarter to two thirds of its
  height, which softens its top and bottom edges by up to a block: on
  uniform noise in `[0, 1]` the mean then errs by up to about 0.1, on
  images smooth at the scale of the window by about 1% of their range.

Prefix sums run along one axis at a time, of the values minus their mean
(added back at the end), which keeps float32 sums of large images small.
Static shapes and `keras.ops` only: differentiable, and compiles under XLA
and JAX `jit`.
"""

import math

from keras import ops

from keras_lzu.ops import grids

# `average_general` reads the pyramid level where a window spans 2 to 4
# rows: up to 5 rows of that level and 3 of the next.
_FINE_TAPS = 5
_COARSE_TAPS = 3
# Entries summed by plain additions in `_prefix_sums`.
_PREFIX_BLOCK = 16
# Pyramid levels for images whose height is unknown when traced: enough for
# any height below 2^16 rows.
_LEVELS_OF_UNKNOWN_HEIGHT = 17


def window(lower, upper, centre, size):
    """An output pixel's window along one axis, in edge units.

    Args:
        lower: normalized position of the lower edge of the pixel's
            footprint.
        upper: normalized position of its upper edge (`>= lower`).
        centre: normalized position the bilinear sampler samples for it.
        size: the input's number of pixels along the axis (int or scalar
            tensor).

    Returns:
        `(lo, hi)`: `[min(lower, centre - 1/2), max(upper, centre + 1/2)]`
        in edge units, at least one pixel wide.
    """
    scale = ops.cast(size, "float32")
    centre = centre * scale
    return (
        ops.minimum(lower * scale, centre - 0.5),
        ops.maximum(upper * scale, centre + 0.5),
    )


def average_separable(images, x_windows, y_windows):
    """Means of images over the rectangles of column and row windows.

    Args:
        images: `(B, H, W, C)` float tensor.
        x_windows: `(lo, hi)`, each `(Bg, W')`: the window of every output
            column, in edge units, `hi - lo >= 1`; `Bg` is 1 or `B`.
        y_windows: `(lo, hi)`, each `(Bg, H')`: the window of every output
            row.

    Returns:
        `(B, H', W', C)`: pixel `(r, c)` is the mean of the images over
        `x_windows[c] x y_windows[r]`.
    """
    dtype = images.dtype
    images = ops.cast(images, "float32")
    x_windows, y_windows = _as_float(x_windows), _as_float(y_windows)
    rows = _average_along_rows(images, *y_windows)
    # Through a transpose: gathering whole rows is several times faster than
    # gathering columns, and so are prefix sums along rows.
    columns = _average_along_rows(
        ops.transpose(rows, (0, 2, 1, 3)), *x_windows
    )
    return ops.cast(ops.transpose(columns, (0, 2, 1, 3)), dtype)


def average_general(images, x_windows, y_windows):
    """Means of images over a window rectangle per output pixel.

    Exact along x; along y exact for windows up to 3 rows high and a
    pyramid approximation above (see the module docstring).

    Args:
        images: `(B, H, W, C)` float tensor.
        x_windows: `(x0, x1)`, each `(Bg, H', W')`: every output pixel's x
            window in edge units, `x1 - x0 >= 1`; `Bg` is 1 or `B`.
        y_windows: `(y0, y1)`, each `(Bg, H', W')`: its y window,
            `y1 - y0 >= 1`.

    Returns:
        `(B, H', W', C)` means.
    """
    dtype = images.dtype
    images = ops.cast(images, "float32")
    mean = ops.mean(images, axis=(1, 2), keepdims=True)
    height = grids.static_or_dynamic_dim(images, 1)
    width = grids.static_or_dynamic_dim(images, 2)
    table, offsets, heights = _row_prefix_pyramid(images - mean, height)
    x0, x1 = _as_float(x_windows)
    y0, y1 = _as_float(y_windows)
    span = y1 - y0
    levels = offsets.shape[0]
    level = ops.clip(
        ops.floor(ops.log2(span)) - 1.0, 0.0, float(levels - 2)
    )
    block = ops.power(2.0, level)
    blend = ops.clip(span / block - 3.0, 0.0, 1.0)[..., None]
    level = ops.cast(level, "int32")
    fine_rows, fine_weights = _row_taps(
        y0, y1, level, block, _FINE_TAPS, offsets, heights
    )
    coarse_rows, coarse_weights = _row_taps(
        y0, y1, level + 1, 2.0 * block, _COARSE_TAPS, offsets, heights
    )
    rows = ops.concatenate([fine_rows, coarse_rows], axis=-1)
    weights = ops.concatenate(
        [(1.0 - blend) * fine_weights, blend * coarse_weights], axis=-1
    )
    integrals = _row_integral(table, width, rows, x1) - _row_integral(
        table, width, rows, x0
    )
    means = ops.sum(weights[..., None] * integrals, axis=-2) / (x1 - x0)[
        ..., None
    ]
    return ops.cast(means + mean, dtype)


def take_rows(images, rows):
    """Rows of `(B, H, W, C)` images at `(Bg, n)` int32 indices.

    Returns:
        `(B, n, W, C)`; `Bg` is 1 (indices shared by the batch) or `B`.
    """
    if rows.shape[0] == 1:
        return ops.take(images, rows[0], axis=1)
    shape = ops.shape(images)
    width, channels = images.shape[2], images.shape[3]
    depth = -1 if width is None or channels is None else width * channels
    flat = ops.reshape(images, (shape[0], shape[1], depth))
    taken = grids.gather_cells(flat, rows)
    return ops.reshape(taken, (shape[0], -1, shape[2], images.shape[-1]))


def _as_float(windows):
    return tuple(ops.cast(bound, "float32") for bound in windows)


def _average_along_rows(images, lo, hi):
    """Means over the row windows `[lo, hi]` `(Bg, n)`: `(B, n, W, C)`."""
    prefix, mean = _prefix_sums(images, centre=True)
    height = grids.static_or_dynamic_dim(images, 1)
    upper = _integral_at(prefix, hi, height)
    lower = _integral_at(prefix, lo, height)
    return (upper - lower) / (hi - lo)[..., None, None] + mean


def _prefix_sums(x, centre=False):
    """Sums of the first `0 .. n` rows of `(B, n, ...)` (`n + 1` of them).

    With `centre`, of the rows minus their mean, which keeps float32 sums
    small; returns `(sums, mean)` (the mean is 0 otherwise).

    With a static `n` the sums run inside blocks of `_PREFIX_BLOCK` rows as
    plain additions (which XLA fuses into one pass) and a cumulative sum
    runs over the blocks' totals only: several times faster on CPUs than
    one long cumulative sum, and no less accurate; the mean comes from the
    blocks' totals, so centring costs no pass of its own.
    """
    length = x.shape[1]
    if length is None:
        mean = ops.mean(x, axis=1, keepdims=True) if centre else 0.0
        sums = ops.cumsum(x - mean, axis=1)
    else:
        sums, mean = _blocked_cumsum(x, length, centre)
    return ops.concatenate([ops.zeros_like(x[:, :1]), sums], axis=1), mean


def _blocked_cumsum(x, length, centre):
    blocks = -(-length // _PREFIX_BLOCK)
    padding = [(0, 0)] * len(x.shape)
    padding[1] = (0, blocks * _PREFIX_BLOCK - length)
    padded = ops.pad(x, padding)
    shape = ops.shape(padded)
    grouped = ops.reshape(
        padded, (shape[0], blocks, _PREFIX_BLOCK, *shape[2:])
    )
    running = [grouped[:, :, 0]]
    for index in range(1, _PREFIX_BLOCK):
        running.append(running[-1] + grouped[:, :, index])
    totals = running[-1]
    mean = 0.0
    if centre:
        mean = ops.sum(totals, axis=1, keepdims=True) / length
        totals = totals - _PREFIX_BLOCK * mean
    before = ops.cumsum(totals, axis=1) - totals
    sums = ops.stack(running, axis=2) + before[:, :, None]
    if centre:
        counts = ops.reshape(
            ops.arange(1, _PREFIX_BLOCK + 1, dtype="float32"),
            (_PREFIX_BLOCK,) + (1,) * (len(x.shape) - 2),
        )
        sums = sums - counts * mean[:, :, None]
    return ops.reshape(sums, shape)[:, :length], mean


def _integral_at(prefix, positions, size):
    """The integral from 0 of the edge-replicated pixel function at
    `positions` `(Bg, n)` (edge units), from its prefix sums along axis 1."""
    index, fraction = _prefix_taps(positions, size)
    low = take_rows(prefix, index)
    high = take_rows(prefix, index + 1)
    return low + fraction[..., None, None] * (high - low)


def _prefix_taps(positions, size):
    """Index `k` and fraction of the prefix sums' linear interpolation at
    `positions`. `k` is clamped to a pixel and the fraction is not: outside
    the image the integral continues linearly with the edge pixel's value,
    which is edge replication."""
    last = ops.cast(size, "int32") - 1
    index = ops.clip(ops.cast(ops.floor(positions), "int32"), 0, last)
    return index, positions - ops.cast(index, "float32")


def _row_prefix_pyramid(images, height):
    """Levels `l = 0, 1, ...` of block means (row `k` of level `l` is the
    mean of input rows `[k 2^l, (k + 1) 2^l)`, the last row replicated past
    the bottom), each made from the previous one by averaging row pairs,
    stacked into one table with prefix sums along the rows.

    Returns:
        `(table, offsets, heights)`: the `(B, rows, W, 2 C)` table of prefix
        sums and values flattened to `(B, rows * W, 2 C)`, and int32 tensors
        with the first row and the number of rows of every level.
    """
    if isinstance(height, int):
        count = max(2, int(math.log2(height + 1)) + 1)
    else:
        count = _LEVELS_OF_UNKNOWN_HEIGHT
    level = images
    levels, heights = [images], [height]
    for _ in range(count - 1):
        pairs = (heights[-1] + 1) // 2
        padded = ops.concatenate([level, level[:, -1:]], axis=1)
        padded = padded[:, : 2 * pairs]
        level = 0.5 * (padded[:, 0::2] + padded[:, 1::2])
        levels.append(level)
        heights.append(pairs)
    means = ops.concatenate(levels, axis=1)
    # Prefix sums along the rows, through a transpose (see
    # `average_separable`). Each entry holds the prefix sum up to its pixel
    # and the pixel's value: one gather gives both ends of the linear piece
    # an integral lies on.
    prefix, _ = _prefix_sums(ops.transpose(means, (0, 2, 1, 3)))
    prefix = ops.transpose(prefix[:, :-1], (0, 2, 1, 3))
    table = ops.concatenate([prefix, means], axis=-1)
    heights = ops.cast(ops.stack(heights), "int32")
    offsets = ops.cumsum(heights) - heights
    shape = ops.shape(table)
    table = ops.reshape(table, (shape[0], -1, 2 * images.shape[-1]))
    return table, offsets, heights


def _row_taps(y0, y1, level, block, taps, offsets, heights):
    """The `taps` rows of pyramid `level` (rows of `block` input rows) from
    the one holding `y0` down: their table rows and their shares of the
    windows `[y0, y1]`, each `(..., taps)`."""
    first = ops.floor(y0 / block)[..., None]
    row = first + ops.arange(taps, dtype="float32")
    top = row * block[..., None]
    overlap = ops.minimum(y1[..., None], top + block[..., None]) - ops.maximum(
        y0[..., None], top
    )
    weight = ops.maximum(overlap, 0.0) / (y1 - y0)[..., None]
    last = ops.take(heights, level)[..., None] - 1
    index = ops.take(offsets, level)[..., None] + ops.clip(
        ops.cast(row, "int32"), 0, last
    )
    return index, weight


def _row_integral(table, width, rows, positions):
    """Integrals from 0 to `positions` `(Bg, H', W')` along the table's
    `rows` `(Bg, H', W', taps)`: `(B, H', W', taps, C)`."""
    index, fraction = _prefix_taps(positions, width)
    entry = grids.gather_cells(
        table, rows * ops.cast(width, "int32") + index[..., None]
    )
    prefix, value = ops.split(entry, 2, axis=-1)
    return prefix + fraction[..., None, None] * value
