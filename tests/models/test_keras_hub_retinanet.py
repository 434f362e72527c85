"""`keras_lzu.wrap` of a KerasHub `RetinaNetObjectDetector`.

The references are the unwrapped detector run on images uniformly resized
(`tf.image.resize`) to `output_size`: with a uniform saliency the warp is the
identity, so the wrapped model must compute the same thing, with boxes
scaled from the uniform layout to the caller's frame.

The checks every family shares (identity, caller's frame, fit, `.keras`
round trip, export, bad input) are in `test_families.py`; this module
checks what is particular to RetinaNet: its loss on box labels, decoding
in other box formats, serving and preprocessor.
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
# Images 2x taller and 3x wider than the zoomed size.
IMAGE_SIZE = (128, 192)
SCALE_XYXY = np.array([3.0, 2.0, 3.0, 2.0], "float32")


@pytest.fixture(scope="module")
def detector():
    keras.utils.set_random_seed(7)
    detector = keras_hub_builders.retinanet()
    detector.compile(run_eagerly=True)  # Faster than tracing, for one batch.
    return detector


@pytest.fixture(scope="module")
def wrapped(detector):
    model = keras_lzu.wrap(detector, OUTPUT_SIZE)
    model.compile(run_eagerly=True)
    return model


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return rng.uniform(0, 1, (2, *IMAGE_SIZE, 3)).astype("float32")


def resized(images):
    return uniform_zoom(images, OUTPUT_SIZE)


def labels():
    """Caller-frame xyxy labels with one padding row per image."""
    boxes = np.array(
        [[[30, 20, 120, 90], [-1, -1, -1, -1]],
         [[60, 10, 180, 60], [0, 64, 48, 128]]],
        "float32",
    )
    classes = np.array([[1, -1], [0, 2]], "float32")
    return {"boxes": boxes, "labels": classes}


def test_predict_on_batch_matches_predict(wrapped, images):
    batch = wrapped.predict_on_batch(images)
    full = wrapped.predict(images, verbose=0)
    np.testing.assert_allclose(batch["boxes"], full["boxes"], atol=1e-4)


def test_loss_on_callers_labels_matches_base_on_uniform_labels(
    detector, wrapped, images
):
    y = labels()
    uniform = {
        "boxes": np.where(
            y["labels"][..., None] >= 0, y["boxes"] / SCALE_XYXY, -1.0
        ),
        "labels": y["labels"],
    }
    ours = wrapped.evaluate(images, y, verbose=0, return_dict=True)
    reference = detector.evaluate(
        resized(images), uniform, verbose=0, return_dict=True
    )
    assert reference["bbox_regression_loss"] > 0
    for key in ("bbox_regression_loss", "cls_logits_loss"):
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-3)


def test_infer_traces_with_unknown_size_and_returns_xyxy_pixels():
    keras.utils.set_random_seed(11)
    detector = keras_hub_builders.retinanet(bounding_box_format="yxyx")
    model = keras_lzu.wrap(detector, OUTPUT_SIZE)
    model.compile(run_eagerly=True)
    images = np.random.default_rng(5).uniform(0, 1, (1, 96, 160, 3))
    infer = tf.function(
        model.infer,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
    )
    outputs = infer(tf.constant(images, tf.float32))
    predicted = model.predict(images.astype("float32"), verbose=0)
    assert outputs["boxes"].dtype == tf.float32
    assert outputs["classes"].dtype == tf.int32
    assert outputs["num_detections"].dtype == tf.int32
    count = int(predicted["num_detections"][0])
    yxyx = predicted["boxes"][0, :count]
    np.testing.assert_allclose(
        outputs["boxes"][0, :count], yxyx[:, [1, 0, 3, 2]], atol=1e-3
    )
    np.testing.assert_allclose(
        outputs["scores"][0, :count], predicted["confidence"][0, :count],
        atol=1e-5,
    )


def test_preprocessor_rescales_but_does_not_resize(images):
    converter = keras_hub.layers.RetinaNetImageConverter(
        image_size=(32, 32), scale=1 / 255.0, bounding_box_format="xyxy"
    )
    preprocessor = keras_hub.models.RetinaNetObjectDetectorPreprocessor(
        image_converter=converter
    )
    detector = keras_hub_builders.retinanet(preprocessor=preprocessor)
    model = keras_lzu.wrap(detector, OUTPUT_SIZE)
    model.compile(run_eagerly=True)
    assert model.preprocessor.image_converter.image_size is None
    assert detector.preprocessor.image_converter.image_size == (32, 32)
    pixels = images * 255.0
    ours = model.predict(pixels, verbose=0)
    reference = model.decode_predictions(model(images), images)
    np.testing.assert_allclose(ours["boxes"], reference["boxes"], atol=1e-2)
    served = model.infer(pixels)
    np.testing.assert_allclose(
        served["scores"], ours["confidence"], atol=1e-5
    )
