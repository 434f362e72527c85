import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.models import DEFAULT_ANTIALIAS
from keras_lzu.models.keras_cv_retinanet import LZURetinaNet
from tests.models.conftest import NUM_CLASSES
from tests.models.conftest import OUTPUT_SIZE
from tests.models.conftest import square_images
from tests.models.conftest import tiny_retinanet
from tests.models.conftest import uniform_zoom

pytestmark = pytest.mark.tensorflow_only

CALLER_SIZE = (2 * OUTPUT_SIZE[0], 2 * OUTPUT_SIZE[1])


def resized(images):
    return uniform_zoom(images, OUTPUT_SIZE)


def labels_for(boxes):
    return {
        "boxes": boxes,
        "classes": np.ones(boxes.shape[:2], "float32"),
    }


def compile_detector(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        classification_loss="focal",
        box_loss="smoothl1",
        jit_compile=False,
    )


def detection_dataset(images, boxes):
    labels = labels_for(boxes)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)


def test_wrap_returns_retinanet_subclass_with_metadata(retinanet_base):
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    assert isinstance(model, LZURetinaNet)
    assert model.bounding_box_format == "xyxy"
    assert model.lzu_metadata == {
        "task": "detection",
        "output_size": list(OUTPUT_SIZE),
        "num_classes": NUM_CLASSES,
        "bounding_box_format": "xyxy",
        "antialias": DEFAULT_ANTIALIAS,
    }


def test_uniform_saliency_reproduces_base_outputs_and_loss(retinanet_base):
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    images, boxes = square_images(2, CALLER_SIZE)
    outputs = model(images)
    expected = retinanet_base(resized(images))
    for key in ("box", "classification"):
        np.testing.assert_allclose(outputs[key], expected[key], atol=1e-4)

    compile_detector(model)
    compile_detector(retinanet_base)
    loss = model.compute_loss(
        images, labels_for(boxes), outputs, None
    )
    base_loss = retinanet_base.compute_loss(
        resized(images), labels_for(boxes / 2.0), expected, None
    )
    assert float(base_loss) > 0
    np.testing.assert_allclose(float(loss), float(base_loss), rtol=1e-4)


def test_predict_boxes_are_in_the_callers_frame(retinanet_base):
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    images, _ = square_images(2, CALLER_SIZE, seed=1)
    predictions = model.predict(images, verbose=0)
    expected = retinanet_base.predict(resized(images), verbose=0)
    assert np.all(predictions["num_detections"] == 10)
    np.testing.assert_allclose(
        predictions["boxes"], 2.0 * expected["boxes"], atol=1e-2
    )
    np.testing.assert_array_equal(predictions["classes"], expected["classes"])
    np.testing.assert_allclose(
        predictions["confidence"], expected["confidence"], atol=1e-4
    )


def test_infer_traces_for_any_image_size(retinanet_base):
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    infer = tf.function(
        model.infer,
        input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)],
    )
    images, _ = square_images(2, (96, 160), seed=2)
    outputs = infer(tf.constant(images))
    assert outputs["boxes"].dtype == tf.float32
    assert outputs["classes"].dtype == tf.int32
    assert outputs["num_detections"].dtype == tf.int32
    expected = retinanet_base.predict(resized(images), verbose=0)
    scale = np.array([160 / 96, 96 / 64, 160 / 96, 96 / 64], "float32")
    np.testing.assert_allclose(
        outputs["boxes"], expected["boxes"] * scale, atol=1e-2
    )


def test_infer_calls_the_model_with_its_input_structure(retinanet_base):
    # KerasCV's RetinaNet takes {"images": ...}; a bare tensor makes Keras
    # warn on every serving trace.
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    images, _ = square_images(1, CALLER_SIZE, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = model.infer(images)
    messages = [str(warning.message) for warning in caught]
    assert not [m for m in messages if "structure of `inputs`" in m]
    expected = retinanet_base.predict(resized(images), verbose=0)
    np.testing.assert_allclose(
        outputs["boxes"], 2.0 * expected["boxes"], atol=1e-2
    )


def test_relative_box_format_labels_and_predictions():
    base = tiny_retinanet("rel_xyxy")
    model = keras_lzu.wrap(base, output_size=OUTPUT_SIZE)
    images, boxes = square_images(2, CALLER_SIZE, seed=3)
    relative = boxes / np.array(CALLER_SIZE[::-1] * 2, "float32")
    compile_detector(model)
    compile_detector(base)
    loss = model.compute_loss(images, labels_for(relative), model(images), None)
    base_loss = base.compute_loss(
        resized(images), labels_for(relative), base(resized(images)), None
    )
    np.testing.assert_allclose(float(loss), float(base_loss), rtol=1e-4)
    predictions = model.decode_predictions(model(images), images)
    expected = base.decode_predictions(
        base(resized(images)), resized(images)
    )
    np.testing.assert_allclose(
        predictions["boxes"], expected["boxes"], atol=1e-4
    )


def test_fit_on_tf_data_lowers_the_loss(retinanet_base):
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    compile_detector(model)
    images, boxes = square_images(4, CALLER_SIZE, seed=4)
    data = detection_dataset(images, boxes)
    history = model.fit(data, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]


def test_save_and_reload_gives_identical_predictions(
    retinanet_base, tmp_keras_path
):
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    saliency = model.saliency_layer
    saliency.log_saliency.assign(
        np.random.default_rng(0).normal(0, 1, saliency.grid_shape)
    )
    images, _ = square_images(2, CALLER_SIZE, seed=5)
    model.save(tmp_keras_path)
    reloaded = keras_lzu.load_model(tmp_keras_path)
    assert isinstance(reloaded, LZURetinaNet)
    np.testing.assert_array_equal(
        reloaded(images)["classification"], model(images)["classification"]
    )
    np.testing.assert_array_equal(
        reloaded.infer(images)["boxes"], model.infer(images)["boxes"]
    )


def test_output_size_must_be_a_multiple_of_32(retinanet_base):
    with pytest.raises(ValueError, match=r"output_size.*multiple of 32"):
        keras_lzu.wrap(retinanet_base, output_size=(600, 960))


def test_images_of_rank_other_than_4_are_rejected(retinanet_base):
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        model.infer(np.zeros((64, 96, 3), "float32"))
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 64, 96), "float32"), verbose=0)


def test_labels_in_the_wrong_format_are_rejected(retinanet_base):
    model = keras_lzu.wrap(retinanet_base, output_size=OUTPUT_SIZE)
    compile_detector(model)
    images, boxes = square_images(2, CALLER_SIZE)
    with pytest.raises(ValueError, match="labels must be a dict"):
        model.fit(images, boxes, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\(batch, num_boxes, 4\)"):
        model.fit(
            images,
            {"boxes": boxes[..., :2], "classes": np.ones((2, 1))},
            epochs=1,
            verbose=0,
        )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_loss_and_decoding_under_mixed_precision(policy):
    # Fit under a policy is covered by the DeepLab and generic tests (each
    # RetinaNet train-step trace costs about a minute on CPU); here the
    # RetinaNet-specific label and decoding paths run in the policy.
    keras.mixed_precision.set_global_policy(policy)
    try:
        base = tiny_retinanet()
        model = keras_lzu.wrap(base, output_size=OUTPUT_SIZE)
        compile_detector(model)
        images, boxes = square_images(2, CALLER_SIZE, seed=6)
        outputs = model(images)
        loss = model.compute_loss(images, labels_for(boxes), outputs, None)
        decoded = model.decode_predictions(outputs, images)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("lzu_zoom").compute_dtype == policy[6:]
    assert outputs["box"].dtype == policy[6:]
    assert np.isfinite(float(loss)) and float(loss) > 0
    assert decoded["boxes"].dtype == "float32"
    assert np.all(np.isfinite(decoded["boxes"]))
