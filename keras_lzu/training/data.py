"""The training data of `lzu train`: checked COCO datasets, the canvas that
mixed image sizes are batched at, the `tf.data` pipelines and the prior.

Mixed image sizes: training images are resized (bilinear) to one canvas,
by default the size of the largest training image (by area, so no image
loses detail), and their boxes or masks are scaled with them; the model
then zooms (or, for `"uniform"`, resizes) the canvas to `output_size`.
Validation images are never resized: the wrapped model takes each image at
its own size and returns boxes or masks in its own frame, which is where
the COCO metrics are computed.
"""

import dataclasses

import numpy as np

from keras_lzu.data import coco_checks


@dataclasses.dataclass
class CheckedDatasets:
    """The checked contents of the training and validation files.

    Attributes:
        train: parsed training annotations.
        val: parsed validation annotations, or `None`.
        category_ids: the training categories' ids, ascending (class `k` of
            a detector, class `k + 1` of a segmenter, is `category_ids[k]`).
        class_names: their names.
    """

    train: dict
    val: dict
    category_ids: list
    class_names: list

    @property
    def num_train_images(self):
        return len(self.train["images"])


def check_datasets(config):
    """Checks the training (and validation) dataset of a `TrainingConfig`.

    Runs `keras_lzu.data.check_coco_dataset` on both (files, JSON, fields,
    boxes, segmentations for segmentation, image files and sizes) and checks
    that the validation file has the training file's categories.

    Returns:
        A `CheckedDatasets`.

    Raises:
        FileNotFoundError, keras_lzu.data.CocoFormatError: naming the file
            and the field.
    """
    train = coco_checks.check_coco_dataset(
        config.train_annotations, config.train_images, config.task,
        argument="train_annotations (--train)",
    )
    val = None
    if config.val_annotations is not None:
        val = coco_checks.check_coco_dataset(
            config.val_annotations, config.val_images, config.task,
            argument="val_annotations (--val)",
        )
        train_ids = sorted(c["id"] for c in train["categories"])
        val_ids = sorted(c["id"] for c in val["categories"])
        if train_ids != val_ids:
            raise coco_checks.CocoFormatError(
                f"{config.val_annotations}: categories has ids {val_ids}, "
                f"but the training file {config.train_annotations} has "
                f"{train_ids}: the model's classes are the training "
                "categories, so both files need the same ones."
            )
    categories = sorted(train["categories"], key=lambda c: c["id"])
    return CheckedDatasets(
        train=train,
        val=val,
        category_ids=[c["id"] for c in categories],
        class_names=[c.get("name", str(c["id"])) for c in categories],
    )


def choose_canvas(content, canvas=None):
    """The `(height, width)` training images are batched at: `canvas` if
    given, else the size of the largest image of `content` (by area; the
    first of equal ones)."""
    if canvas is not None:
        return tuple(canvas)
    largest = max(
        content["images"], key=lambda image: image["height"] * image["width"]
    )
    return int(largest["height"]), int(largest["width"])


def box_prior(content, floor):
    """The KDE saliency prior of the boxes of `content` (crowd boxes left
    out), each box normalized by its own image's size, with a uniform
    `floor` relative to its peak."""
    from keras_lzu.data import saliency_prior_from_boxes

    return saliency_prior_from_boxes(training_boxes(content), floor=floor)


def warp_plan(content, canvas, output_size, target_size):
    """`keras_lzu.plan_warp` of the boxes of `content` (as `box_prior`
    takes them) for `canvas -> output_size`; raises a `ValueError` saying
    what to do when `output_size` exceeds the canvas."""
    from keras_lzu.planning import plan_warp

    if output_size[0] > canvas[0] or output_size[1] > canvas[1]:
        raise ValueError(
            f"`output_size` {tuple(output_size)} exceeds the training "
            f"canvas {tuple(canvas)} on a side: plan='auto' (--plan auto) "
            "plans a budget below the canvas. Use plan='none' (--plan "
            "none) for the fixed KDE prior, or a smaller output_size."
        )
    return plan_warp(training_boxes(content), canvas, output_size,
                     target_size=target_size, bounding_box_format="rel_xyxy")


def training_boxes(content):
    """The non-crowd boxes of `content` as normalized `xyxy` `(N, 4)`,
    each by its own image's size, clipped to `[0, 1]`."""
    sizes = {image["id"]: (image["width"], image["height"])
             for image in content["images"]}
    boxes = []
    for annotation in content["annotations"]:
        if annotation.get("iscrowd", 0):
            continue
        width, height = sizes[annotation["image_id"]]
        x, y, w, h = (float(v) for v in annotation["bbox"])
        boxes.append((x / width, y / height, (x + w) / width,
                      (y + h) / height))
    if not boxes:
        raise coco_checks.CocoFormatError(
            "The training file has only crowd annotations: "
            'saliency="prior" needs boxes.'
        )
    return np.clip(np.asarray(boxes), 0.0, 1.0)


def steps_per_pass(num_images, batch_size):
    """Steps of one pass over `num_images` images (the last batch runs on
    into the next pass)."""
    return max(1, -(-num_images // batch_size))


def training_dataset(config, canvas, library):
    """The endless, shuffled training `tf.data.Dataset` of a config.

    Detection: `(images, {"boxes", "labels"})` for KerasHub,
    `(images, {"boxes", "classes"})` for KerasCV, boxes pixel `xyxy` in the
    canvas, padding rows -1. Segmentation: `(images, masks)`, masks
    `(B, H, W, 1)` with 0 for background, `k + 1` for class `k` and
    `CROWD_VALUE` on crowd regions. Batches are `config.batch_size` images
    (never fewer); with several workers each takes its share of the
    batches (`AutoShardPolicy.DATA`).
    """
    import tensorflow as tf

    from keras_lzu.data import load_coco_dataset
    from keras_lzu.data import load_coco_segmentation_dataset

    common = dict(
        batch_size=config.batch_size, shuffle=True, seed=config.seed,
        image_size=canvas, drop_remainder=True, repeat=True,
    )
    if config.task == "segmentation":
        dataset = load_coco_segmentation_dataset(
            config.train_annotations, config.train_images, **common
        )
    else:
        dataset = load_coco_dataset(
            config.train_annotations, config.train_images,
            bounding_box_format="xyxy", **common,
        )
        if library == "keras_hub":
            dataset = dataset.map(
                lambda images, labels: (
                    images,
                    {"boxes": labels["boxes"], "labels": labels["classes"]},
                )
            )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)
