import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.models import DEFAULT_ANTIALIAS
from keras_lzu.models import antialiasing
from keras_lzu.models.generic import LZUFunctional
from tests.models.conftest import NUM_CLASSES
from tests.models.conftest import square_images
from tests.models.conftest import uniform_zoom

pytestmark = pytest.mark.tensorflow_only

OUTPUT_SIZE = (32, 48)
CALLER_SIZE = (64, 96)


def resized(images):
    return uniform_zoom(images, OUTPUT_SIZE)


def test_uniform_saliency_reproduces_base_on_resized_images(
    functional_segmenter,
):
    model = keras_lzu.wrap(
        functional_segmenter, OUTPUT_SIZE, feature_layers=["stem", "down"]
    )
    assert isinstance(model, LZUFunctional)
    images, _ = square_images(2, CALLER_SIZE)
    expected = functional_segmenter(resized(images))
    np.testing.assert_allclose(model(images), expected, atol=1e-4)

    targets = np.random.default_rng(0).normal(
        size=expected.shape
    ).astype("float32")
    for m in (model, functional_segmenter):
        m.compile(optimizer="sgd", loss="mse", jit_compile=False)
    loss = model.evaluate(images, targets, verbose=0)
    base_loss = functional_segmenter.evaluate(
        resized(images), targets, verbose=0
    )
    np.testing.assert_allclose(loss, base_loss, rtol=1e-4)


def test_feature_layers_are_unzoomed_with_a_non_uniform_saliency(
    functional_segmenter,
):
    prior = np.ones((31, 51), "float32")
    prior[10:20, 20:30] = 20.0
    model = keras_lzu.wrap(
        functional_segmenter, OUTPUT_SIZE, saliency=prior,
        feature_layers=["down"],
    )
    images, _ = square_images(2, CALLER_SIZE, seed=1)
    grid = model.saliency_layer(images)
    stem = functional_segmenter.get_layer("stem")
    # The reference: the unzoomed features at "down" replace the base's,
    # resampled as the default `antialias` does.
    zoomed = keras_lzu.ops.zoom(
        images, grid, OUTPUT_SIZE, separable=True,
        antialias=antialiasing.zoom_averages(DEFAULT_ANTIALIAS),
    )
    x = functional_segmenter.get_layer("rescale")(zoomed)
    down = keras_lzu.ops.unzoom(
        functional_segmenter.get_layer("down")(stem(x)), grid, separable=True,
        antialias=antialiasing.unzoom_averages(DEFAULT_ANTIALIAS),
    )
    up = functional_segmenter.get_layer("up")(down)
    merged = functional_segmenter.get_layer("merge")([up, stem(x)])
    expected = functional_segmenter.get_layer("head")(merged)
    np.testing.assert_allclose(model(images), expected, atol=1e-4)
    assert not np.allclose(
        model(images), functional_segmenter(resized(images)), atol=1e-3
    )


def test_fit_under_mixed_bfloat16_lowers_the_loss():
    from tests.models.conftest import tiny_functional_segmenter

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        base = tiny_functional_segmenter()
        model = keras_lzu.wrap(base, OUTPUT_SIZE, feature_layers=["stem"])
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False,
        )
        images, _ = square_images(4, CALLER_SIZE, seed=2)
        masks = (resized(images)[..., :1] > 200).numpy().astype("int32")
        masks = masks[:, ::2, ::2]
        history = model.fit(images, masks, batch_size=2, epochs=5, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_save_and_reload_gives_identical_outputs(
    functional_segmenter, tmp_keras_path
):
    model = keras_lzu.wrap(
        functional_segmenter, OUTPUT_SIZE, feature_layers=["stem"]
    )
    model.saliency_layer.log_saliency.assign(
        np.random.default_rng(0).normal(0, 1, (31, 51))
    )
    images, _ = square_images(2, CALLER_SIZE, seed=3)
    model.save(tmp_keras_path)
    reloaded = keras_lzu.load_model(tmp_keras_path)
    assert isinstance(reloaded, LZUFunctional)
    np.testing.assert_array_equal(reloaded(images), model(images))


def test_infer_returns_masks_in_the_input_frame(functional_segmenter):
    model = keras_lzu.wrap(
        functional_segmenter, OUTPUT_SIZE, feature_layers=["stem"]
    )
    infer = tf.function(
        model.infer,
        input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)],
    )
    images, _ = square_images(2, CALLER_SIZE, seed=4)
    masks = infer(tf.constant(images))["masks"]
    assert masks.dtype == tf.int32 and masks.shape == (2, *CALLER_SIZE)
    scores = tf.image.resize(
        functional_segmenter(resized(images)), CALLER_SIZE, antialias=False
    )
    assert np.mean(masks.numpy() == np.argmax(scores, axis=-1)) > 0.999
    assert model.lzu_metadata["num_classes"] == NUM_CLASSES


def test_unknown_feature_layer_is_rejected(functional_segmenter):
    with pytest.raises(ValueError, match="'neck'.*not a layer"):
        keras_lzu.wrap(
            functional_segmenter, OUTPUT_SIZE, feature_layers=["neck"]
        )


def test_feature_layer_without_4d_output_is_rejected():
    images = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(4, 3, name="conv")(images)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    model = keras.Model(images, keras.layers.Dense(2)(pooled))
    with pytest.raises(ValueError, match="2-D feature maps.*pool"):
        keras_lzu.wrap(model, OUTPUT_SIZE, feature_layers=["pool"])


def test_output_size_not_suiting_the_strides_is_rejected(functional_segmenter):
    with pytest.raises(ValueError, match=r"output_size=\(30, 48\)"):
        keras_lzu.wrap(
            functional_segmenter, (30, 48), feature_layers=["stem"]
        )
    with pytest.raises(ValueError, match="multiple of 4"):
        keras_lzu.wrap(
            functional_segmenter, (34, 48), feature_layers=["stem"],
            stride=4,
        )


def test_unsupported_models_raise_type_error():
    with pytest.raises(TypeError, match="does not support Dense"):
        keras_lzu.wrap(keras.layers.Dense(2), OUTPUT_SIZE)

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="functional"):
        keras_lzu.wrap(Subclassed(), OUTPUT_SIZE, feature_layers=["x"])
