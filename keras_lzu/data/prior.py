"""The dataset-wide saliency prior: a kernel density estimate of the boxes.

This is the fixed saliency of the LZU paper (FOVEA's "SD" prior): every
training box adds a Gaussian bump at its centre, as wide as the box, and the
sum, evaluated at the grid's control points, says where in the frame
objects tend to be. Feed it to `SaliencyGrid(mode="fixed", prior=...)`.
How much each box weighs (`box_weight`) decides whether large boxes pull as
much resolution as small ones (`"height"`, the default) or less (`"mass"`,
FOVEA's kernel density estimate, or a power in between).
"""

import numbers

import warnings

import numpy as np

_CHUNK = 65536
# The exponent `alpha` of each named `box_weight`: bump height (sx sy)^-alpha.
BOX_WEIGHTS = {"height": 0.0, "mass": 1.0}


def saliency_prior_from_boxes(
    boxes,
    grid_shape=(31, 51),
    image_size=None,
    bandwidth=0.5,
    min_sigma=None,
    floor=0.01,
    bounding_box_format="xyxy",
    box_weight="height",
):
    """Kernel density estimate of boxes at the grid's control points.

    Box `n` with normalized centre `(cx, cy)` and size `(w, h)` contributes
    `a_n * exp(-((x - cx) / sx)^2 / 2 - ((y - cy) / sy)^2 / 2)` with
    `sx = max(bandwidth * w, min_sigma[1])`,
    `sy = max(bandwidth * h, min_sigma[0])`, evaluated at the control points
    `x_j = j / (gw - 1)`, `y_i = i / (gh - 1)` of docs/conventions.md. The
    bump's height is `a_n = (sx * sy) ** -alpha` (`box_weight`): with
    `alpha = 0` (`"height"`, the default) every bump has height 1, so a tiny
    far object weighs as much as a large near one; with `alpha = 1`
    (`"mass"`) every bump has the same mass (`2 pi sx sy a_n`), as in
    FOVEA's KDE, so a box of a quarter of the area peaks 4x higher and
    large boxes pull less resolution; powers in between interpolate. The
    density is divided by its maximum, then a uniform floor is added and
    the result rescaled: `(density / max + floor) / (1 + floor)`, so the
    maximum is 1 and no cell is below `floor / (1 + floor)`.

    Rows that are padding are ignored: rows with a negative coordinate (e.g.
    the -1 rows of `keras_cv.bounding_box.to_dense`), rows with no area, and
    rows whose class is -1 (datasets). If rows were given but none is a
    valid box, a warning is issued and the uniform prior (all ones) is
    returned.

    Args:
        boxes: the boxes, one of:
            * a NumPy array `(N, 4)` of `xyxy` boxes, normalized to `[0, 1]`
              unless `image_size` is given (then in pixels);
            * a list of such arrays, one per image (`(0, 4)` allowed);
            * a `tf.data.Dataset` whose elements are `(images, {"boxes":
              ..., "classes": ...})` (batched or not, dense padded or
              ragged), as `keras_lzu.data.load_coco_dataset` produces, or
              KerasCV dicts `{"images": ..., "bounding_boxes": {...}}`;
              the image size is read from the images.
        grid_shape: `(gh, gw)` control points, each at least 2.
        image_size: optional `(height, width)` of the images that pixel
            array boxes refer to. Not used for datasets.
        bandwidth: positive float, Gaussian sigma as a fraction of the
            box's width and height.
        min_sigma: optional `(sigma_y, sigma_x)` or float, the smallest
            sigma in normalized units. Defaults to half the spacing of the
            control points on each axis, so every box reaches its nearest
            control point.
        floor: positive float, the uniform floor (relative to the peak).
        bounding_box_format: format of a dataset's boxes: `"xyxy"` (pixels
            of its images) or `"rel_xyxy"`. Not used for arrays.
        box_weight: how much each box weighs: `"height"` (every bump of
            height 1, the default), `"mass"` (every bump of unit mass:
            height proportional to `1 / (sx * sy)`), or a non-negative
            number `alpha`, height proportional to `(sx * sy) ** -alpha`
            (`0` is `"height"`, `1` is `"mass"`). The sigmas include the
            `min_sigma` floor, so a tiny box's weight stays bounded.

    Returns:
        A float32 NumPy array `(gh, gw)` with values in `(0, 1]`.

    Example:

    >>> prior = saliency_prior_from_boxes(
    ...     np.array([[0.35, 0.45, 0.45, 0.55]]), grid_shape=(11, 11))
    >>> prior.shape
    (11, 11)
    >>> [int(k) for k in np.unravel_index(prior.argmax(), prior.shape)]
    [5, 4]

    With unit mass per box, a box of 1/16 of the area peaks 16x higher:

    >>> boxes = np.array([[0.05, 0.05, 0.15, 0.15], [0.5, 0.5, 0.9, 0.9]])
    >>> for weight in ("height", "mass"):
    ...     prior = saliency_prior_from_boxes(
    ...         boxes, grid_shape=(11, 11), floor=1e-6, box_weight=weight)
    ...     print(weight, f"{prior[1, 1] / prior[7, 7]:.2f}")
    height 1.00
    mass 16.00
    """
    gh, gw = _grid_shape(grid_shape)
    floor = _positive_float(floor, "floor")
    _kernel_settings((gh, gw), bandwidth, min_sigma, box_weight)
    normalized = valid_boxes(
        normalized_boxes(boxes, image_size, bounding_box_format)
    )
    if normalized.shape[0] == 0:
        warnings.warn(
            "`boxes` has no valid box (all rows are padding or have no "
            "area); returning a uniform saliency prior.",
            stacklevel=2,
        )
        return np.ones((gh, gw), "float32")
    density = box_density(
        normalized, (gh, gw), bandwidth, min_sigma, box_weight
    )
    return apply_floor(density, floor)


def apply_floor(density, floor):
    """`(density / max + floor) / (1 + floor)` as float32: the prior of a
    box density (see `saliency_prior_from_boxes`)."""
    return ((density / density.max() + floor) / (1 + floor)).astype("float32")


def box_density(boxes, grid_shape, bandwidth=0.5, min_sigma=None,
                box_weight="height"):
    """The un-normalized kernel density of `saliency_prior_from_boxes`.

    Args:
        boxes: `(N, 4)` valid normalized `xyxy` boxes (`valid_boxes`).
        grid_shape, bandwidth, min_sigma, box_weight: as in
            `saliency_prior_from_boxes`.

    Returns:
        A float64 array `(gh, gw)`, the sum of the boxes' weighted bumps.
    """
    gh, gw, bandwidth, min_sigma, alpha = _kernel_settings(
        grid_shape, bandwidth, min_sigma, box_weight
    )
    xs = np.linspace(0.0, 1.0, gw)
    ys = np.linspace(0.0, 1.0, gh)
    density = np.zeros((gh, gw))
    for start in range(0, boxes.shape[0], _CHUNK):
        x1, y1, x2, y2 = boxes[start : start + _CHUNK].T[:, :, None]
        sigma_x = np.maximum(bandwidth * (x2 - x1), min_sigma[1])
        sigma_y = np.maximum(bandwidth * (y2 - y1), min_sigma[0])
        height = (sigma_x * sigma_y) ** -alpha
        profile_x = height * np.exp(
            -0.5 * ((xs - (x1 + x2) / 2) / sigma_x) ** 2
        )
        profile_y = np.exp(-0.5 * ((ys - (y1 + y2) / 2) / sigma_y) ** 2)
        density += profile_y.T @ profile_x
    return density


def _kernel_settings(grid_shape, bandwidth, min_sigma, box_weight):
    """Checked `(gh, gw, bandwidth, min_sigma, alpha)` of the KDE."""
    gh, gw = _grid_shape(grid_shape)
    bandwidth = _positive_float(bandwidth, "bandwidth")
    alpha = box_weight_exponent(box_weight)
    if min_sigma is None:
        min_sigma = (0.5 / (gh - 1), 0.5 / (gw - 1))
    min_sigma = np.broadcast_to(np.asarray(min_sigma, "float64"), (2,))
    if not (np.all(np.isfinite(min_sigma)) and np.all(min_sigma > 0)):
        raise ValueError(
            "`min_sigma` must be positive and finite. "
            f"Received: min_sigma={min_sigma.tolist()}"
        )
    return gh, gw, bandwidth, min_sigma, alpha


def box_weight_exponent(box_weight):
    """The exponent `alpha` of a `box_weight` (`"height"` 0, `"mass"` 1,
    or the non-negative number itself); raises a `ValueError` naming
    `box_weight` otherwise."""
    if isinstance(box_weight, str) and box_weight in BOX_WEIGHTS:
        return BOX_WEIGHTS[box_weight]
    if (
        isinstance(box_weight, numbers.Real)
        and not isinstance(box_weight, bool)
        and np.isfinite(box_weight)
        and box_weight >= 0
    ):
        return float(box_weight)
    raise ValueError(
        '`box_weight` must be "height", "mass" or a non-negative number '
        f"(the power of the box area). Received: box_weight={box_weight!r}"
    )


def normalized_boxes(boxes, image_size=None, bounding_box_format="xyxy"):
    """All rows of `boxes` (any form `saliency_prior_from_boxes` takes) as
    normalized `xyxy` float64 `(N, 4)`, padding rows included; raises a
    `ValueError` for an empty input or a bad shape."""
    if _is_dataset(boxes):
        return _boxes_from_dataset(boxes, bounding_box_format)
    return _boxes_from_arrays(boxes, image_size)


def valid_boxes(normalized):
    """The rows of normalized boxes that are boxes (padding rows with a
    negative coordinate or no area dropped); raises a `ValueError` for no
    rows at all or a coordinate beyond 1."""
    if normalized.shape[0] == 0:
        raise ValueError("`boxes` is empty: the prior needs at least one box.")
    valid = np.all(normalized >= 0, axis=1)
    valid &= normalized[:, 2] > normalized[:, 0]
    valid &= normalized[:, 3] > normalized[:, 1]
    normalized = normalized[valid]
    if normalized.size and normalized.max() > 1 + 1e-3:
        raise ValueError(
            "`boxes` must be normalized to [0, 1]; pixel boxes need "
            f"`image_size`. Received a coordinate of {normalized.max():g}."
        )
    return normalized


def _boxes_from_arrays(boxes, image_size):
    if isinstance(boxes, (list, tuple)):
        if not boxes:
            raise ValueError("`boxes` is an empty list.")
        arrays = [_box_array(b, f"boxes[{k}]") for k, b in enumerate(boxes)]
        boxes = np.concatenate(arrays)
    else:
        boxes = _box_array(boxes, "boxes")
    if image_size is not None:
        size = np.asarray(image_size, "float64")
        if size.shape != (2,) or not np.all(size > 0):
            raise ValueError(
                "`image_size` must be (height, width) with positive values. "
                f"Received: image_size={image_size!r}"
            )
        height, width = size
        # Scale only real boxes so that -1 padding rows stay negative.
        boxes = np.where(
            boxes < 0, boxes, boxes / [width, height, width, height]
        )
    return boxes


def _box_array(boxes, name):
    try:
        array = np.asarray(boxes, "float64")
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a numeric array of shape (N, 4)."
        ) from None
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(
            f"`{name}` must have shape (N, 4) (xyxy boxes). "
            f"Received: shape={array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return array


def _is_dataset(value):
    try:
        import tensorflow as tf
    except ImportError:
        return False
    return isinstance(value, tf.data.Dataset)


def _boxes_from_dataset(dataset, bounding_box_format):
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise ValueError(
            "`bounding_box_format` must be 'xyxy' or 'rel_xyxy' for a "
            f"dataset. Received: {bounding_box_format!r}"
        )
    chunks = []
    for element in dataset:
        images, labels = _split_element(element)
        boxes = _flat(labels["boxes"]).reshape(-1, 4).astype("float64")
        if not np.all(np.isfinite(boxes)):
            raise ValueError(
                "The dataset's boxes contain NaN or infinite values."
            )
        if "classes" in labels:
            classes = _flat(labels["classes"]).reshape(-1)
            boxes = boxes[classes != -1]
        if bounding_box_format == "xyxy":
            height, width = images.shape[-3:-1]
            boxes = np.where(
                boxes < 0, boxes, boxes / [width, height, width, height]
            )
        chunks.append(boxes)
    if not chunks:
        raise ValueError("`boxes` is an empty dataset.")
    return np.concatenate(chunks)


def _split_element(element):
    if isinstance(element, dict) and "bounding_boxes" in element:
        return element["images"], element["bounding_boxes"]
    if (
        isinstance(element, (tuple, list))
        and len(element) >= 2
        and isinstance(element[1], dict)
        and "boxes" in element[1]
    ):
        return element[0], element[1]
    raise ValueError(
        "Dataset elements must be (images, {'boxes': ..., 'classes': ...}) "
        "or {'images': ..., 'bounding_boxes': {...}}. "
        f"Received an element of type {type(element).__name__}."
    )


def _flat(tensor):
    if hasattr(tensor, "flat_values"):
        tensor = tensor.flat_values
    return np.asarray(tensor)


def _grid_shape(grid_shape):
    shape = tuple(grid_shape)
    if len(shape) != 2 or any(
        isinstance(s, bool) or int(s) != s or s < 2 for s in shape
    ):
        raise ValueError(
            "`grid_shape` must be (gh, gw) integers, each at least 2. "
            f"Received: grid_shape={grid_shape!r}"
        )
    return int(shape[0]), int(shape[1])


def _positive_float(value, name):
    if not (np.isfinite(value) and value > 0):
        raise ValueError(
            f"`{name}` must be positive and finite. Received: {value!r}"
        )
    return float(value)
