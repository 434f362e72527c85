import keras
import numpy as np
import pytest

import reference
from backend_utils import compile_function
from backend_utils import to_numpy
from backend_utils import values_and_gradient
from keras_lzu import SaliencyGrid
from keras_lzu import ops as lzu_ops


def identity(grid_shape=(31, 51)):
    return to_numpy(lzu_ops.identity_grid(1, grid_shape))[0]


def test_fixed_mode_starts_uniform_and_is_shared_by_the_batch():
    layer = SaliencyGrid(mode="fixed")
    grid = to_numpy(layer(np.zeros((3, 40, 60, 3), "float32")))
    assert grid.shape == (1, 31, 51, 2)
    np.testing.assert_allclose(grid[0], identity(), atol=1e-5)


def test_fixed_mode_prior_gives_the_attraction_grid_of_the_prior(rng):
    prior = rng.random((9, 13)) ** 3
    layer = SaliencyGrid(
        mode="fixed", grid_shape=(9, 13), prior=prior, attraction_fwhm=4
    )
    grid = to_numpy(layer(np.zeros((1, 8, 8, 3), "float32")))[0]
    expected = reference.separable_grid(prior, (9, 13), 4, True)
    np.testing.assert_allclose(grid, expected, atol=1e-5)


def test_prior_of_another_size_is_resized():
    prior = np.ones((100, 200))
    prior[40:60] = 10.0
    layer = SaliencyGrid(mode="fixed", prior=prior)
    grid = to_numpy(layer(np.zeros((1, 8, 8, 3), "float32")))[0]
    spacing = np.diff(grid[:, 0, 1])
    assert spacing[12:17].mean() < spacing[:5].mean()


def test_boxes_mode_ignores_padding_and_attracts_to_boxes():
    layer = SaliencyGrid(mode="boxes")
    images = np.zeros((2, 32, 32, 3), "float32")
    boxes = np.full((2, 3, 4), -1.0, "float32")
    boxes[1, 0] = [0.6, 0.6, 0.7, 0.7]
    grid = to_numpy(layer([images, boxes]))
    assert grid.shape == (2, 31, 51, 2)
    np.testing.assert_allclose(grid[0], identity(), atol=1e-5)
    x_spacing = np.diff(grid[1, 0, :, 0])
    near_box = (grid[1, 0, :-1, 0] > 0.6) & (grid[1, 0, :-1, 0] < 0.7)
    assert x_spacing[near_box].mean() < 0.5 * x_spacing.mean()


def test_prior_plus_boxes_mode_adds_the_boxes_to_the_fixed_prior(rng):
    prior = rng.random((9, 13)) ** 3
    layer = SaliencyGrid(
        mode="prior+boxes", grid_shape=(9, 13), prior=prior, attraction_fwhm=4
    )
    images = np.zeros((2, 32, 32, 3), "float32")
    boxes = np.full((2, 2, 4), -1.0, "float32")
    boxes[1, 1] = [0.6, 0.6, 0.7, 0.7]
    grid = to_numpy(layer([images, boxes]))
    # Without boxes: the grid of the prior, as in "fixed" mode.
    expected = reference.separable_grid(prior, (9, 13), 4, True)
    np.testing.assert_allclose(grid[0], expected, atol=1e-5)
    # With a box: control points gather around it, more than the prior's.
    def spacing_near_box(g):
        x = g[0, :, 0]
        near = (x[:-1] > 0.55) & (x[:-1] < 0.75)
        return np.diff(x)[near].mean()

    assert spacing_near_box(grid[1]) < 0.8 * spacing_near_box(expected)


def test_non_finite_boxes_are_ignored_like_padding():
    layer = SaliencyGrid(mode="boxes", grid_shape=(9, 13))
    images = np.zeros((1, 32, 32, 3), "float32")
    boxes = np.array(
        [[[np.nan, 0.1, 0.5, 0.5], [0.2, 0.2, np.inf, 0.4],
          [0.6, 0.6, 0.7, 0.7]]], "float32"
    )
    padded = boxes.copy()
    padded[0, :2] = -1.0
    grid = to_numpy(layer([images, boxes]))
    np.testing.assert_allclose(grid, to_numpy(layer([images, padded])),
                               atol=1e-6)


def test_network_mode_starts_at_identity_and_depends_on_the_image(rng):
    layer = SaliencyGrid(mode="network", grid_shape=(9, 13), filters=4)
    images = rng.random((2, 48, 64, 3)).astype("float32")
    grid = to_numpy(layer(images))
    np.testing.assert_allclose(grid, np.broadcast_to(identity((9, 13)), grid.shape), atol=1e-5)
    last = layer._network[-1]
    last.kernel.assign(rng.standard_normal(last.kernel.shape).astype("float32"))
    grid = to_numpy(layer(images))
    assert np.abs(grid[0] - grid[1]).max() > 1e-3


def test_network_mode_gives_the_same_grid_compiled(rng):
    # The network's 12x20 output (half its thumbnail) is resized to the
    # 20x20 grid: 12 -> 20 is a ratio at which TensorFlow's resize compiled
    # by XLA goes wrong.
    layer = SaliencyGrid(mode="network", grid_shape=(20, 20), filters=4,
                         thumbnail_size=(24, 40))
    images = rng.random((2, 48, 80, 3)).astype("float32")
    layer(images)
    last = layer._network[-1]
    last.kernel.assign(rng.standard_normal(last.kernel.shape).astype("float32"))
    np.testing.assert_allclose(
        to_numpy(compile_function(layer)(images)), to_numpy(layer(images)),
        atol=1e-5,
    )


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("mode", ["fixed", "boxes", "prior+boxes", "network"])
def test_gradients_reach_the_saliency_weights(rng, mode):
    import tensorflow as tf

    layer = SaliencyGrid(mode=mode, grid_shape=(9, 13), filters=4)
    images = rng.random((2, 32, 48, 3)).astype("float32")
    boxes = np.array([[[0.1, 0.2, 0.3, 0.4]], [[0.5, 0.5, 0.9, 0.6]]], "float32")
    inputs = [images, boxes] if "boxes" in mode else images
    layer(inputs)
    if mode in ("fixed", "prior+boxes"):
        layer.log_saliency.assign(rng.standard_normal((9, 13)).astype("float32"))
    target = rng.random((9, 13, 2)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(inputs) * target)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert grads and all(g is not None for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


@pytest.mark.parametrize("mode", ["fixed", "boxes", "prior+boxes", "network"])
def test_config_round_trip(mode):
    layer = SaliencyGrid(mode=mode, grid_shape=(7, 9), prior=np.ones((3, 3)),
                         separable=False, attraction_fwhm=5, name="s")
    clone = SaliencyGrid.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.grid_shape == (7, 9) and clone.separable is False


def test_compute_output_shape_matches_call():
    images = keras.Input((24, 32, 3))
    boxes = keras.Input((4, 4))
    assert SaliencyGrid("fixed")(images).shape == (1, 31, 51, 2)
    assert SaliencyGrid("boxes")([images, boxes]).shape == (None, 31, 51, 2)
    assert SaliencyGrid("prior+boxes")([images, boxes]).shape == (
        None, 31, 51, 2
    )
    assert SaliencyGrid("network")(images).shape == (None, 31, 51, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "learned"}, "mode"),
        ({"grid_shape": (1, 4)}, "grid_shape"),
        ({"prior": np.ones(5)}, "prior"),
        ({"prior": -np.ones((3, 3))}, "prior"),
        ({"bandwidth": 0}, "bandwidth"),
        ({"attraction_fwhm": -1}, "attraction_fwhm"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SaliencyGrid(**kwargs)


def test_boxes_mode_requires_boxes():
    with pytest.raises(ValueError, match="boxes"):
        SaliencyGrid("boxes")(np.zeros((1, 8, 8, 3), "float32"))



def test_boxes_mode_without_valid_boxes_has_zero_gradients(rng):
    """Padding rows (negative), zero-area and inverted boxes: the saliency
    is the uniform floor whatever the weights, so the gradients of the grid
    (separable and general) are finite and zero. (The grid is the identity;
    the gradients of zoom and unzoom there are those of an all-zero map,
    tested in tests/ops/test_grids.py.)"""
    images = rng.random((2, 12, 16, 2)).astype("float32")
    boxes = np.array(
        [[[-1, -1, -1, -1], [0.2, 0.2, 0.2, 0.5]],
         [[0.5, 0.5, 0.4, 0.9], [-1, -1, -1, -1]]],
        "float32",
    )
    weights = keras.ops.convert_to_tensor(
        rng.standard_normal((2, 7, 9, 2)), "float32"
    )
    layers = [
        SaliencyGrid(
            mode="boxes", grid_shape=(7, 9), separable=separable,
            attraction_fwhm=3,
        )
        for separable in (True, False)
    ]
    for layer in layers:
        layer.build(None)

    def losses(log_bandwidth_and_amplitude):
        values = []
        for layer, variables in zip(layers, log_bandwidth_and_amplitude):
            grid, _ = layer.stateless_call(
                [variables[0], variables[1]], [], [images, boxes]
            )
            values.append(keras.ops.sum(grid * weights))
        return keras.ops.stack(values)

    start = np.log([[0.5, 2.0], [0.5, 2.0]]).astype("float32")
    _, grad = values_and_gradient(losses, start)
    np.testing.assert_array_equal(grad, 0.0)
