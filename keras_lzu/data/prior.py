"""The dataset-wide saliency prior: a kernel density estimate of the boxes.

This is the fixed saliency of the LZU paper (FOVEA's "SD" prior): every
training box adds a Gaussian bump at its centre, as wide as the box, and the
sum, evaluated at the grid's control points, says where in the frame
objects tend to be. Feed it to `SaliencyGrid(mode="fixed", prior=...)`.
"""

import warnings

import numpy as np

_CHUNK = 65536


def saliency_prior_from_boxes(
    boxes,
    grid_shape=(31, 51),
    image_size=None,
    bandwidth=0.5,
    min_sigma=None,
    floor=0.01,
    bounding_box_format="xyxy",
):
    """Kernel density estimate of boxes at the grid's control points.

    Box `n` with normalized centre `(cx, cy)` and size `(w, h)` contributes
    `exp(-((x - cx) / sx)^2 / 2 - ((y - cy) / sy)^2 / 2)` with
    `sx = max(bandwidth * w, min_sigma[1])`,
    `sy = max(bandwidth * h, min_sigma[0])`, evaluated at the control points
    `x_j = j / (gw - 1)`, `y_i = i / (gh - 1)` of docs/conventions.md. Every bump
    has height 1 (not unit mass), so a tiny far object weighs as much as a
    large near one. The density is divided by its maximum, then a uniform
    floor is added and the result rescaled: `(density / max + floor) /
    (1 + floor)`, so the maximum is 1 and no cell is below
    `floor / (1 + floor)`.

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

    Returns:
        A float32 NumPy array `(gh, gw)` with values in `(0, 1]`.

    Example:

    >>> prior = saliency_prior_from_boxes(
    ...     np.array([[0.35, 0.45, 0.45, 0.55]]), grid_shape=(11, 11))
    >>> prior.shape
    (11, 11)
    >>> [int(k) for k in np.unravel_index(prior.argmax(), prior.shape)]
    [5, 4]
    """
    gh, gw = _grid_shape(grid_shape)
    bandwidth = _positive_float(bandwidth, "bandwidth")
    floor = _positive_float(floor, "floor")
    if min_sigma is None:
        min_sigma = (0.5 / (gh - 1), 0.5 / (gw - 1))
    min_sigma = np.broadcast_to(np.asarray(min_sigma, "float64"), (2,))
    if not (np.all(np.isfinite(min_sigma)) and np.all(min_sigma > 0)):
        raise ValueError(
            "`min_sigma` must be positive and finite. "
            f"Received: min_sigma={min_sigma.tolist()}"
        )

    if _is_dataset(boxes):
        normalized = _boxes_from_dataset(boxes, bounding_box_format)
    else:
        normalized = _boxes_from_arrays(boxes, image_size)
    if normalized.shape[0] == 0:
        raise ValueError("`boxes` is empty: the prior needs at least one box.")
    valid = np.all(normalized >= 0, axis=1)
    valid &= normalized[:, 2] > normalized[:, 0]
    valid &= normalized[:, 3] > normalized[:, 1]
    normalized = normalized[valid]
    if normalized.shape[0] == 0:
        warnings.warn(
            "`boxes` has no valid box (all rows are padding or have no "
            "area); returning a uniform saliency prior.",
            stacklevel=2,
        )
        return np.ones((gh, gw), "float32")
    if normalized.max() > 1 + 1e-3:
        raise ValueError(
            "`boxes` must be normalized to [0, 1]; pixel boxes need "
            f"`image_size`. Received a coordinate of {normalized.max():g}."
        )

    density = _box_density(normalized, gh, gw, bandwidth, min_sigma)
    prior = (density / density.max() + floor) / (1 + floor)
    return prior.astype("float32")


def _box_density(boxes, gh, gw, bandwidth, min_sigma):
    xs = np.linspace(0.0, 1.0, gw)
    ys = np.linspace(0.0, 1.0, gh)
    density = np.zeros((gh, gw))
    for start in range(0, boxes.shape[0], _CHUNK):
        x1, y1, x2, y2 = boxes[start : start + _CHUNK].T[:, :, None]
        sigma_x = np.maximum(bandwidth * (x2 - x1), min_sigma[1])
        sigma_y = np.maximum(bandwidth * (y2 - y1), min_sigma[0])
        profile_x = np.exp(-0.5 * ((xs - (x1 + x2) / 2) / sigma_x) ** 2)
        profile_y = np.exp(-0.5 * ((ys - (y1 + y2) / 2) / sigma_y) ** 2)
        density += profile_y.T @ profile_x
    return density


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
