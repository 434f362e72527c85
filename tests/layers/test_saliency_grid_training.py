"""The fixed saliency's training options: its learning-rate multiplier (a
scaled parameterisation) and its KL regulariser towards the initial map."""

import os

import keras
import numpy as np
import pytest

from backend_utils import to_numpy
from keras_lzu import SaliencyGrid

GRID = (5, 7)


def images():
    return np.zeros((1, 8, 8, 3), "float32")


def layer_with(rng, **kwargs):
    prior = rng.random(GRID) + 0.1
    layer = SaliencyGrid(grid_shape=GRID, prior=prior, attraction_fwhm=3,
                         **kwargs)
    layer(images())
    return layer


def numpy_kl(initial, log_saliency):
    def log_softmax(x):
        x = np.asarray(x, "float64").ravel()
        x = x - x.max()
        return x - np.log(np.exp(x).sum())

    log_q0, log_q = log_softmax(initial), log_softmax(log_saliency)
    return float(np.sum(np.exp(log_q0) * (log_q0 - log_q)))


def test_multiplier_leaves_the_initial_warp_and_scales_the_weight(rng):
    plain = layer_with(np.random.default_rng(7))
    scaled = layer_with(np.random.default_rng(7), learning_rate_multiplier=9)
    np.testing.assert_allclose(to_numpy(scaled(images())),
                               to_numpy(plain(images())), atol=1e-6)
    np.testing.assert_allclose(to_numpy(scaled.log_saliency) * 3.0,
                               to_numpy(plain.log_saliency), rtol=1e-6)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("multiplier", [4.0, 25.0])
def test_multiplier_scales_the_sgd_step_of_the_log_saliency(multiplier):
    import tensorflow as tf

    target = np.random.default_rng(3).random((1, *GRID, 2)).astype("float32")
    # Large enough that the steps stand far above float32 rounding.
    learning_rate = 1.0

    def step(layer):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(images()) * target)
        (gradient,) = tape.gradient(loss, [layer.log_saliency])
        before = to_numpy(layer.effective_log_saliency())
        keras.optimizers.SGD(learning_rate).apply_gradients(
            [(gradient, layer.log_saliency)])
        return to_numpy(gradient), to_numpy(layer.effective_log_saliency()) - before

    plain_gradient, plain_step = step(layer_with(np.random.default_rng(5)))
    gradient, scaled_step = step(layer_with(
        np.random.default_rng(5), learning_rate_multiplier=multiplier))
    assert np.abs(plain_gradient).max() > 1e-4
    # Chain rule: the weight is log_saliency / sqrt(m).
    np.testing.assert_allclose(gradient, np.sqrt(multiplier) * plain_gradient,
                               rtol=1e-4, atol=1e-7)
    tolerance = 1e-4 * np.abs(plain_step).max()
    np.testing.assert_allclose(plain_step, -learning_rate * plain_gradient,
                               atol=tolerance)
    np.testing.assert_allclose(scaled_step, multiplier * plain_step,
                               atol=multiplier * tolerance)


@pytest.mark.tensorflow_only
def test_multiplier_scales_the_first_adam_step_by_its_square_root():
    import tensorflow as tf

    target = np.random.default_rng(4).random((1, *GRID, 2)).astype("float32")
    multiplier, learning_rate = 16.0, 1e-3
    layer = layer_with(np.random.default_rng(6),
                       learning_rate_multiplier=multiplier)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(images()) * target)
    (gradient,) = tape.gradient(loss, [layer.log_saliency])
    before = to_numpy(layer.effective_log_saliency())
    keras.optimizers.Adam(learning_rate, epsilon=1e-12).apply_gradients(
        [(gradient, layer.log_saliency)])
    moved = to_numpy(layer.effective_log_saliency()) - before
    # Adam's first step is -learning_rate * sign(gradient) per weight.
    expected = -np.sqrt(multiplier) * learning_rate * np.sign(to_numpy(gradient))
    np.testing.assert_allclose(moved, expected, rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("multiplier", [1.0, 4.0])
def test_regularizer_is_the_kl_from_the_initial_saliency(rng, multiplier):
    weight = 0.7
    layer = layer_with(rng, learning_rate_multiplier=multiplier,
                       prior_regularization=weight)
    initial = to_numpy(layer.effective_log_saliency())
    (at_start,) = layer.losses
    assert abs(float(to_numpy(at_start))) < 1e-6
    layer.log_saliency.assign(
        to_numpy(layer.log_saliency)
        + rng.standard_normal(GRID).astype("float32"))
    current = to_numpy(layer.log_saliency) * np.sqrt(multiplier)
    expected = weight * numpy_kl(initial, current)
    assert expected > 0.1
    (loss,) = layer.losses
    np.testing.assert_allclose(float(to_numpy(loss)), expected, rtol=1e-4)


@pytest.mark.backend_independent
def test_prior_plus_boxes_mode_takes_the_training_options(rng):
    prior = rng.random(GRID) + 0.1
    options = dict(mode="prior+boxes", grid_shape=GRID, prior=prior)
    plain = SaliencyGrid(**options)
    scaled = SaliencyGrid(learning_rate_multiplier=4.0,
                          prior_regularization=1.0, **options)
    inputs = [images(), np.array([[[0.1, 0.2, 0.3, 0.5]]], "float32")]
    np.testing.assert_allclose(to_numpy(scaled(inputs)),
                               to_numpy(plain(inputs)), atol=1e-6)
    np.testing.assert_allclose(to_numpy(scaled.log_saliency) * 2.0,
                               to_numpy(plain.log_saliency), rtol=1e-6)
    initial = to_numpy(scaled.effective_log_saliency())
    moved = rng.standard_normal(GRID).astype("float32")
    scaled.log_saliency.assign(moved)
    (loss,) = scaled.losses
    np.testing.assert_allclose(float(to_numpy(loss)),
                               numpy_kl(initial, 2.0 * moved), rtol=1e-4)


def test_regularizer_reaches_the_model_loss_only_while_trainable(rng):
    layer = layer_with(rng, prior_regularization=1.0)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, layer(inputs))
    layer.log_saliency.assign(rng.standard_normal(GRID).astype("float32"))
    assert len(model.losses) == 1 and float(to_numpy(model.losses[0])) > 0
    layer.trainable = False
    assert model.losses == []


@pytest.mark.backend_independent
def test_config_round_trip_and_saved_model(rng, tmp_path):
    layer = layer_with(rng, learning_rate_multiplier=9.0,
                       prior_regularization=0.5, name="s")
    layer.log_saliency.assign(rng.standard_normal(GRID).astype("float32"))
    config = layer.get_config()
    assert config["learning_rate_multiplier"] == 9.0
    assert config["prior_regularization"] == 0.5
    assert SaliencyGrid.from_config(config).get_config() == config
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, layer(inputs))
    path = os.path.join(tmp_path, "saliency.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(images())),
                               to_numpy(model(images())), atol=1e-6)
    loaded_layer = loaded.layers[-1]
    assert loaded_layer.learning_rate_multiplier == 9.0
    assert float(to_numpy(loaded_layer.losses[0])) == pytest.approx(
        float(to_numpy(layer.losses[0])), rel=1e-5)


@pytest.mark.backend_independent
def test_config_without_the_new_keys_loads_as_before(rng):
    layer = layer_with(rng, name="s")
    config = layer.get_config()
    for key in ("learning_rate_multiplier", "prior_regularization"):
        config.pop(key)
    old = SaliencyGrid.from_config(config)
    old(images())
    assert old.learning_rate_multiplier == 1.0
    assert old.prior_regularization == 0.0 and old.losses == []
    old.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_numpy(old.log_saliency),
                                  to_numpy(old.effective_log_saliency()))
    np.testing.assert_allclose(to_numpy(old(images())),
                               to_numpy(layer(images())), atol=1e-7)


MULTIPLIER = "`learning_rate_multiplier` must be a positive number"
REGULARIZATION = "`prior_regularization` must be a non-negative number"
FIXED_ONLY = "apply to the modes with a learned map"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate_multiplier": 0}, MULTIPLIER),
        ({"learning_rate_multiplier": float("nan")}, MULTIPLIER),
        ({"prior_regularization": -1.0}, REGULARIZATION),
        ({"prior_regularization": float("inf")}, REGULARIZATION),
        ({"mode": "boxes", "learning_rate_multiplier": 10}, FIXED_ONLY),
        ({"mode": "network", "prior_regularization": 1}, FIXED_ONLY),
    ],
)
def test_bad_training_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SaliencyGrid(**kwargs)
