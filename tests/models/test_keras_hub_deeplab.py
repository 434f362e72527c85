"""`keras_lzu.wrap` of a KerasHub `DeepLabV3ImageSegmenter`.

The reference is the unwrapped segmenter run on images uniformly resized
(`tf.image.resize`) to `output_size`, its scores resized back to the
images' size: with a uniform saliency the warp is the identity, so the
wrapped model must compute the same thing.

The checks every family shares (identity, caller's frame, fit, `.keras`
round trip, export, bad input) are in `test_families.py`; this module
checks what is particular to DeepLab: its loss, serving and preprocessor.
"""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from tests.models import keras_hub_builders
from tests.models.conftest import uniform_zoom

pytestmark = pytest.mark.tensorflow_only

OUTPUT_SIZE = (64, 64)
IMAGE_SIZE = (128, 192)
NUM_CLASSES = 4


@pytest.fixture(scope="module")
def segmenter():
    keras.utils.set_random_seed(5)
    segmenter = keras_hub_builders.deeplab(num_classes=NUM_CLASSES)
    segmenter.compile(run_eagerly=True)  # Faster than tracing, for a batch.
    return segmenter


@pytest.fixture(scope="module")
def wrapped(segmenter):
    model = keras_lzu.wrap(segmenter, OUTPUT_SIZE)
    model.compile(run_eagerly=True)
    return model


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(4)
    return rng.uniform(0, 1, (2, *IMAGE_SIZE, 3)).astype("float32")


def reference_scores(segmenter, images):
    scores = segmenter(uniform_zoom(images, OUTPUT_SIZE), training=False)
    return tf.image.resize(scores, images.shape[1:3]).numpy()


def one_hot_masks(seed=0):
    rng = np.random.default_rng(seed)
    masks = rng.integers(0, NUM_CLASSES, (2, *IMAGE_SIZE))
    return keras.utils.to_categorical(masks, NUM_CLASSES).astype("float32")


def test_loss_is_the_base_loss_in_the_callers_frame(
    segmenter, wrapped, images
):
    masks = one_hot_masks()
    ours = wrapped.evaluate(images, masks, verbose=0, return_dict=True)
    expected = keras.losses.CategoricalCrossentropy(from_logits=True)(
        masks, reference_scores(segmenter, images)
    )
    np.testing.assert_allclose(ours["loss"], expected, rtol=1e-4)


def test_infer_traces_with_unknown_size_and_returns_masks(wrapped):
    images = np.random.default_rng(6).uniform(0, 1, (1, 96, 160, 3))
    images = tf.constant(images, tf.float32)
    infer = tf.function(
        wrapped.infer,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
    )
    masks = infer(images)["masks"]
    assert masks.dtype == tf.int32
    expected = np.argmax(wrapped.predict_on_batch(images), axis=-1)
    np.testing.assert_array_equal(masks, expected)


def test_preprocessor_rescales_but_resizes_neither_images_nor_masks(images):
    converter = keras_hub.layers.DeepLabV3ImageConverter(
        image_size=(32, 32), scale=1 / 255.0
    )
    preprocessor = keras_hub.models.DeepLabV3ImageSegmenterPreprocessor(
        image_converter=converter, resize_output_mask=True
    )
    segmenter = keras_hub_builders.deeplab(preprocessor=preprocessor)
    model = keras_lzu.wrap(segmenter, OUTPUT_SIZE)
    model.compile(run_eagerly=True)
    assert model.preprocessor.image_converter.image_size is None
    assert not model.preprocessor.resize_output_mask
    assert segmenter.preprocessor.image_converter.image_size == (32, 32)
    pixels = images * 255.0
    np.testing.assert_allclose(
        model.predict(pixels, verbose=0), model(images, training=False),
        atol=1e-4,
    )
    np.testing.assert_array_equal(
        model.infer(pixels)["masks"],
        np.argmax(model(images, training=False), axis=-1),
    )
