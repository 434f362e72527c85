"""`SaliencyGrid`'s `prior_regularization` reaches a wrapped model's loss."""

import numpy as np
import pytest

import keras_lzu
from tests.models.conftest import square_images

pytestmark = pytest.mark.tensorflow_only

OUTPUT_SIZE = (32, 48)


def test_prior_regularization_is_added_to_the_wrapped_models_loss(
    functional_segmenter,
):
    weight = 0.5
    layer = keras_lzu.SaliencyGrid(learning_rate_multiplier=4.0,
                                   prior_regularization=weight)
    model = keras_lzu.wrap(functional_segmenter, OUTPUT_SIZE, saliency=layer,
                           feature_layers=["down"])
    images, _ = square_images(2, (64, 96))
    log_saliency = np.random.default_rng(2).normal(size=(31, 51))
    # The weight holds log-saliency / sqrt(multiplier).
    layer.log_saliency.assign((log_saliency / 2.0).astype("float32"))
    outputs = np.asarray(model(images))
    targets = np.random.default_rng(3).normal(size=outputs.shape)
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    loss = model.evaluate(images, targets.astype("float32"), verbose=0)
    log_q = log_saliency.ravel() - np.log(np.exp(log_saliency).sum())
    # The initial saliency is uniform: KL(u || q) = -log(n) - mean(log q).
    kl = -np.log(log_q.size) - log_q.mean()
    mse = np.mean((outputs - targets) ** 2)
    assert weight * kl > 0.1
    np.testing.assert_allclose(loss, mse + weight * kl, rtol=1e-4)
