"""`keras_lzu.wrap` of a KerasHub `DeepLabV3ImageSegmenter`.

The reference is the unwrapped segmenter run on images uniformly resized
(`tf.image.resize`) to `output_size`, its scores resized back to the
images' size: with a uniform saliency the warp is the identity, so the
wrapped model must compute the same thing.
"""

import sys

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.models import DEFAULT_ANTIALIAS
from keras_lzu.models import keras_hub_deeplab
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


def test_wrap_returns_a_deeplab_segmenter(segmenter, wrapped):
    assert isinstance(wrapped, keras_hub.models.DeepLabV3ImageSegmenter)
    assert keras_hub_deeplab.matches(segmenter)
    assert not keras_hub_deeplab.matches(wrapped)
    assert wrapped.lzu_metadata == {
        "task": "segmentation",
        "output_size": [64, 64],
        "num_classes": NUM_CLASSES,
        "bounding_box_format": None,
        "antialias": DEFAULT_ANTIALIAS,
    }


def test_matches_does_not_import_keras_hub_for_other_models(monkeypatch):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    assert not keras_hub_deeplab.matches(model)


def test_scores_match_base_model_on_resized_images(segmenter, wrapped, images):
    ours = wrapped.predict(images, verbose=0)
    assert ours.shape == (2, *IMAGE_SIZE, NUM_CLASSES)
    np.testing.assert_allclose(
        ours, reference_scores(segmenter, images), atol=1e-4
    )


def test_loss_is_the_base_loss_in_the_callers_frame(
    segmenter, wrapped, images
):
    masks = one_hot_masks()
    ours = wrapped.evaluate(images, masks, verbose=0, return_dict=True)
    expected = keras.losses.CategoricalCrossentropy(from_logits=True)(
        masks, reference_scores(segmenter, images)
    )
    np.testing.assert_allclose(ours["loss"], expected, rtol=1e-4)


def test_fit_one_step_gives_finite_loss_and_trains_the_saliency(images):
    model = keras_lzu.wrap(keras_hub_builders.deeplab(), OUTPUT_SIZE)
    saliency = model.saliency_layer.log_saliency
    before = keras.ops.convert_to_numpy(saliency)
    model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    history = model.fit(images, one_hot_masks(1), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(keras.ops.convert_to_numpy(saliency), before)


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


def test_save_and_reload_gives_identical_outputs(tmp_path, images):
    model = keras_lzu.wrap(keras_hub_builders.deeplab(), OUTPUT_SIZE)
    rng = np.random.default_rng(9)
    saliency = model.saliency_layer.log_saliency
    saliency.assign(rng.normal(0, 0.5, saliency.shape).astype("float32"))
    path = str(tmp_path / "deeplab.keras")
    model.save(path)
    reloaded = keras_lzu.load_model(path)
    assert type(reloaded) is type(model)
    assert reloaded.lzu_metadata == model.lzu_metadata
    np.testing.assert_array_equal(model(images), reloaded(images))


def test_output_size_not_a_multiple_of_the_stride_raises(segmenter):
    with pytest.raises(ValueError, match="output_size"):
        keras_lzu.wrap(segmenter, (48, 64))
