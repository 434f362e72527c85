"""`keras_lzu.wrap` of a KerasHub `RetinaNetObjectDetector`.

The references are the unwrapped detector run on images uniformly resized
(`tf.image.resize`) to `output_size`: with a uniform saliency the warp is the
identity, so the wrapped model must compute the same thing, with boxes
scaled from the uniform layout to the caller's frame.
"""

import sys

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.models import DEFAULT_ANTIALIAS
from keras_lzu.models import keras_hub_retinanet
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


def test_wrap_returns_a_retinanet_object_detector(detector, wrapped):
    assert isinstance(wrapped, keras_hub.models.RetinaNetObjectDetector)
    assert keras_hub_retinanet.matches(detector)
    assert not keras_hub_retinanet.matches(wrapped)
    assert wrapped.lzu_metadata == {
        "task": "detection",
        "output_size": [64, 64],
        "num_classes": 3,
        "bounding_box_format": "xyxy",
        "antialias": DEFAULT_ANTIALIAS,
    }


def test_matches_does_not_import_keras_hub_for_other_models(monkeypatch):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    # Any `import keras_hub` now raises ImportError.
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    assert not keras_hub_retinanet.matches(model)


def test_raw_outputs_match_base_model_on_resized_images(
    detector, wrapped, images
):
    ours = wrapped(images)
    reference = detector(resized(images))
    for key in ("bbox_regression", "cls_logits"):
        np.testing.assert_allclose(ours[key], reference[key], atol=1e-4)


def test_predicted_boxes_are_in_the_callers_frame(detector, wrapped, images):
    ours = wrapped.predict(images, verbose=0)
    reference = detector.predict(resized(images), verbose=0)
    np.testing.assert_array_equal(
        ours["num_detections"], reference["num_detections"]
    )
    assert np.all(ours["num_detections"] > 0)
    for b, count in enumerate(reference["num_detections"]):
        # Near-equal scores may swap places: match boxes as sets.
        expected = reference["boxes"][b, :count] * SCALE_XYXY
        found = ours["boxes"][b, :count]
        distance = np.abs(found[:, None] - expected[None]).max(axis=-1)
        np.testing.assert_array_less(distance.min(axis=1), 1e-2)
        np.testing.assert_allclose(
            np.sort(ours["confidence"][b, :count]),
            np.sort(reference["confidence"][b, :count]),
            atol=1e-4,
        )
    padding = np.arange(10)[None] >= ours["num_detections"][:, None]
    np.testing.assert_array_equal(ours["boxes"][padding], -1.0)


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


def test_fit_one_step_gives_finite_loss_and_trains_the_saliency(images):
    model = keras_lzu.wrap(keras_hub_builders.retinanet(), OUTPUT_SIZE)
    saliency = model.saliency_layer.log_saliency
    before = keras.ops.convert_to_numpy(saliency)
    model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    history = model.fit(images, labels(), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(keras.ops.convert_to_numpy(saliency), before)


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


def test_save_and_reload_gives_identical_outputs(tmp_path, images):
    model = keras_lzu.wrap(keras_hub_builders.retinanet(), OUTPUT_SIZE)
    rng = np.random.default_rng(9)
    saliency = model.saliency_layer.log_saliency
    saliency.assign(rng.normal(0, 0.5, saliency.shape).astype("float32"))
    path = str(tmp_path / "retinanet.keras")
    model.save(path)
    reloaded = keras_lzu.load_model(path)
    assert type(reloaded) is type(model)
    assert reloaded.lzu_metadata == model.lzu_metadata
    # KerasHub's own config leaves the head's prior probability out.
    assert reloaded.box_head.prior_probability == 0.3
    ours, theirs = model(images), reloaded(images)
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key])


def test_output_size_not_a_multiple_of_the_stride_raises(detector):
    with pytest.raises(ValueError, match="output_size"):
        keras_lzu.wrap(detector, (64, 80))
