"""Zoom and unzoom: bilinear resampling of images and features through a grid.

Conventions (docs/conventions.md): output pixel `(r, c)` of a size
`(H', W')` has normalized centre `((c + .5) / W', (r + .5) / H')`; a normalized
location `(x, y)` of a `(H, W)` tensor is sampled bilinearly at pixel
coordinates `(x W - .5, y H - .5)`, clamped to the border (edge replicate).

Both ops come in a separable form (two 1-D gathers, the fast path) and a
general form (a 4-tap gather per output pixel). With `antialias=True` each
output pixel is instead the mean of the input over its footprint, the cell
`[c / W', (c + 1) / W'] x [r / H', (r + 1) / H']` mapped through the warp
(by `T` for zoom, by `T^-1` for unzoom), widened along each axis to at least
the input pixel around the point-sampled location: bilinear sampling where
the map magnifies, an area average where it compresses (see
`keras_lzu.ops.footprints`). Separable grids map cells to rectangles, which
are averaged exactly; for general grids the footprint is approximated by
the rectangle between the means of its mapped corners on each side.
Everything is static-shape `keras.ops` code: it compiles under XLA and JAX
`jit`, with unknown batch sizes, and for images of unknown height and width.
"""

import numpy as np
from keras import ops

from keras_lzu.ops import footprints
from keras_lzu.ops import grids
from keras_lzu.ops import inversion
from keras_lzu.ops import validation


def zoom(images, grid, output_size, separable=False, validate=False,
         antialias=False):
    """Resamples images through a warp grid into `output_size`.

    With the identity grid this is a plain bilinear resize with half-pixel
    centres, edge clamping and no antialiasing: TensorFlow's
    `image.resize(images, output_size, "bilinear", antialias=False)`.
    With `antialias=True` every output pixel averages the image over its
    cell's footprint where the warp shrinks the image; with the identity
    grid that is `image.resize(..., method="area")` along axes that shrink
    and the bilinear resize along axes that grow.

    Args:
        images: `(B, H, W, C)` tensor. Integer images are converted to
            float32; float images keep their dtype (the math runs in float32).
        grid: `(B, gh, gw, 2)` or `(1, gh, gw, 2)` grid (a batch of 1 is
            shared by all images without being copied).
        output_size: `(H', W')` of the zoomed images.
        separable: bool. `True` uses the grid's marginals and two 1-D gathers;
            exact for separable grids (such as `saliency_to_grid(...,
            separable=True)` makes). `False` (default) is exact for any grid.
        validate: bool. Also check the grid's values (finite, in `[0, 1]`,
            non-decreasing along each axis) inside a TensorFlow graph, where
            they are unknown while tracing: a bad grid then fails the graph
            with an `InvalidArgumentError`. Eager calls always check them;
            XLA and JAX `jit` never can (see `keras_lzu.ops.validation`).
        antialias: bool. `True` averages over each output pixel's
            footprint: exactly with `separable=True`; with `separable=False`
            over the rectangle between its mapped corners, exactly up to 3
            input rows high and approximately above (see
            `keras_lzu.ops.footprints`). `False` (default) samples one
            bilinear tap per output pixel.

    Returns:
        `(B, H', W', C)` zoomed images.

    Example:

    With the identity grid, zoom is a bilinear resize:

    >>> images = np.random.default_rng(0).random((2, 12, 16, 3), "float32")
    >>> identity = keras_lzu.ops.identity_grid(1, (31, 51))
    >>> zoomed = keras_lzu.ops.zoom(images, identity, output_size=(6, 8))
    >>> tuple(zoomed.shape)
    (2, 6, 8, 3)
    >>> resized = keras.ops.image.resize(images, (6, 8), antialias=False)
    >>> np.allclose(
    ...     keras.ops.convert_to_numpy(zoomed),
    ...     keras.ops.convert_to_numpy(resized),
    ...     atol=1e-5,
    ... )
    True

    A grid whose control points `x = (0, 0.25, 1)` put the left quarter of
    the image into the left half of the zoomed frame; the row's pixel values
    are their column index:

    >>> row = np.arange(8, dtype="float32").reshape(1, 1, 8, 1)
    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> zoomed = keras_lzu.ops.zoom(row, grid, output_size=(1, 4))
    >>> print(keras.ops.convert_to_numpy(zoomed)[0, 0, :, 0])
    [0. 1. 3. 6.]

    With `antialias=True` the shrunk right half averages the three pixels
    under each output pixel instead of keeping one of them:

    >>> stripes = np.tile([0.0, 1.0], 4).astype("float32").reshape(1, 1, 8, 1)
    >>> plain = keras_lzu.ops.zoom(stripes, grid, output_size=(1, 4))
    >>> print(keras.ops.convert_to_numpy(plain)[0, 0, :, 0])
    [0. 1. 1. 0.]
    >>> averaged = keras_lzu.ops.zoom(
    ...     stripes, grid, output_size=(1, 4), antialias=True
    ... )
    >>> print(np.round(keras.ops.convert_to_numpy(averaged)[0, 0, :, 0], 3))
    [0.    1.    0.333 0.667]
    """
    images, grid = _prepare(images, grid, "images", validate)
    height, width = validation.size_pair(output_size, "output_size")
    in_height, in_width = _spatial_dims(images)
    if separable:
        x_knots = ops.mean(grid[..., 0], axis=1)
        y_knots = ops.mean(grid[..., 1], axis=2)
        xs = grids.interpolate_knots(x_knots, width)
        ys = grids.interpolate_knots(y_knots, height)
        if antialias:
            return _average_separable(
                images,
                (_knots_at_edges(x_knots, width), xs),
                (_knots_at_edges(y_knots, height), ys),
            )
        return sample_separable(
            images,
            _to_pixel_axis(xs, in_width),
            _to_pixel_axis(ys, in_height),
        )
    if antialias:
        locations = grids.upsample_grid(grid, (height, width))
        lattice = _lattice(_edges(width), _edges(height)).reshape(1, -1, 2)
        corners = grids.interpolate_grid(grid, lattice)
        corners = ops.reshape(corners, (-1, height + 1, width + 1, 2))
        return _average_cells(images, corners, locations)
    # Scaling to pixels commutes with the interpolation: done on the grid.
    pixels = _to_pixels(grid, in_height, in_width)
    xs, ys = grids.upsample_grid_axes(pixels, (height, width))
    return _sample_points(images, xs, ys)


def unzoom(features, grid, output_size=None, separable=False,
           validate=False, antialias=False):
    """Resamples features of a zoomed image back to the uniform layout.

    Output pixel centre `v` samples the features at `T^-1(v)`, where `T` is
    the piecewise-bilinear warp of `grid` (clamped to its range). With
    `antialias=True` every output pixel averages the features over its
    cell's footprint `T^-1(cell)` where the zoom had magnified.

    Args:
        features: `(B, h', w', C)` features computed on the zoomed image.
        grid: the forward grid that made the zoomed image.
        output_size: `(h, w)`; defaults to the features' own spatial size.
        separable: bool. `True` selects the per-axis inversion (exact for
            separable grids); `False` (default) inverts any grid.
        validate: bool, as for `zoom`: check the grid's values inside a
            TensorFlow graph too.
        antialias: bool. `True` averages over each output pixel's
            footprint, as in `zoom` (exact for separable inverses).
            `False` (default) samples one bilinear tap per output pixel.

    Returns:
        `(B, h, w, C)` unzoomed features.

    Example:

    The zoomed row of `zoom`'s example, back in the original layout: the
    magnified left quarter comes back exactly.

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> zoomed = np.array([0, 1, 3, 6], "float32").reshape(1, 1, 4, 1)
    >>> unzoomed = keras_lzu.ops.unzoom(zoomed, grid, output_size=(1, 8))
    >>> print(np.round(keras.ops.convert_to_numpy(unzoomed)[0, 0, :, 0], 3))
    [0.    1.    2.333 3.    4.    5.    6.    6.   ]
    """
    grid = ops.convert_to_tensor(grid)
    inverse = inversion.invert_grid(
        grid, separable=separable, validate=validate
    )
    return unzoom_with_inverse(features, inverse, output_size, antialias)


def unzoom_with_inverse(features, inverse, output_size=None, antialias=False):
    """`unzoom` with an inverse precomputed by `invert_grid`.

    Lets several feature levels share one inversion of the same grid.

    Args:
        features: `(B, h', w', C)` features computed on the zoomed image.
        inverse: the dict returned by `invert_grid`.
        output_size: `(h, w)`; defaults to the features' own spatial size.
        antialias: bool, as for `unzoom`.

    Returns:
        `(B, h, w, C)` unzoomed features.

    Example:

    One inversion, evaluated at two resolutions:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> inverse = keras_lzu.ops.invert_grid(grid, separable=True)
    >>> zoomed = np.array([0, 1, 3, 6], "float32").reshape(1, 1, 4, 1)
    >>> for size in [(1, 8), (1, 4)]:
    ...     unzoomed = keras_lzu.ops.unzoom_with_inverse(zoomed, inverse, size)
    ...     print(np.round(keras.ops.convert_to_numpy(unzoomed)[0, 0, :, 0], 3))
    [0.    1.    2.333 3.    4.    5.    6.    6.   ]
    [0.5   2.667 4.5   6.   ]
    """
    features = ops.convert_to_tensor(features)
    validation.check_images(features, "features")
    features = validation.check_batch_compatible(
        inverse["x_knots"], _as_float(features), "grid", "features"
    )
    if output_size is None:
        if None in tuple(features.shape[1:3]):
            raise ValueError(
                "`output_size` is required when the features' height and "
                f"width are not static. Received: features.shape="
                f"{tuple(features.shape)}"
            )
        output_size = tuple(features.shape[1:3])
    height, width = validation.size_pair(output_size, "output_size")
    in_height, in_width = _spatial_dims(features)
    if inversion.is_separable_inverse(inverse):
        x_knots, y_knots = inverse["x_knots"], inverse["y_knots"]
        u_x = inversion.invert_knots(x_knots, _centres(width)[None])
        u_y = inversion.invert_knots(y_knots, _centres(height)[None])
        if antialias:
            return _average_separable(
                features,
                (inversion.invert_knots(x_knots, _edges(width)[None]), u_x),
                (inversion.invert_knots(y_knots, _edges(height)[None]), u_y),
            )
        return sample_separable(
            features,
            _to_pixel_axis(u_x, in_width),
            _to_pixel_axis(u_y, in_height),
        )
    locations = inversion.apply_inverse_on_lattice(
        inverse, _centres(width), _centres(height)
    )
    if antialias:
        corners = inversion.apply_inverse_on_lattice(
            inverse, _edges(width), _edges(height)
        )
        return _average_cells(features, corners, locations)
    return sample_general(features, _to_pixels(locations, in_height, in_width))


def resize_bilinear(images, size):
    """Bilinear resize with half-pixel centres, edge clamping and no
    antialiasing, by the zoom's sampling.

    The resize of TensorFlow's `image.resize(images, size, "bilinear",
    antialias=False)` and `keras.ops.image.resize`, the same on every
    backend and under XLA and JAX `jit`. TensorFlow's own kernel, compiled by
    XLA, samples the wrong input pixel at some upsampling ratios (4 -> 20
    rows, 12 -> 20: tensorflow/tensorflow#118344); this one does not.

    Args:
        images: `(B, H, W, C)` tensor; integer images become float32.
        size: `(H', W')`: positive ints, or (in a TensorFlow graph) scalar
            int tensors known only when the graph runs.

    Returns:
        `(B, H', W', C)` resized images.

    Example:

    >>> row = np.arange(4, dtype="float32").reshape(1, 1, 4, 1)
    >>> resized = keras_lzu.ops.resize_bilinear(row, (1, 20))
    >>> expected = keras.ops.image.resize(row, (1, 20))
    >>> np.allclose(keras.ops.convert_to_numpy(resized),
    ...             keras.ops.convert_to_numpy(expected), atol=1e-6)
    True
    """
    images = _as_float(ops.convert_to_tensor(images))
    validation.check_images(images, "images")
    if all(isinstance(side, (int, np.integer)) for side in size):
        size = validation.size_pair(size, "size")
    height, width = size
    in_height, in_width = _spatial_dims(images)
    return sample_separable(
        images,
        _resize_coordinates(width, in_width)[None],
        _resize_coordinates(height, in_height)[None],
    )


def _resize_coordinates(size, in_size):
    """Pixel coordinates in an axis of `in_size` pixels of the `size`
    pixel centres of its uniform resize, as TensorFlow's `image.resize`
    computes them: `(i + 0.5) * (in_size / size) - 0.5`."""
    scale = ops.cast(in_size, "float32") / ops.cast(size, "float32")
    return (ops.arange(size, dtype="float32") + 0.5) * scale - 0.5


def _average_separable(images, x_cells, y_cells):
    """Footprint means for separable warps.

    Args:
        images: `(B, H, W, C)` float tensor.
        x_cells: `(edges, centres)`: the normalized input x of the `W' + 1`
            column edges `(Bg, W' + 1)` and of the `W'` column centres
            `(Bg, W')` of the output.
        y_cells: the same for the output rows.
    """
    in_height, in_width = _spatial_dims(images)

    def windows(cells, size):
        edges, centres = cells
        return footprints.window(edges[:, :-1], edges[:, 1:], centres, size)

    return footprints.average_separable(
        images, windows(x_cells, in_width), windows(y_cells, in_height)
    )


def _average_cells(images, corners, centres):
    """Footprint means for general warps: each output cell's footprint is
    approximated by the rectangle between the means of its mapped corners
    on each side (exact when the warp is separable).

    Args:
        images: `(B, H, W, C)` float tensor.
        corners: `(Bg, H' + 1, W' + 1, 2)` normalized input locations of the
            output pixels' corners.
        centres: `(Bg, H', W', 2)` the same of their centres.
    """
    in_height, in_width = _spatial_dims(images)
    x, y = corners[..., 0], corners[..., 1]
    left = 0.5 * (x[:, :-1, :-1] + x[:, 1:, :-1])
    right = 0.5 * (x[:, :-1, 1:] + x[:, 1:, 1:])
    top = 0.5 * (y[:, :-1, :-1] + y[:, :-1, 1:])
    bottom = 0.5 * (y[:, 1:, :-1] + y[:, 1:, 1:])
    return footprints.average_general(
        images,
        footprints.window(left, right, centres[..., 0], in_width),
        footprints.window(top, bottom, centres[..., 1], in_height),
    )


# Images with at most this many channels are sampled along columns through
# a transpose (see `sample_separable`).
_FEW_CHANNELS = 16


def sample_separable(images, xs, ys):
    """Bilinear sampling at the outer product of column and row coordinates.

    Args:
        images: `(B, H, W, C)` float tensor.
        xs: `(Bg, W')` pixel x coordinates; `Bg` is 1 or `B`.
        ys: `(Bg, H')` pixel y coordinates.

    Returns:
        `(B, H', W', C)`: pixel `(r, c)` samples `(xs[c], ys[r])`.
    """
    dtype = images.dtype
    images = ops.cast(images, "float32")
    in_height, in_width = _spatial_dims(images)
    rows = _interpolate_rows(images, ys, in_height)
    channels = images.shape[-1]
    if channels is not None and channels <= _FEW_CHANNELS:
        # Gathering columns of a thin image moves a few bytes per pixel and
        # costs more than transposing, gathering whole rows, transposing back.
        columns = _interpolate_rows(
            ops.transpose(rows, (0, 2, 1, 3)), xs, in_width
        )
        return ops.cast(ops.transpose(columns, (0, 2, 1, 3)), dtype)
    x0, x_step, wx = _taps(xs, in_width)
    x1 = x0 + x_step
    wx = wx[:, None, :, None]
    if xs.shape[0] == 1:
        left = ops.take(rows, x0[0], axis=2)
        right = ops.take(rows, x1[0], axis=2)
    else:
        out_rows = ops.shape(rows)[1]
        table = ops.reshape(rows, (ops.shape(rows)[0], -1, rows.shape[-1]))
        row_start = ops.reshape(
            ops.arange(out_rows, dtype="int32") * in_width, (1, -1, 1)
        )
        left = grids.gather_cells(table, row_start + x0[:, None, :])
        right = grids.gather_cells(table, row_start + x1[:, None, :])
    return ops.cast(left + wx * (right - left), dtype)


def _interpolate_rows(images, ys, in_height):
    """Linear interpolation between the rows of `(B, H, W, C)` images at
    pixel row coordinates `ys` `(Bg, H')`: `(B, H', W, C)`."""
    y0, y_step, wy = _taps(ys, in_height)
    top = footprints.take_rows(images, y0)
    bottom = footprints.take_rows(images, y0 + y_step)
    return top + wy[..., None, None] * (bottom - top)


def sample_general(images, coordinates):
    """Bilinear sampling at arbitrary pixel coordinates, edge-clamped.

    Args:
        images: `(B, H, W, C)` float tensor.
        coordinates: `(Bg, H', W', 2)` pixel `(x, y)` coordinates; `Bg` is 1
            or `B`.

    Returns:
        `(B, H', W', C)` samples.
    """
    return _sample_points(images, coordinates[..., 0], coordinates[..., 1])


def _sample_points(images, xs, ys):
    """`sample_general` with the x and y pixel coordinates apart, each
    `(Bg, H', W')`: four gathers of the flattened image, at indices that
    differ by constant offsets, summed with weights made at one channel
    (fewer passes over the samples than three nested lerps)."""
    dtype = images.dtype
    images = ops.cast(images, "float32")
    in_height, in_width = _spatial_dims(images)
    x0, x_step, wx = _taps(xs, in_width)
    y0, y_step, wy = _taps(ys, in_height)
    table = ops.reshape(images, (ops.shape(images)[0], -1, images.shape[-1]))
    top_left = y0 * in_width + x0
    bottom_left = top_left + y_step * in_width
    wx, wy = wx[..., None], wy[..., None]
    top_right = wx * (1.0 - wy)
    bottom_right = wx * wy
    samples = (
        grids.gather_cells(table, top_left) * (1.0 - wy - top_right)
        + grids.gather_cells(table, top_left + x_step) * top_right
        + grids.gather_cells(table, bottom_left) * (wy - bottom_right)
        + grids.gather_cells(table, bottom_left + x_step) * bottom_right
    )
    return ops.cast(samples, dtype)


def _taps(coordinates, size):
    """The two linear-interpolation taps of pixel coordinates along an axis
    of `size` pixels, edge-clamped.

    Returns:
        `(lower, step, weight)`: the int32 index of the first tap, the
        offset of the second (1, or 0 for a single pixel) and the weight of
        the second. Coordinates are clamped to `[0, size - 1]` first, which
        samples the edge pixel beyond the edge pixels' centres.
    """
    size_f = ops.cast(size, "float32")
    coordinates = ops.clip(
        ops.cast(coordinates, "float32"), 0.0, ops.maximum(size_f - 1.0, 0.0)
    )
    lower = ops.minimum(ops.floor(coordinates), ops.maximum(size_f - 2.0, 0.0))
    weight = coordinates - lower
    step = ops.minimum(ops.cast(size, "int32") - 1, 1)
    return ops.cast(lower, "int32"), step, weight


def _centres(size):
    return ((np.arange(size) + 0.5) / size).astype("float32")


def _edges(size):
    return (np.arange(size + 1) / size).astype("float32")


def _lattice(xs, ys):
    return np.stack(np.meshgrid(xs, ys), axis=-1)


def _knots_at_edges(knots, size):
    """Piecewise-linear knots `(Bg, g)` (values at `k / (g - 1)`) evaluated
    at the `size + 1` pixel edges `k / size`: `(Bg, size + 1)`."""
    count = knots.shape[1]
    positions = np.arange(size + 1) / size * (count - 1)
    lower = np.clip(np.floor(positions), 0, count - 2).astype("int32")
    weight = ops.convert_to_tensor((positions - lower).astype("float32"))
    low = ops.take(knots, lower, axis=1)
    high = ops.take(knots, lower + 1, axis=1)
    return low + weight * (high - low)


def _to_pixel_axis(locations, size):
    # Unknown sizes are int32 tensors: scale in float32.
    return locations * ops.cast(size, "float32") - 0.5


def _to_pixels(locations, height, width):
    scale = ops.stack(
        [ops.cast(width, "float32"), ops.cast(height, "float32")]
    )
    return locations * scale - 0.5


def _spatial_dims(x):
    shape = ops.shape(x)
    return shape[1], shape[2]


def _as_float(x):
    if "float" in str(x.dtype):
        return x
    return ops.cast(x, "float32")


def _prepare(images, grid, name, validate):
    images = ops.convert_to_tensor(images)
    grid = ops.convert_to_tensor(grid)
    validation.check_images(images, name)
    grid = validation.check_grid(grid, validate=validate)
    images = validation.check_batch_compatible(grid, images, "grid", name)
    return _as_float(images), ops.cast(grid, "float32")
