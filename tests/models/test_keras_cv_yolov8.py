"""What the shared family harness does not check for the KerasCV YOLOv8
wrapper: labels and decoded boxes in another `bounding_box_format`, and box
saliency (the family's other checks are in tests/models/test_families.py).

References: the unwrapped detector on `tf.image.resize`d images, with boxes
scaled by NumPy between the caller's frame and the zoomed size.
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from tests.models import keras_cv_builders
from tests.models.conftest import uniform_zoom

pytestmark = pytest.mark.tensorflow_only

OUTPUT_SIZE = (64, 64)
IMAGE_SIZE = (128, 192)
GRID_SHAPE = (9, 13)
FORMAT = "center_xywh"
# `center_xywh` from the caller's frame to the zoomed size.
SCALE = np.array(
    [OUTPUT_SIZE[1] / IMAGE_SIZE[1], OUTPUT_SIZE[0] / IMAGE_SIZE[0]] * 2,
    "float32",
)


@pytest.fixture(scope="module")
def detector():
    keras.utils.set_random_seed(13)
    return keras_cv_builders.yolov8(bounding_box_format=FORMAT)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(4)
    return rng.uniform(0, 1, (2, *IMAGE_SIZE, 3)).astype("float32")


def compile_detector(model):
    model.compile(box_loss="ciou", classification_loss="binary_crossentropy")
    return model


def labels():
    """Two boxes in the first image, one in the second, padded with -1."""
    boxes = np.full((2, 2, 4), -1.0, "float32")
    boxes[0] = [[60, 40, 50, 30], [150, 90, 40, 60]]
    boxes[1, 0] = [96, 64, 80, 70]
    classes = np.array([[0, 2], [1, -1]], "float32")
    return {"boxes": boxes, "classes": classes}


def scaled(y):
    """Labels of `labels()` in the frame of the zoomed size."""
    boxes = np.where(y["classes"][..., None] >= 0, y["boxes"] * SCALE, -1.0)
    return {"boxes": boxes.astype("float32"), "classes": y["classes"]}


def test_loss_on_callers_labels_is_the_base_loss_on_resized_images(
    detector, images
):
    model = compile_detector(keras_lzu.wrap(detector, OUTPUT_SIZE))
    compile_detector(detector)
    resized = np.asarray(uniform_zoom(images, OUTPUT_SIZE))
    ours = model.compute_loss(images, labels(), model(images))
    reference = detector.compute_loss(
        resized, scaled(labels()), detector(resized)
    )
    np.testing.assert_allclose(float(ours), float(reference), rtol=1e-4)
    # The boxes matter: unscaled labels give another loss.
    unscaled = detector.compute_loss(resized, labels(), detector(resized))
    assert abs(float(unscaled) - float(reference)) > 1e-2 * float(reference)


def test_decoded_boxes_are_in_the_callers_frame_and_format(detector, images):
    model = keras_lzu.wrap(detector, OUTPUT_SIZE)
    resized = np.asarray(uniform_zoom(images, OUTPUT_SIZE))
    ours = model.decode_predictions(model(images), images)
    reference = detector.decode_predictions(detector(resized), resized)
    count = np.asarray(reference["num_detections"])
    np.testing.assert_array_equal(ours["num_detections"], count)
    assert np.all(count > 0)
    for b in range(len(count)):
        expected = np.asarray(reference["boxes"])[b, :count[b]] / SCALE
        found = np.asarray(ours["boxes"])[b, :count[b]]
        np.testing.assert_allclose(found, expected, atol=1e-2)
        # Padding rows stay -1.
        np.testing.assert_array_equal(np.asarray(ours["boxes"])[b, count[b]:],
                                      -1.0)


def test_labels_without_classes_are_refused_naming_the_format(
    detector, images
):
    model = compile_detector(keras_lzu.wrap(detector, OUTPUT_SIZE))
    y = labels()
    keras_hub_style = {"boxes": y["boxes"], "labels": y["classes"]}
    with pytest.raises(
        ValueError, match=r"YOLOV8Detector labels must be a dict .*"
        r"center_xywh.*Received: \['boxes', 'labels'\]"
    ):
        model.compute_loss(images, keras_hub_style, model(images))


def padding():
    return np.full((2, 3, 4), -1.0, "float32")


def with_box():
    boxes = padding()
    boxes[0, 0] = [40, 96, 32, 32]  # center_xywh, off the image centre
    return boxes


def test_prior_boxes_steer_the_zoom_and_train_the_box_saliency(
    detector, images
):
    uniform = keras_lzu.wrap(detector, OUTPUT_SIZE, grid_shape=GRID_SHAPE)
    with warnings.catch_warnings():
        # Keras warns when dict inputs are not named as their keys.
        warnings.simplefilter("error")
        model = compile_detector(keras_lzu.wrap(
            detector, OUTPUT_SIZE, saliency="boxes", grid_shape=GRID_SHAPE
        ))
        ours = model({"images": images, "prior_boxes": padding()})
    reference = uniform(images)
    for key in reference:
        np.testing.assert_allclose(ours[key], reference[key], atol=1e-4)
    inputs = {"images": images, "prior_boxes": with_box()}
    # In inference mode: a training call would update the shared detector's
    # batch-norm statistics.
    with tf.GradientTape() as tape:
        zoomed = model(inputs)
        loss = model.compute_loss(inputs, labels(), zoomed)
    # The first image is zoomed on its box, the second is not.
    assert not np.allclose(zoomed["classes"][0], ours["classes"][0])
    np.testing.assert_allclose(zoomed["classes"][1], ours["classes"][1],
                               atol=1e-5)
    gradients = tape.gradient(loss, model.saliency_layer.trainable_weights)
    assert gradients and all(
        np.all(np.isfinite(g)) and np.abs(g).max() > 0 for g in gradients
    )
