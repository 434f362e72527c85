"""Inside `constant_fixed_grids()` (what `keras_lzu.export` traces in), a
fixed saliency's grid and the inverse of a constant grid enter a traced
TensorFlow graph as constants equal to what the layers compute eagerly;
elsewhere, and for grids that depend on the images, nothing changes."""

import numpy as np
import pytest
import tensorflow as tf

from keras_lzu import InvertGrid
from keras_lzu import SaliencyGrid
from keras_lzu.layers import constant_grids

pytestmark = pytest.mark.tensorflow_only


def traced(saliency, invert, images, constant):
    """The grid and inverse of one traced call, and their ops' types."""
    types = {}

    @tf.function
    def run(images):
        grid = saliency(images)
        inverse = invert(grid)
        types["grid"] = grid.op.type
        types["inverse"] = {key: v.op.type for key, v in inverse.items()}
        return grid, inverse

    if constant:
        with constant_grids.constant_fixed_grids():
            outputs = run(images)
    else:
        outputs = run(images)
    return outputs, types


@pytest.mark.parametrize("separable", [True, False])
def test_fixed_grid_and_its_inverse_are_constants_equal_to_eager(separable):
    rng = np.random.default_rng(0)
    prior = rng.random((5, 7)).astype("float32") ** 3
    saliency = SaliencyGrid(grid_shape=(5, 7), prior=prior,
                            separable=separable, attraction_fwhm=3)
    invert = InvertGrid(separable=separable)
    images = rng.random((2, 20, 28, 3)).astype("float32")
    eager_grid = saliency(images)
    eager_inverse = invert(eager_grid)
    (grid, inverse), types = traced(saliency, invert, images, constant=True)
    assert types["grid"] == "Const"
    assert set(types["inverse"].values()) == {"Const"}
    np.testing.assert_allclose(grid.numpy(), eager_grid.numpy(), atol=1e-6)
    for key, value in eager_inverse.items():
        np.testing.assert_allclose(inverse[key].numpy(), value.numpy(),
                                   atol=1e-6)

    _, types = traced(saliency, invert, images, constant=False)
    assert types["grid"] != "Const"
    assert "Const" not in types["inverse"].values()


def test_network_saliency_is_computed_per_image_in_the_context():
    saliency = SaliencyGrid(mode="network", grid_shape=(5, 7), filters=2)
    invert = InvertGrid(separable=False)
    images = np.random.default_rng(1).random((2, 20, 28, 3)).astype("float32")
    _, types = traced(saliency, invert, images, constant=True)
    assert types["grid"] != "Const"
    assert "Const" not in types["inverse"].values()
