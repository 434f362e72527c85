"""COCO-format detection data as a `tf.data` pipeline for KerasCV models.

The element structure is the one KerasCV 0.9's `RetinaNet.fit()` expects:
`(images, {"boxes": boxes, "classes": classes})` with float32 images in
`[0, 255]`, boxes in pixel coordinates of the (possibly resized) image in the
requested `bounding_box_format`, and classes as float32. By default boxes and
classes are dense and padded with -1 (the padding value of
`keras_cv.bounding_box.to_dense`), so every batch has a static shape.
"""

import os

import numpy as np
import tensorflow as tf

from keras_lzu.data import coco_checks

BOX_FORMATS = (
    "xyxy",
    "rel_xyxy",
    "xywh",
    "rel_xywh",
    "yxyx",
    "rel_yxyx",
    "center_xywh",
    "center_yxhw",
)
PADDING_VALUE = -1.0


def read_coco_annotations(annotation_file, include_crowd=False):
    """Reads a COCO `instances` JSON file into per-image NumPy records.

    Category ids are mapped to contiguous class indices `0 .. K-1` in sorted
    id order (COCO's ids 1, 2, 3, 5, ... become 0, 1, 2, 3, ...). Boxes with
    no area are dropped; crowd annotations (`iscrowd=1`) are dropped unless
    `include_crowd`. Images without annotations are kept with zero boxes.

    Args:
        annotation_file: path of the JSON file.
        include_crowd: bool, keep annotations marked `iscrowd=1`.

    Returns:
        A dict with `"images"`, a list (in file order) of dicts with keys
        `"id"`, `"file_name"`, `"height"`, `"width"`, `"boxes"` (float32
        `(N, 4)` pixel `xyxy`) and `"classes"` (int32 `(N,)`);
        `"category_ids"`, the sorted COCO ids (class `k` is
        `category_ids[k]`); and `"category_names"`, their names.

    Example:

    >>> records = read_coco_annotations("instances.json")  # doctest: +SKIP
    >>> records["images"][0]["boxes"].shape  # doctest: +SKIP
    (7, 4)
    """
    content = coco_checks.load_coco_json(annotation_file)
    coco_checks.check_coco_content(content, annotation_file)

    categories = sorted(content["categories"], key=lambda c: c["id"])
    category_ids = [c["id"] for c in categories]
    class_of = {category_id: k for k, category_id in enumerate(category_ids)}

    images = []
    index_of = {}
    for image in content["images"]:
        index_of[image["id"]] = len(images)
        images.append(
            {
                "id": image["id"],
                "file_name": image["file_name"],
                "height": int(image["height"]),
                "width": int(image["width"]),
                "boxes": [],
                "classes": [],
            }
        )
    for annotation in content["annotations"]:
        if annotation.get("iscrowd", 0) and not include_crowd:
            continue
        x, y, w, h = (float(v) for v in annotation["bbox"])
        if w <= 0 or h <= 0:
            continue
        record = images[index_of[annotation["image_id"]]]
        record["boxes"].append((x, y, x + w, y + h))
        record["classes"].append(class_of[annotation["category_id"]])
    for record in images:
        record["boxes"] = np.asarray(record["boxes"], "float32").reshape(-1, 4)
        record["classes"] = np.asarray(record["classes"], "int32")
    return {
        "images": images,
        "category_ids": category_ids,
        "category_names": [c.get("name", str(c["id"])) for c in categories],
    }


def load_coco_dataset(
    annotation_file,
    image_dir,
    batch_size=8,
    shuffle=True,
    seed=None,
    image_size=None,
    bounding_box_format="xyxy",
    max_boxes=None,
    ragged=False,
    include_crowd=False,
    drop_remainder=False,
    repeat=False,
):
    """Builds a batched `tf.data.Dataset` of COCO detection data.

    Elements are `(images, {"boxes": boxes, "classes": classes})`:

    * images: float32 `(B, H, W, 3)` with values in `[0, 255]`;
    * boxes: float32 `(B, max_boxes, 4)` in `bounding_box_format`, in pixels
      of the (resized) image unless the format is relative (`rel_*`);
    * classes: float32 `(B, max_boxes)`, contiguous indices `0 .. K-1` in
      sorted COCO category id order (see `read_coco_annotations`).

    Padding rows of `boxes` and `classes` are -1, as with
    `keras_cv.bounding_box.to_dense`. With `ragged=True`, boxes and classes
    are `tf.RaggedTensor`s `(B, None, 4)` and `(B, None)` instead.

    Args:
        annotation_file: path of a COCO `instances` JSON file.
        image_dir: directory the images' `file_name`s are relative to.
        batch_size: int, images per batch.
        shuffle: bool, shuffle the images (each epoch anew).
        seed: optional int; with a seed the shuffled order is deterministic
            (two datasets built with the same seed yield the same batches).
        image_size: optional `(height, width)`; images are resized
            (bilinear) to it and boxes scaled accordingly. If `None`, all
            images must have the same size.
        bounding_box_format: one of `BOX_FORMATS`, as in KerasCV.
        max_boxes: int, rows of the dense boxes; images with more boxes keep
            their first `max_boxes`. Defaults to the largest number of boxes
            of any image in the file.
        ragged: bool, return ragged boxes and classes instead of padding.
        include_crowd: bool, keep `iscrowd=1` annotations.
        drop_remainder: bool, drop the last batch if it is smaller.
        repeat: bool, repeat the images endlessly (reshuffled each pass
            when `shuffle`), so that batches run across passes and none is
            short; for training by steps.

    Returns:
        A prefetched `tf.data.Dataset`.

    Example:

    >>> dataset = load_coco_dataset(  # doctest: +SKIP
    ...     "annotations/instances_val2017.json", "val2017",
    ...     batch_size=4, image_size=(600, 960), seed=0)
    >>> images, labels = next(iter(dataset))  # doctest: +SKIP
    >>> images.shape, labels["boxes"].shape  # doctest: +SKIP
    (TensorShape([4, 600, 960, 3]), TensorShape([4, 63, 4]))
    """
    _check_box_format(bounding_box_format)
    batch_size = _positive_int(batch_size, "batch_size")
    if image_size is not None:
        image_size = _image_size(image_size)
    if not tf.io.gfile.isdir(image_dir):
        raise FileNotFoundError(
            f"`image_dir` is not a directory: {image_dir!r}"
        )
    records = read_coco_annotations(annotation_file, include_crowd)["images"]
    if not records:
        raise ValueError(
            f"`annotation_file` {annotation_file!r} has no images."
        )
    paths = [os.path.join(image_dir, r["file_name"]) for r in records]
    _check_files_exist(paths, image_dir)
    sizes = {(r["height"], r["width"]) for r in records}
    if image_size is None and len(sizes) > 1:
        raise ValueError(
            "Images of different sizes cannot be batched: pass `image_size` "
            f"to resize them. Found sizes (height, width): {sorted(sizes)[:5]}"
        )
    counts = [len(r["classes"]) for r in records]
    if max_boxes is None:
        max_boxes = max(max(counts), 1)
    max_boxes = _positive_int(max_boxes, "max_boxes")

    splits = np.concatenate([[0], np.cumsum(counts)]).astype("int64")
    all_boxes = tf.constant(
        np.concatenate([r["boxes"] for r in records]).reshape(-1, 4)
    )
    all_classes = tf.constant(np.concatenate([r["classes"] for r in records]))
    splits = tf.constant(splits)
    paths = tf.constant(paths)
    static_shape = (image_size or next(iter(sizes))) + (3,)

    def load(index):
        image = tf.io.decode_image(
            tf.io.read_file(paths[index]), channels=3, expand_animations=False
        )
        boxes = all_boxes[splits[index] : splits[index + 1]]
        classes = all_classes[splits[index] : splits[index + 1]]
        image = tf.cast(image, "float32")
        if image_size is not None:
            boxes = scale_boxes(boxes, tf.shape(image)[:2], image_size)
            image = tf.image.resize(image, image_size, method="bilinear")
        image = tf.ensure_shape(image, static_shape)
        return detection_example(
            image, boxes, classes, bounding_box_format, max_boxes, ragged
        )

    dataset = tf.data.Dataset.range(len(records))
    if shuffle:
        dataset = dataset.shuffle(
            len(records), seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return batch_detection_dataset(dataset, batch_size, ragged, drop_remainder)


def scale_boxes(boxes, from_size, to_size):
    """Scales pixel `xyxy` boxes from an image size `(h, w)` to another."""
    from_size = tf.cast(from_size, "float32")
    to_size = tf.cast(to_size, "float32")
    scale_y, scale_x = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return boxes * tf.stack([scale_x, scale_y, scale_x, scale_y])


def detection_example(
    image,
    boxes,
    classes,
    bounding_box_format="xyxy",
    max_boxes=None,
    ragged=False,
):
    """Formats one image's pixel `xyxy` boxes as a KerasCV training example.

    Args:
        image: float32 `(H, W, 3)` image with a static shape.
        boxes: float32 `(N, 4)` pixel `xyxy` boxes.
        classes: integer `(N,)` class indices.
        bounding_box_format: one of `BOX_FORMATS`.
        max_boxes: int, the padded number of rows (dense output); extra
            boxes are dropped. Ignored when `ragged`.
        ragged: bool, keep `(N, 4)` and `(N,)` for `ragged_batch`.

    Returns:
        `(image, {"boxes": boxes, "classes": classes})`, boxes and classes
        float32 and padded with -1 to `max_boxes` rows unless `ragged`.
    """
    boxes = convert_xyxy_boxes(
        tf.cast(boxes, "float32"), bounding_box_format, tf.shape(image)[:2]
    )
    classes = tf.cast(classes, "float32")
    if not ragged:
        boxes = _pad_rows(boxes[:max_boxes], max_boxes)
        classes = _pad_rows(classes[:max_boxes], max_boxes)
    return image, {"boxes": boxes, "classes": classes}


def batch_detection_dataset(dataset, batch_size, ragged, drop_remainder):
    """Batches examples of `detection_example` (ragged or dense), prefetched."""
    if ragged:
        dataset = dataset.ragged_batch(
            batch_size, drop_remainder=drop_remainder
        )
    else:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def convert_xyxy_boxes(boxes, bounding_box_format, image_size):
    """Converts pixel `xyxy` boxes `(..., 4)` to a KerasCV box format.

    Args:
        boxes: float32 tensor `(..., 4)` of pixel `xyxy` boxes.
        bounding_box_format: one of `BOX_FORMATS`; `rel_*` formats divide by
            the image size.
        image_size: `(height, width)` of the image the boxes are in.

    Returns:
        A float32 tensor of the same shape.
    """
    _check_box_format(bounding_box_format)
    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
    if bounding_box_format.startswith("rel_"):
        height = tf.cast(image_size[0], boxes.dtype)
        width = tf.cast(image_size[1], boxes.dtype)
        x1, x2, y1, y2 = x1 / width, x2 / width, y1 / height, y2 / height
    name = bounding_box_format.removeprefix("rel_")
    columns = {
        "xyxy": (x1, y1, x2, y2),
        "xywh": (x1, y1, x2 - x1, y2 - y1),
        "yxyx": (y1, x1, y2, x2),
        "center_xywh": ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1),
        "center_yxhw": ((y1 + y2) / 2, (x1 + x2) / 2, y2 - y1, x2 - x1),
    }[name]
    return tf.stack(columns, axis=-1)


def xyxy_from_boxes(boxes, bounding_box_format, image_size):
    """Converts boxes `(..., 4)` of a KerasCV box format to pixel `xyxy`:
    the inverse of `convert_xyxy_boxes` (same arguments)."""
    _check_box_format(bounding_box_format)
    a, b, c, d = tf.unstack(tf.cast(boxes, "float32"), axis=-1)
    name = bounding_box_format.removeprefix("rel_")
    x1, y1, x2, y2 = {
        "xyxy": (a, b, c, d),
        "xywh": (a, b, a + c, b + d),
        "yxyx": (b, a, d, c),
        "center_xywh": (a - c / 2, b - d / 2, a + c / 2, b + d / 2),
        "center_yxhw": (b - d / 2, a - c / 2, b + d / 2, a + c / 2),
    }[name]
    if bounding_box_format.startswith("rel_"):
        height = tf.cast(image_size[0], "float32")
        width = tf.cast(image_size[1], "float32")
        x1, x2, y1, y2 = x1 * width, x2 * width, y1 * height, y2 * height
    return tf.stack([x1, y1, x2, y2], axis=-1)


def _pad_rows(values, rows):
    padding = [[0, rows - tf.shape(values)[0]]] + [[0, 0]] * (
        values.shape.rank - 1
    )
    padded = tf.pad(values, padding, constant_values=PADDING_VALUE)
    return tf.ensure_shape(padded, (rows,) + tuple(values.shape[1:]))


def _check_box_format(bounding_box_format):
    if bounding_box_format not in BOX_FORMATS:
        raise ValueError(
            f"Unknown `bounding_box_format`: {bounding_box_format!r}. "
            f"Expected one of {BOX_FORMATS}."
        )


def _check_files_exist(paths, image_dir):
    present = set(tf.io.gfile.listdir(image_dir))
    for path in paths:
        name = os.path.relpath(path, image_dir)
        if name not in present and not tf.io.gfile.exists(path):
            raise FileNotFoundError(
                f"Image file listed in the annotations is missing: {path!r}"
            )


def _positive_int(value, name):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {value!r}"
        )
    return int(value)


def _image_size(image_size):
    size = tuple(image_size)
    if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
        raise ValueError(
            "`image_size` must be (height, width) with positive integers. "
            f"Received: image_size={image_size!r}"
        )
    return tuple(int(s) for s in size)
