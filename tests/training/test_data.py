"""The training pipelines of `lzu train`: images of mixed sizes resized to
one canvas with their boxes and masks, checked against NumPy and
`tf.image.resize` of the generator's own images and masks."""

import numpy as np
import pytest
import tensorflow as tf

from keras_lzu.data import SyntheticDrivingScenes
from keras_lzu.training import TrainingConfig
from keras_lzu.training import data
from training_helpers import NUM_CLASSES
from training_helpers import OUTPUT_SIZE
from training_helpers import TRAIN_PARTS
from training_helpers import read_json

pytestmark = pytest.mark.tensorflow_only


def config(coco, task):
    return TrainingConfig(
        task=task, train_annotations=coco.train,
        train_images=coco.train_images, output_size=OUTPUT_SIZE, out="unused",
        batch_size=sum(count for _, count in TRAIN_PARTS), steps=1,
    )


def sources(coco):
    """Each training image's pixels, record and generator sample."""
    content = read_json(coco.train)
    scenes = [SyntheticDrivingScenes(image_size=size, num_classes=NUM_CLASSES,
                                     seed=part, far_object_size=(200, 400))
              for part, (size, _) in enumerate(TRAIN_PARTS)]
    found = []
    for image in content["images"]:
        part = int(image["file_name"][len("part")])
        index = int(image["file_name"].split("_")[-1].split(".")[0])
        sample = scenes[part].sample(index, "train")
        found.append((image, sample))
    return content, found


def match(batch_image, candidates):
    errors = [np.abs(batch_image - c).mean() for c in candidates]
    assert min(errors) < 1e-3, errors
    return int(np.argmin(errors))


def test_the_canvas_is_the_largest_training_image(coco):
    content = read_json(coco.train)
    assert data.choose_canvas(content) == (64, 96)
    assert data.choose_canvas(content, (32, 64)) == (32, 64)


def test_boxes_are_scaled_with_their_image_to_the_canvas(coco):
    content, found = sources(coco)
    canvas = (64, 96)
    images, labels = next(iter(
        data.training_dataset(config(coco, "detection"), canvas, "keras_hub")
    ))
    resized = [tf.image.resize(s["image"].astype("float32"), canvas).numpy()
               for _, s in found]
    seen = set()
    for i in range(images.shape[0]):
        k = match(images[i].numpy(), resized)
        seen.add(k)
        image, sample = found[k]
        scale = np.array([canvas[1] / image["width"],
                          canvas[0] / image["height"]] * 2)
        n = len(sample["boxes"])
        np.testing.assert_allclose(labels["boxes"][i, :n],
                                   sample["boxes"] * scale, rtol=1e-5)
        np.testing.assert_array_equal(labels["labels"][i, :n],
                                      sample["classes"])
        assert np.all(labels["labels"][i, n:] == -1)
    assert seen == set(range(len(found)))


def test_masks_are_the_generator_masks_resized_to_the_canvas(coco):
    content, found = sources(coco)
    canvas = (64, 96)
    images, masks = next(iter(
        data.training_dataset(config(coco, "segmentation"), canvas,
                              "keras_hub")
    ))
    resized = [tf.image.resize(s["image"].astype("float32"), canvas).numpy()
               for _, s in found]
    for i in range(images.shape[0]):
        _, sample = found[match(images[i].numpy(), resized)]
        expected = tf.image.resize(sample["mask"][..., None], canvas,
                                   method="nearest").numpy()
        np.testing.assert_array_equal(masks[i], expected)

