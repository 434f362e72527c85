import keras
import numpy as np
import pytest

import reference
from backend_utils import fast_function, to_numpy
from keras_lzu import InvertGrid, SaliencyGrid, UnzoomLayer, ZoomLayer
from keras_lzu import ops as lzu_ops


def lzu_model(separable=True):
    images = keras.Input((64, 96, 3))
    grid = SaliencyGrid("fixed", separable=separable, name="saliency")(images)
    zoomed = ZoomLayer((32, 48), separable=separable)([images, grid])
    inverse = InvertGrid(separable=separable)(grid)
    level1 = keras.layers.Conv2D(4, 3, strides=2, padding="same")(zoomed)
    level2 = keras.layers.Conv2D(4, 3, strides=2, padding="same")(level1)
    out1 = UnzoomLayer()([level1, inverse])
    out2 = UnzoomLayer((8, 12))([level2, inverse])
    return keras.Model(images, [out1, out2])


def test_identity_zoom_layer_is_a_bilinear_resize(rng):
    images = rng.random((2, 30, 40, 3)).astype("float32")
    out = ZoomLayer((15, 25))([images, lzu_ops.identity_grid(1)])
    expected = reference.resize_bilinear(images, (15, 25))
    np.testing.assert_allclose(to_numpy(out), expected, atol=3e-5)


def test_identity_unzoom_layer_with_shared_inverse_is_a_resize(rng):
    features = rng.random((2, 10, 12, 5)).astype("float32")
    inverse = InvertGrid()(lzu_ops.identity_grid(1))
    out = UnzoomLayer((20, 18))([features, inverse])
    expected = reference.resize_bilinear(features, (20, 18))
    np.testing.assert_allclose(to_numpy(out), expected, atol=3e-5)


def test_antialiased_layers_average_over_footprints(rng):
    # Zoom (separable) shrinks 3 times; unzoom through a shared general
    # inverse 2 times.
    grid = lzu_ops.identity_grid(1, (5, 5))
    zoom = ZoomLayer((10, 13), separable=True, antialias=True)
    invert = InvertGrid(separable=False)
    unzoom = UnzoomLayer((5, 6), antialias=True)

    def layers(images):
        zoomed = zoom([images, grid])
        return zoomed, unzoom([zoomed, invert(grid)])

    images = rng.random((2, 30, 39, 3)).astype("float32")
    zoomed, unzoomed = (to_numpy(o) for o in fast_function(layers)(images))
    identity = to_numpy(grid)[0].astype("float64")
    expected = np.stack(
        [reference.antialiased_zoom(image, identity, (10, 13)) for image in images]
    )
    np.testing.assert_allclose(zoomed, expected, atol=2e-5)
    expected = np.stack([
        reference.antialiased_unzoom(
            features, identity, (5, 6), reference.invert_separable
        )
        for features in expected
    ])
    np.testing.assert_allclose(unzoomed, expected, atol=2e-5)


@pytest.mark.parametrize("separable", [True, False])
def test_functional_model_shapes_match_compute_output_shape(separable):
    model = lzu_model(separable)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 16, 24, 4), (None, 8, 12, 4)]
    out = model.predict(np.zeros((3, 64, 96, 3), "float32"), verbose=0)
    assert [o.shape for o in out] == [(3, 16, 24, 4), (3, 8, 12, 4)]


@pytest.mark.parametrize("separable", [True, False])
def test_keras_file_round_trip_gives_identical_outputs(tmp_path, rng, separable):
    model = lzu_model(separable)
    saliency = model.get_layer("saliency")
    saliency.log_saliency.assign(rng.standard_normal((31, 51)).astype("float32"))
    images = rng.random((2, 64, 96, 3)).astype("float32") * 255
    before = model.predict(images, verbose=0)
    model.save(tmp_path / "lzu.keras")
    loaded = keras.saving.load_model(tmp_path / "lzu.keras")
    after = loaded.predict(images, verbose=0)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_subclassed_model_trains_through_the_layers(rng):
    class Zoomed(keras.Model):
        def __init__(self):
            super().__init__()
            self.saliency = SaliencyGrid("fixed", grid_shape=(9, 13))
            self.zoom = ZoomLayer((16, 16), separable=True)
            self.conv = keras.layers.Conv2D(1, 3, padding="same")
            self.unzoom = UnzoomLayer(separable=True)

        def call(self, images):
            grid = self.saliency(images)
            return self.unzoom([self.conv(self.zoom([images, grid])), grid])

    model = Zoomed()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    images = rng.random((4, 32, 32, 3)).astype("float32")
    target = images[:, ::2, ::2, :1]
    history = model.fit(images, target, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.saliency.log_saliency in model.trainable_weights


def test_layers_keep_grid_math_in_float32_under_mixed_precision(rng):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        images = keras.Input((32, 32, 3))
        grid = SaliencyGrid("fixed")(images)
        zoomed = ZoomLayer((16, 16))([images, grid])
        inverse = InvertGrid()(grid)
        assert grid.dtype == "float32"
        assert inverse["quads"].dtype == "float32"
        assert zoomed.dtype == "float16"
        features = keras.layers.Conv2D(2, 1)(zoomed)
        out = UnzoomLayer()([features, inverse])
        assert out.dtype == "float16"
        result = keras.Model(images, out).predict(
            rng.random((1, 32, 32, 3)).astype("float32"), verbose=0
        )
        assert np.all(np.isfinite(result))
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ZoomLayer((0, 4)), "output_size"),
        (lambda: ZoomLayer("big"), "output_size"),
        (lambda: ZoomLayer("24"), "output_size"),
        (lambda: ZoomLayer(True), "output_size"),
        (lambda: UnzoomLayer((4, 4, 4)), "output_size"),
        (lambda: UnzoomLayer(("4", "4")), "output_size"),
    ],
)
def test_bad_constructor_arguments_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_call_inputs_raise(rng):
    grid = lzu_ops.identity_grid(1)
    with pytest.raises(ValueError, match=r"\[images, grid\]"):
        ZoomLayer((4, 4))(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="images"):
        ZoomLayer((4, 4))([np.zeros((8, 8, 3), "float32"), grid])
    with pytest.raises(ValueError, match="batch size"):
        UnzoomLayer()([np.zeros((2, 8, 8, 3), "float32"), np.concatenate([to_numpy(grid)] * 3)])


@pytest.mark.parametrize(
    "layer",
    [
        ZoomLayer((5, 7), separable=True),
        ZoomLayer((5, 7), antialias=True),
        UnzoomLayer((3, 4)),
        UnzoomLayer((3, 4), separable=True, antialias=True),
        InvertGrid(separable=True),
        ZoomLayer(3, validate=True),
        UnzoomLayer(validate=True),
        InvertGrid(validate=True),
    ],
)
def test_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert getattr(clone, "antialias", None) == getattr(layer, "antialias", None)


def test_layers_check_a_given_grid_when_run_eagerly(rng):
    features = rng.random((1, 8, 8, 2)).astype("float32")
    reversed_grid = to_numpy(lzu_ops.identity_grid(1, (5, 5)))[:, :, ::-1]
    for layer in (UnzoomLayer(), ZoomLayer((4, 4))):
        with pytest.raises(ValueError, match="`grid` must be non-decreasing"):
            layer([features, reversed_grid])


@pytest.mark.tensorflow_only
def test_validate_checks_a_grid_input_in_predict(rng):
    import tensorflow as tf

    features = keras.Input((8, 8, 2))
    grid = keras.Input((5, 5, 2))
    outputs = UnzoomLayer(validate=True)([features, grid])
    model = keras.Model([features, grid], outputs)
    identity = to_numpy(lzu_ops.identity_grid(2, (5, 5)))
    data = rng.random((2, 8, 8, 2)).astype("float32")
    np.testing.assert_allclose(
        model.predict([data, identity], verbose=0), data, atol=1e-5
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-decreasing"):
        model.predict([data, identity[:, ::-1]], verbose=0)
