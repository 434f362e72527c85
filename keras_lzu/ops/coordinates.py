"""Mapping points and boxes between the original and the zoomed frame.

All coordinates are normalized: `x` is a fraction of the width and `y` of the
height (divide pixel coordinates by `(W, H)` of their frame, multiply back
after). The forward warp `T` takes a zoomed-frame point to the original-frame
point it was sampled from:

* `unwarp_points` / `unwarp_boxes`: zoomed frame -> original frame (`T`),
* `warp_points` / `warp_boxes`: original frame -> zoomed frame (`T^-1`).
"""

from keras import ops

from keras_lzu.ops import grids
from keras_lzu.ops import inversion
from keras_lzu.ops import validation


def unwarp_points(points, grid):
    """Maps zoomed-frame points to the original frame (the warp `T`).

    Args:
        points: `(Bp, N, 2)` normalized `(x, y)` points of the zoomed frame.
        grid: `(Bg, gh, gw, 2)` grid; `Bp` and `Bg` are each 1 or the batch.

    Returns:
        `(B, N, 2)` original-frame points.

    Example:

    A grid that magnifies the left quarter of the image into the left half
    of the zoomed frame:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> points = np.array([[[0.5, 0.5], [0.75, 0.5]]], "float32")
    >>> print(keras.ops.convert_to_numpy(
    ...     keras_lzu.ops.unwarp_points(points, grid)))
    [[[0.25  0.5  ]
      [0.625 0.5  ]]]
    """
    grid = _checked_grid(grid)
    points = _checked_points(points, 2, "points")
    return grids.interpolate_grid(grid, points)


def warp_points(points, grid, separable=False):
    """Maps original-frame points to the zoomed frame (the inverse warp).

    Points outside the warp's range are clamped to its edge.

    Args:
        points: `(Bp, N, 2)` normalized `(x, y)` points of the original
            frame.
        grid: `(Bg, gh, gw, 2)` grid; `Bp` and `Bg` are each 1 or the batch.
        separable: bool. `True` inverts per axis (exact for separable
            grids); `False` (default) inverts any grid.

    Returns:
        `(B, N, 2)` zoomed-frame points.

    Example:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> points = np.array([[[0.25, 0.5], [0.625, 0.5]]], "float32")
    >>> zoomed = keras_lzu.ops.warp_points(points, grid)
    >>> print(np.round(keras.ops.convert_to_numpy(zoomed), 3))
    [[[0.5  0.5 ]
      [0.75 0.5 ]]]
    """
    grid = _checked_grid(grid)
    points = _checked_points(points, 2, "points")
    inverse = inversion.invert_grid(grid, separable=separable)
    return inversion.apply_inverse(inverse, points)


def unwarp_boxes(boxes, grid):
    """Maps zoomed-frame boxes to the original frame.

    The result is the bounding box of the four mapped corners (exact for
    separable grids, where boxes map to boxes).

    Args:
        boxes: `(Bp, N, 4)` normalized `xyxy` boxes of the zoomed frame.
        grid: `(Bg, gh, gw, 2)` grid; `Bp` and `Bg` are each 1 or the batch.

    Returns:
        `(B, N, 4)` original-frame boxes.

    Example:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> boxes = np.array([[[0.0, 0.0, 0.5, 1.0]]], "float32")
    >>> print(keras.ops.convert_to_numpy(
    ...     keras_lzu.ops.unwarp_boxes(boxes, grid)))
    [[[0.   0.   0.25 1.  ]]]
    """
    grid = _checked_grid(grid)
    boxes = _checked_points(boxes, 4, "boxes")
    return _bounding_boxes(grids.interpolate_grid(grid, _corners(boxes)))


def warp_boxes(boxes, grid, separable=False):
    """Maps original-frame boxes to the zoomed frame.

    The result is the bounding box of the four mapped corners (exact for
    separable grids, where boxes map to boxes).

    Args:
        boxes: `(Bp, N, 4)` normalized `xyxy` boxes of the original frame.
        grid: `(Bg, gh, gw, 2)` grid; `Bp` and `Bg` are each 1 or the batch.
        separable: bool. `True` inverts per axis (exact for separable
            grids); `False` (default) inverts any grid.

    Returns:
        `(B, N, 4)` zoomed-frame boxes.

    Example:

    The left quarter of the image fills the left half of the zoomed frame:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> boxes = np.array([[[0.0, 0.0, 0.25, 1.0]]], "float32")
    >>> zoomed = keras_lzu.ops.warp_boxes(boxes, grid)
    >>> print(np.round(keras.ops.convert_to_numpy(zoomed), 3))
    [[[0.  0.  0.5 1. ]]]
    """
    grid = _checked_grid(grid)
    boxes = _checked_points(boxes, 4, "boxes")
    inverse = inversion.invert_grid(grid, separable=separable)
    corners = inversion.apply_inverse(inverse, _corners(boxes))
    return _bounding_boxes(corners)


def _corners(boxes):
    x1, y1, x2, y2 = (boxes[..., k] for k in range(4))
    corners = ops.stack(
        [
            ops.stack([x1, y1], axis=-1),
            ops.stack([x2, y1], axis=-1),
            ops.stack([x1, y2], axis=-1),
            ops.stack([x2, y2], axis=-1),
        ],
        axis=2,
    )
    return ops.reshape(corners, (ops.shape(boxes)[0], -1, 2))


def _bounding_boxes(corners):
    corners = ops.reshape(corners, (ops.shape(corners)[0], -1, 4, 2))
    low = ops.min(corners, axis=2)
    high = ops.max(corners, axis=2)
    return ops.concatenate([low, high], axis=-1)


def _checked_grid(grid):
    grid = ops.convert_to_tensor(grid)
    validation.check_grid(grid)
    return ops.cast(grid, "float32")


def _checked_points(points, width, name):
    points = ops.cast(ops.convert_to_tensor(points), "float32")
    if len(points.shape) != 3 or points.shape[-1] != width:
        raise ValueError(
            f"`{name}` must have shape (batch, count, {width}). "
            f"Received: {name}.shape={tuple(points.shape)}"
        )
    return points
