"""Small models and data for the adapter tests.

Backbones are tiny ResNets built directly (no presets: nothing can be
downloaded). The base models are session-scoped: wrapping shares their
layers, so a test that trains a wrapped model also changes its base, and
every comparison is made against the base as it is at that moment.
"""

import os

import keras
import numpy as np
import pytest

OUTPUT_SIZE = (64, 96)
NUM_CLASSES = 3


def tiny_resnet_backbone():
    """A 4-stage ResNet (strides 4..32) with 8..64 filters."""
    import keras_cv

    return keras_cv.models.ResNetBackbone(
        stackwise_filters=[8, 16, 32, 64],
        stackwise_blocks=[1, 1, 1, 1],
        stackwise_strides=[1, 2, 2, 2],
        include_rescaling=True,
        block_type="block",
    )


def tiny_retinanet(bounding_box_format="xyxy"):
    """A KerasCV RetinaNet whose decoder keeps every box (no confidence
    threshold), so that predictions are never empty."""
    import keras_cv

    keras.utils.set_random_seed(7)
    return keras_cv.models.RetinaNet(
        num_classes=NUM_CLASSES,
        bounding_box_format=bounding_box_format,
        backbone=tiny_resnet_backbone(),
        prediction_decoder=keras_cv.layers.NonMaxSuppression(
            bounding_box_format=bounding_box_format,
            from_logits=True,
            confidence_threshold=0.0,
            max_detections=10,
            # KerasCV's NMS compares float16 scores with float32 thresholds.
            dtype="float32",
        ),
    )


def tiny_deeplab():
    import keras_cv

    keras.utils.set_random_seed(7)
    return keras_cv.models.DeepLabV3Plus(
        num_classes=NUM_CLASSES,
        backbone=tiny_resnet_backbone(),
        projection_filters=8,
    )


def tiny_functional_segmenter():
    """Two strided convolutions, a skip connection and a 1x1 head."""
    keras.utils.set_random_seed(7)
    images = keras.Input((None, None, 3), name="images")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(images)
    stem = keras.layers.Conv2D(
        8, 3, strides=2, padding="same", activation="relu", name="stem"
    )(x)
    down = keras.layers.Conv2D(
        16, 3, strides=2, padding="same", activation="relu", name="down"
    )(stem)
    up = keras.layers.UpSampling2D(2, interpolation="bilinear", name="up")(down)
    merged = keras.layers.Concatenate(name="merge")([up, stem])
    scores = keras.layers.Conv2D(NUM_CLASSES, 1, name="head")(merged)
    return keras.Model(images, scores, name="tiny_segmenter")


def compact_retinanet():
    """The benchmarks' compact detector (`benchmarks.harness`: custom
    pyramid and heads) at tiny widths, with a decoder that keeps up to 10
    boxes of any confidence."""
    from benchmarks import harness

    return harness.build_retinanet(
        NUM_CLASSES, seed=7, filters=(8, 8, 16, 16), head_filters=8,
        max_detections=10, min_confidence=0.0,
    )


def uniform_zoom(images, size):
    """What a model wrapped with a uniform saliency and the default
    `antialias` zooms `images` to: TensorFlow's area resize when the
    default zoom averages over footprints, its bilinear resize otherwise
    (the unzooms of an identity warp map each feature pixel onto itself
    either way)."""
    import tensorflow as tf

    from keras_lzu.models import DEFAULT_ANTIALIAS
    from keras_lzu.models import antialiasing

    if antialiasing.zoom_averages(DEFAULT_ANTIALIAS):
        return tf.image.resize(images, size, method="area")
    return tf.image.resize(images, size, antialias=False)


def square_images(batch, size, seed=0):
    """Noise images (0..255) with one bright square each, and the squares'
    pixel `xyxy` boxes."""
    rng = np.random.default_rng(seed)
    height, width = size
    images = rng.uniform(0, 60, (batch, height, width, 3)).astype("float32")
    boxes = np.zeros((batch, 1, 4), "float32")
    for b in range(batch):
        side_y, side_x = height // 3, width // 3
        y0 = int(rng.integers(0, height - side_y))
        x0 = int(rng.integers(0, width - side_x))
        images[b, y0:y0 + side_y, x0:x0 + side_x] = 230.0
        boxes[b, 0] = (x0, y0, x0 + side_x, y0 + side_y)
    return images, boxes


@pytest.fixture(scope="session")
def retinanet_base():
    return tiny_retinanet()


@pytest.fixture(scope="session")
def deeplab_base():
    return tiny_deeplab()


@pytest.fixture(scope="session")
def compact_retinanet_base():
    return compact_retinanet()


@pytest.fixture
def functional_segmenter():
    return tiny_functional_segmenter()


@pytest.fixture
def tmp_keras_path(tmp_path):
    return os.path.join(tmp_path, "model.keras")
