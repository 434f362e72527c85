"""Wrapped models reject bad images and labels with an error naming them,
before the model runs into an unrelated failure or trains on garbage.

The checks live in `LZUModelMixin`, shared by every adapter: the generic
adapter (fastest to build) and a KerasHub detector stand for all of them.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from tests.models import keras_hub_builders
from tests.models.conftest import NUM_CLASSES
from tests.models.conftest import tiny_functional_segmenter

pytestmark = pytest.mark.tensorflow_only

OUTPUT_SIZE = (32, 48)
IMAGE_SIZE = (64, 96)
# The tiny segmenter predicts at stride 2 of the zoomed size.
MASK_SIZE = (16, 24)


@pytest.fixture(scope="module")
def segmenter():
    return keras_lzu.wrap(
        tiny_functional_segmenter(), OUTPUT_SIZE, feature_layers=["stem"]
    )


@pytest.fixture(scope="module")
def detector():
    model = keras_lzu.wrap(keras_hub_builders.retinanet(), (64, 64))
    model.compile(run_eagerly=True)
    return model


def images(batch=2, channels=3):
    return np.zeros((batch, *IMAGE_SIZE, channels), "float32")


def masks(class_id):
    y = np.zeros((2, *MASK_SIZE, 1), "int32")
    y[1, 3, 4] = class_id
    return y


@pytest.mark.parametrize("channels", [1, 4])
def test_images_with_another_channel_count_are_rejected(segmenter, channels):
    message = rf"must have 3 channels.*\(1, 64, 96, {channels}\)"
    with pytest.raises(ValueError, match=message):
        segmenter(images(1, channels))
    with pytest.raises(ValueError, match=message):
        segmenter.predict(images(1, channels), verbose=0)


def test_predict_on_no_images_is_rejected(segmenter):
    empty = images(batch=0)
    with pytest.raises(ValueError, match=r"`x` holds no images.*\(0, 64"):
        segmenter.predict(empty, verbose=0)
    with pytest.raises(ValueError, match="`x` holds no images"):
        segmenter.predict_on_batch(empty)
    dataset = tf.data.Dataset.from_tensor_slices(empty).batch(2)
    with pytest.raises(ValueError, match="`x` is an empty dataset"):
        segmenter.predict(dataset, verbose=0)


@pytest.mark.parametrize("class_id", [NUM_CLASSES, -1])
def test_mask_class_ids_outside_num_classes_fail_the_loss_in_a_graph(
    segmenter, class_id
):
    """`fit` traces `compute_loss` into a graph where the masks' values are
    unknown: the check runs with the graph (here one traced loss, as a
    traced train step would compute it, at a fraction of the cost)."""
    segmenter.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    scores = tf.zeros((2, *MASK_SIZE, NUM_CLASSES))
    loss = tf.function(
        lambda y: segmenter.compute_loss(images(), y, scores, None)
    )
    np.testing.assert_allclose(loss(masks(1)), np.log(NUM_CLASSES), rtol=1e-5)
    message = rf"`y` must hold class ids in \[0, {NUM_CLASSES}\)"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loss(masks(class_id))


def test_mask_class_ids_are_checked_before_an_eager_step(segmenter):
    segmenter.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=255
        ),
        run_eagerly=True,
    )
    weights = [w.numpy() for w in segmenter.trainable_weights]
    with pytest.raises(ValueError, match=r"or 255 .*Received: 7$"):
        segmenter.fit(images(), masks(7), verbose=0)
    for before, after in zip(weights, segmenter.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    history = segmenter.fit(images(), masks(255), verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("class_id", [NUM_CLASSES, 7, -2])
def test_detection_class_ids_outside_num_classes_are_rejected(
    detector, class_id
):
    boxes = np.array([[[4, 4, 40, 40], [-1, -1, -1, -1]]] * 2, "float32")
    labels = np.array([[1, -1], [class_id, -1]], "float32")
    message = (
        rf"`labels` must hold class ids in \[0, {NUM_CLASSES}\) "
        rf"\(num_classes={NUM_CLASSES}\) or -1 \(padding\)\. "
        rf"Received: {class_id}$"
    )
    with pytest.raises(ValueError, match=message):
        detector.fit(
            images(), {"boxes": boxes, "labels": labels}, verbose=0
        )
