"""COCO instance segmentations as a `tf.data` pipeline of semantic masks.

Elements are `(images, masks)`: float32 images `(B, H, W, 3)` in
`[0, 255]` and int32 masks `(B, H, W, 1)` with 0 for background and `k + 1`
for the `k`-th category in ascending id order, the class numbering of
`keras_lzu.evaluation.evaluate_on_coco`. Masks are rendered from the
annotations' polygons or RLEs (`coco_semantic_mask`) when an element is
loaded, so a large dataset is never held in memory.
"""

import os

import tensorflow as tf

from keras_lzu.data import coco
from keras_lzu.data import coco_checks
from keras_lzu.data.coco_masks import coco_semantic_mask

# The mask value of crowd regions: `SparseCategoricalCrossentropy(
# ignore_class=CROWD_VALUE)` leaves them out of the loss, as
# `evaluate_on_coco` leaves them out of the score.
CROWD_VALUE = -1


def load_coco_segmentation_dataset(
    annotation_file,
    image_dir,
    batch_size=8,
    shuffle=True,
    seed=None,
    image_size=None,
    drop_remainder=False,
    repeat=False,
    crowd_value=CROWD_VALUE,
):
    """Builds a batched `tf.data.Dataset` of images and semantic masks.

    Args:
        annotation_file: path of a COCO instances JSON file whose
            annotations have `segmentation`s (polygons or RLE).
        image_dir: directory the images' `file_name`s are relative to.
        batch_size: int, images per batch.
        shuffle: bool, shuffle the images (each pass anew).
        seed: optional int, makes the shuffled order deterministic.
        image_size: optional `(height, width)`; images are resized to it
            (bilinear) and masks with nearest neighbours. If `None`, all
            images must have the same size.
        drop_remainder: bool, drop the last batch if it is smaller.
        repeat: bool, repeat the images endlessly (see `load_coco_dataset`).
        crowd_value: int, the mask value of crowd annotations.

    Returns:
        A prefetched `tf.data.Dataset` of `(images, masks)`.

    Example:

    >>> dataset = load_coco_segmentation_dataset(  # doctest: +SKIP
    ...     "train/instances.json", "train/images", batch_size=2,
    ...     image_size=(240, 384))
    >>> images, masks = next(iter(dataset))  # doctest: +SKIP
    >>> masks.shape  # doctest: +SKIP
    TensorShape([2, 240, 384, 1])
    """
    batch_size = coco._positive_int(batch_size, "batch_size")
    if image_size is not None:
        image_size = coco._image_size(image_size)
    if not tf.io.gfile.isdir(image_dir):
        raise FileNotFoundError(
            f"`image_dir` is not a directory: {image_dir!r}"
        )
    content = coco_checks.load_coco_json(annotation_file)
    coco_checks.check_coco_content(content, annotation_file)
    images = content["images"]
    if not images:
        raise ValueError(
            f"`annotation_file` {annotation_file!r} has no images."
        )
    category_ids = sorted(c["id"] for c in content["categories"])
    class_of = {
        category_id: k + 1 for k, category_id in enumerate(category_ids)
    }
    annotations = {image["id"]: [] for image in images}
    for annotation in content["annotations"]:
        annotations[annotation["image_id"]].append(annotation)
    paths = [os.path.join(image_dir, image["file_name"]) for image in images]
    coco._check_files_exist(paths, image_dir)
    sizes = {(int(image["height"]), int(image["width"])) for image in images}
    if image_size is None and len(sizes) > 1:
        raise ValueError(
            "Images of different sizes cannot be batched: pass `image_size` "
            f"to resize them. Found sizes (height, width): {sorted(sizes)[:5]}"
        )

    def render(index):
        image = images[int(index)]
        return coco_semantic_mask(
            annotations[image["id"]], int(image["height"]),
            int(image["width"]), class_of, crowd_value=crowd_value,
        )

    paths = tf.constant(paths)
    static_size = image_size or next(iter(sizes))

    def load(index):
        image = tf.io.decode_image(
            tf.io.read_file(paths[index]), channels=3, expand_animations=False
        )
        image = tf.cast(image, "float32")
        mask = tf.numpy_function(render, [index], tf.int32, stateful=False)
        mask = tf.reshape(mask, tf.concat([tf.shape(image)[:2], [1]], 0))
        if image_size is not None:
            image = tf.image.resize(image, image_size, method="bilinear")
            mask = tf.image.resize(mask, image_size, method="nearest")
        return (
            tf.ensure_shape(image, static_size + (3,)),
            tf.ensure_shape(mask, static_size + (1,)),
        )

    dataset = tf.data.Dataset.range(len(images))
    if shuffle:
        dataset = dataset.shuffle(
            len(images), seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)

