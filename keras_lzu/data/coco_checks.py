"""Checks of a COCO instances file and its images, before any work starts.

Every error names the file and the field at fault, e.g.
`train.json: annotations[12].bbox [10, 5, 0, 4] has no area (width and
height must be positive)`, so that a user can fix the dataset instead of
reading a traceback from the middle of a training run.

`read_coco_annotations` runs the structural checks (`check_coco_content`);
`check_coco_dataset` adds what training needs: boxes with an area and
inside their image, segmentations a segmenter can learn from, and image
files that exist, can be read and have the size the file says.
"""

import json
import math
import os

import tensorflow as tf

from keras_lzu.extras import import_optional

# How far (in pixels) a box may reach past the image border: COCO's own
# boxes sometimes end a fraction of a pixel outside from rounding.
BOX_TOLERANCE = 1.0
TASKS = ("detection", "segmentation")


class CocoFormatError(ValueError):
    """A COCO instances file or one of its images is unusable; the message
    names the file and the field."""


def load_coco_json(annotation_file, argument="annotation_file"):
    """Reads a COCO JSON file.

    Args:
        annotation_file: path of the file.
        argument: how the caller names the path, for the messages (e.g.
            `"--train"`).

    Returns:
        The parsed JSON content.

    Raises:
        FileNotFoundError: the file does not exist.
        CocoFormatError: the file is not valid JSON (with line and column).
    """
    if not tf.io.gfile.exists(annotation_file):
        raise FileNotFoundError(
            f"`{argument}` does not exist: {annotation_file!r}"
        )
    with tf.io.gfile.GFile(annotation_file, "r") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise CocoFormatError(
                f"`{argument}` is not valid JSON: {annotation_file!r} "
                f"({error})"
            ) from None


def check_coco_content(content, annotation_file):
    """Checks the structure of a COCO instances file's content.

    The top level is an object with the lists `images`, `annotations` and
    `categories`; every image has a unique `id`, a `file_name` and positive
    integer `height` and `width`; every category a unique `id`; every
    annotation an `image_id` of a listed image, a `category_id` of a
    listed category and a `bbox` of four finite numbers.

    Args:
        content: the parsed JSON.
        annotation_file: its path, for the messages.

    Raises:
        CocoFormatError: naming the file and the field at fault.
    """
    where = _Where(annotation_file)
    if not isinstance(content, dict):
        where.fail(
            f"is not a COCO instances file: the top level is a "
            f"{type(content).__name__}, not an object"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(content.get(key), list):
            where.fail(
                f"is not a COCO instances file: it has no list named {key!r}"
            )
    image_ids = set()
    for index, image in enumerate(content["images"]):
        field = f"images[{index}]"
        where.check_keys(image, field, ("id", "file_name", "height", "width"))
        if image["id"] in image_ids:
            where.fail(f"{field}.id {image['id']!r} is not unique")
        image_ids.add(image["id"])
        if not isinstance(image["file_name"], str) or not image["file_name"]:
            where.fail(f"{field}.file_name must be a non-empty string")
        for key in ("height", "width"):
            value = image[key]
            if not _is_finite_number(value) or value < 1 or (
                value != int(value)
            ):
                where.fail(
                    f"{field}.{key} must be a positive integer. Received: "
                    f"{value!r}"
                )
    category_ids = set()
    for index, category in enumerate(content["categories"]):
        field = f"categories[{index}]"
        where.check_keys(category, field, ("id",))
        if category["id"] in category_ids:
            where.fail(f"{field}.id {category['id']!r} is not unique")
        category_ids.add(category["id"])
    for index, annotation in enumerate(content["annotations"]):
        field = f"annotations[{index}]"
        where.check_keys(
            annotation, field, ("image_id", "category_id", "bbox")
        )
        bbox = annotation["bbox"]
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(
            _is_finite_number(v) for v in bbox
        ):
            where.fail(
                f"{field}.bbox must be [x, y, width, height], four finite "
                f"numbers. Received: {bbox!r:.80}"
            )
        if annotation["image_id"] not in image_ids:
            where.fail(
                f"{field}.image_id {annotation['image_id']!r} is an unknown "
                "image_id: no entry of 'images' has it"
            )
        if annotation["category_id"] not in category_ids:
            where.fail(
                f"{field}.category_id {annotation['category_id']!r} is not "
                f"in 'categories' (ids {sorted(category_ids, key=str)})"
            )

def check_coco_dataset(annotation_file, image_dir, task="detection",
                       argument="annotation_file"):
    """Checks a COCO dataset for training, before anything is built.

    Beyond `check_coco_content`: the file has at least one image and one
    annotation; every `bbox` has a positive width and height and lies
    inside its image (up to `BOX_TOLERANCE` pixels); for segmentation every
    annotation has a `segmentation` (polygons or RLE of the image's size);
    `image_dir` is a directory; and every image file exists, can be read
    and has the `height` and `width` the file gives (labels are in each
    image's own pixel frame, so a mismatch would misplace them).

    Args:
        annotation_file: path of a COCO instances JSON file.
        image_dir: directory the images' `file_name`s are relative to.
        task: `"detection"` or `"segmentation"`.
        argument: how the caller names `annotation_file`, for the messages.

    Returns:
        The parsed content of the annotation file.

    Raises:
        FileNotFoundError: the annotation file, the image directory or an
            image file is missing.
        CocoFormatError: anything else, naming the file and the field.

    Example:

    >>> content = check_coco_dataset(  # doctest: +SKIP
    ...     "train/instances.json", "train/images")
    >>> len(content["images"])  # doctest: +SKIP
    120
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}. Received: {task!r}")
    content = load_coco_json(annotation_file, argument)
    check_coco_content(content, annotation_file)
    where = _Where(annotation_file)
    if not content["images"]:
        where.fail("has no images")
    if not content["annotations"]:
        where.fail("has no annotations: there is nothing to learn from")
    images = {image["id"]: image for image in content["images"]}
    for index, annotation in enumerate(content["annotations"]):
        image = images[annotation["image_id"]]
        _check_box(annotation["bbox"], image, f"annotations[{index}]", where)
        if task == "segmentation":
            _check_segmentation(annotation, image, f"annotations[{index}]",
                                where)
    _check_image_files(content["images"], image_dir, where)
    return content


def _check_box(bbox, image, field, where):
    x, y, width, height = (float(v) for v in bbox)
    if width <= 0 or height <= 0:
        where.fail(
            f"{field}.bbox {bbox} has no area (width and height must be "
            "positive)"
        )
    if (
        x < -BOX_TOLERANCE
        or y < -BOX_TOLERANCE
        or x + width > image["width"] + BOX_TOLERANCE
        or y + height > image["height"] + BOX_TOLERANCE
    ):
        where.fail(
            f"{field}.bbox {bbox} ([x, y, width, height]) is outside its "
            f"image {image['id']!r} of {image['width']}x{image['height']} "
            "pixels (width x height)"
        )


def _check_segmentation(annotation, image, field, where):
    if "segmentation" not in annotation:
        where.fail(
            f"{field} has no 'segmentation': a segmenter learns from "
            "polygons or RLE masks"
        )
    from keras_lzu.data import coco_masks

    mask_api = import_optional(
        "pycocotools.mask", "eval", "Reading COCO segmentations"
    )
    try:
        coco_masks._annotation_rle(
            mask_api, annotation, image["height"], image["width"]
        )
    except (ValueError, TypeError) as error:
        where.fail(f"{field}.segmentation is unusable: {error}")


def _check_image_files(images, image_dir, where):
    if not tf.io.gfile.isdir(image_dir):
        raise FileNotFoundError(
            f"The image directory of {where.file!r} is not a directory: "
            f"{image_dir!r}"
        )
    pil_image = import_optional("PIL.Image", "train", "Checking images")
    for index, image in enumerate(images):
        field = f"images[{index}].file_name"
        path = os.path.join(image_dir, image["file_name"])
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(
                f"{where.file}: {field} {image['file_name']!r} does not "
                f"exist: {path!r}"
            )
        try:
            with tf.io.gfile.GFile(path, "rb") as f, pil_image.open(f) as im:
                im.verify()
                size = im.size
        except Exception as error:  # PIL raises many types for bad files.
            where.fail(f"{field} {path!r} is not a readable image ({error})")
        if size != (image["width"], image["height"]):
            where.fail(
                f"{field} {path!r} is {size[0]}x{size[1]} pixels (width x "
                f"height), but images[{index}] says "
                f"{image['width']}x{image['height']}"
            )


def _is_finite_number(value):
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


class _Where:
    """Raises errors prefixed with the annotation file's path."""

    def __init__(self, file):
        self.file = os.fspath(file)

    def fail(self, message):
        raise CocoFormatError(f"{self.file}: {message}.")

    def check_keys(self, entry, field, keys):
        if not isinstance(entry, dict):
            self.fail(f"{field} is not an object: {entry!r:.80}")
        missing = [key for key in keys if key not in entry]
        if missing:
            self.fail(f"{field} lacks {missing}: {entry!r:.120}")
