"""Semantic class masks from COCO instance segmentations (polygons, RLE)."""

import numpy as np

from keras_lzu.extras import import_optional


def coco_semantic_mask(annotations, height, width, category_to_class,
                       background=0, crowd_value=None):
    """Renders one image's COCO segmentations into an integer class mask.

    Each annotation's `"segmentation"` is rasterized with
    `pycocotools.mask`: a polygon list `[[x1, y1, x2, y2, ...], ...]`
    (pixel coordinates), an uncompressed RLE `{"size": [h, w], "counts":
    [int, ...]}` or a compressed RLE (`"counts"` a string). Annotations are
    painted in list order, so where objects overlap the later one wins.
    Crowd annotations (`"iscrowd": 1`, usually RLE) are painted with their
    class like any other, or with `crowd_value` when given (e.g. the
    `ignore_index` of `keras_lzu.evaluation.SegmentationMetrics`, so that
    crowd regions are not scored).

    Args:
        annotations: the COCO annotation dicts of one image.
        height: int, the image height in pixels.
        width: int, the image width in pixels.
        category_to_class: dict `{COCO category id: class value}`, e.g.
            `{1: 1, 2: 2, 5: 3}`; the value painted for that category.
        background: int, the value of pixels no annotation covers.
        crowd_value: optional int painted for crowd annotations instead of
            their class.

    Returns:
        int32 NumPy array `(height, width)`.

    Raises:
        ValueError: an annotation lacks `"segmentation"`, has a category
            missing from `category_to_class`, a polygon of fewer than three
            points, or an RLE whose `"size"` is not `[height, width]`.
        ImportError: pycocotools is missing (`pip install
            'keras-lzu[eval]'`).

    Example:

    >>> square = {"category_id": 3, "segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]]}
    >>> coco_semantic_mask([square], 4, 5, {3: 2})
    array([[0, 0, 0, 0, 0],
           [0, 2, 2, 0, 0],
           [0, 2, 2, 0, 0],
           [0, 0, 0, 0, 0]], dtype=int32)
    """
    mask_api = import_optional("pycocotools.mask", "eval",
                               "Rendering COCO segmentations")
    height, width = _positive(height, "height"), _positive(width, "width")
    rles = [(_class_value(a, category_to_class, crowd_value),
             _annotation_rle(mask_api, a, height, width))
            for a in annotations]
    mask = np.full((height, width), background, "int32")
    for value, rle in rles:
        mask[mask_api.decode(rle).astype(bool)] = value
    return mask


def _class_value(annotation, category_to_class, crowd_value):
    if annotation.get("iscrowd", 0) and crowd_value is not None:
        return int(crowd_value)
    category = annotation.get("category_id")
    if category not in category_to_class:
        raise ValueError(
            f"Annotation {annotation.get('id')!r} has 'category_id' "
            f"{category!r}, which `category_to_class` does not map.")
    return int(category_to_class[category])


def _annotation_rle(mask_api, annotation, height, width):
    """The annotation's segmentation as one compressed RLE."""
    where = f"Annotation {annotation.get('id')!r}"
    segmentation = annotation.get("segmentation")
    if segmentation is None:
        raise ValueError(f"{where} has no 'segmentation'.")
    if isinstance(segmentation, list):
        polygons = [list(map(float, p)) for p in segmentation]
        if not polygons or any(len(p) < 6 or len(p) % 2 for p in polygons):
            raise ValueError(
                f"{where}: 'segmentation' polygons must be lists of at least "
                "three (x, y) points.")
        return mask_api.merge(mask_api.frPyObjects(polygons, height, width))
    if isinstance(segmentation, dict) and {"size", "counts"} <= set(
            segmentation):
        size = [int(v) for v in segmentation["size"]]
        if size != [height, width]:
            raise ValueError(
                f"{where}: the RLE 'segmentation' has 'size' {size}, not the "
                f"image's [{height}, {width}].")
        counts = segmentation["counts"]
        if isinstance(counts, list):
            return mask_api.frPyObjects(segmentation, height, width)
        if isinstance(counts, str):
            counts = counts.encode("ascii")
        return {"size": size, "counts": counts}
    raise ValueError(
        f"{where}: 'segmentation' must be a polygon list or an RLE dict "
        f"with 'size' and 'counts'. Received: {segmentation!r:.80}")


def _positive(value, name):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. "
                         f"Received: {value!r}")
    return int(value)
