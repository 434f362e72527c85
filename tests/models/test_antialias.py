"""`keras_lzu.wrap(..., antialias=...)` and `keras_lzu.set_antialias`.

The independent reference: with a uniform saliency the warp is the identity
(within 2e-7), so an averaging zoom is TensorFlow's area resize
(`tf.image.resize(method="area")`) and an unzoom maps every feature pixel
onto itself whatever it does; the wrapped model must then compute what the
unwrapped one computes on area-resized images. Tolerance: 1e-4 absolute on
raw outputs of magnitude about 1, the float32 error of the near-identity
grid propagated through the network (measured: 1e-5).
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.models import antialiasing
from keras_lzu.models.generic import LZUFunctional
from tests.models import keras_cv_builders
from tests.models import keras_hub_builders
from tests.models.conftest import square_images
from tests.models.conftest import tiny_functional_segmenter

pytestmark = pytest.mark.tensorflow_only

OUTPUT_SIZE = (64, 64)
# 2x taller and 3x wider than the zoomed size: the zoom compresses.
IMAGE_SIZE = (128, 192)
GENERIC_OUTPUT_SIZE = (32, 48)
# 3x the zoomed size: at exactly 2x, a bilinear resize is an area resize.
GENERIC_IMAGE_SIZE = (96, 144)
FEATURE_LAYERS = ["stem", "down"]
ATOL = 1e-4


def area_resized(images, size=OUTPUT_SIZE):
    return tf.image.resize(images, size, method="area").numpy()


def bilinear_resized(images, size=OUTPUT_SIZE):
    return tf.image.resize(images, size, antialias=False).numpy()


def resampling_choices(model):
    """`(zoom antialias, [unzoom antialias, ...])` of a wrapped model."""
    zooms, unzooms = antialiasing.resampling_layers(model)
    assert len(zooms) == 1 and unzooms
    return zooms[0].antialias, sorted({layer.antialias for layer in unzooms})


def focus_prior():
    """A saliency that magnifies a window and compresses the rest."""
    prior = np.ones((31, 51), "float32")
    prior[8:20, 15:35] = 30.0
    return prior


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    return rng.uniform(0, 1, (2, *IMAGE_SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def detector():
    keras.utils.set_random_seed(7)
    return keras_hub_builders.retinanet()


@pytest.fixture(scope="module")
def segmenter():
    keras.utils.set_random_seed(7)
    return keras_hub_builders.deeplab()


def test_uniform_antialiased_detector_is_the_base_on_area_resized_images(
    detector, images
):
    model = keras_lzu.wrap(detector, OUTPUT_SIZE, antialias=True)
    ours = model(images)
    reference = detector(area_resized(images))
    point_sampled = detector(bilinear_resized(images))
    for key in ("bbox_regression", "cls_logits"):
        np.testing.assert_allclose(ours[key], reference[key], atol=ATOL)
        # The reference tells the two resamplings apart.
        assert np.abs(reference[key] - point_sampled[key]).max() > 100 * ATOL


def test_uniform_antialiased_segmenter_is_the_base_on_area_resized_images(
    segmenter, images
):
    model = keras_lzu.wrap(segmenter, OUTPUT_SIZE, antialias=True)
    reference = tf.image.resize(
        segmenter(area_resized(images)), IMAGE_SIZE, antialias=False
    )
    np.testing.assert_allclose(model(images), reference, atol=ATOL)


@pytest.mark.parametrize(
    "antialias, zoom, unzoom",
    [(False, False, [False]), (True, True, [True]),
     ("zoom", True, [False]), ("unzoom", False, [True])],
)
def test_each_choice_sets_the_zoom_and_every_unzoom(antialias, zoom, unzoom):
    model = keras_lzu.wrap(
        tiny_functional_segmenter(), GENERIC_OUTPUT_SIZE,
        feature_layers=FEATURE_LAYERS, antialias=antialias,
    )
    assert resampling_choices(model) == (zoom, unzoom)
    assert model.antialias == antialias
    assert model.lzu_metadata["antialias"] == antialias


def test_wrap_without_antialias_uses_the_default_constant(monkeypatch):
    for default in (True, False):
        monkeypatch.setattr(antialiasing, "DEFAULT_ANTIALIAS", default)
        model = keras_lzu.wrap(
            tiny_functional_segmenter(), GENERIC_OUTPUT_SIZE,
            feature_layers=FEATURE_LAYERS,
        )
        assert model.antialias is default
        assert resampling_choices(model) == (default, [default])


@pytest.mark.parametrize(
    "antialias", ["both", "on", "Zoom", 1, 0, 0.5, [True]]
)
def test_bad_antialias_is_rejected_before_any_work(antialias):
    # Checked before the model is even looked at.
    with pytest.raises(ValueError, match="`antialias` must be False"):
        keras_lzu.wrap(object(), OUTPUT_SIZE, antialias=antialias)


def test_set_antialias_rejects_bad_values_and_unwrapped_models(
    functional_segmenter,
):
    with pytest.raises(ValueError, match="`antialias` must be False"):
        keras_lzu.set_antialias(functional_segmenter, "both")
    with pytest.raises(ValueError, match="needs a model returned by"):
        keras_lzu.set_antialias(functional_segmenter, True)


def wrap_hub_retinanet():
    return keras_lzu.wrap(
        keras_hub_builders.retinanet(), OUTPUT_SIZE, antialias="unzoom"
    )


def wrap_hub_deeplab():
    return keras_lzu.wrap(
        keras_hub_builders.deeplab(), OUTPUT_SIZE, antialias="unzoom"
    )


def wrap_generic():
    return keras_lzu.wrap(
        tiny_functional_segmenter(), GENERIC_OUTPUT_SIZE,
        feature_layers=FEATURE_LAYERS, antialias="unzoom",
    )


@pytest.mark.parametrize(
    "make", ["keras_cv_retinanet", "keras_cv_deeplab", "keras_cv_yolov8",
             "keras_hub_retinanet", "keras_hub_deeplab", "generic"],
)
def test_choice_round_trips_through_the_config_of_every_adapter(
    make, retinanet_base, deeplab_base
):
    model = {
        "keras_cv_retinanet": lambda: keras_lzu.wrap(
            retinanet_base, (64, 96), antialias="unzoom"),
        "keras_cv_deeplab": lambda: keras_lzu.wrap(
            deeplab_base, (64, 96), antialias="unzoom"),
        "keras_cv_yolov8": lambda: keras_lzu.wrap(
            keras_cv_builders.yolov8(), (64, 96), antialias="unzoom"),
        "keras_hub_retinanet": wrap_hub_retinanet,
        "keras_hub_deeplab": wrap_hub_deeplab,
        "generic": wrap_generic,
    }[make]()
    assert resampling_choices(model) == (False, [True])
    # `get_config` rebuilds the model from the config it returns and raises
    # unless every sub-layer has the same settings, the zoom's and the
    # unzooms' `antialias` included (a second rebuild here would double
    # the test's time).
    assert model.get_config()["antialias"] == "unzoom"


def test_config_saved_before_the_option_loads_point_sampling(monkeypatch):
    config = wrap_generic().get_config()
    del config["antialias"]
    monkeypatch.setattr(antialiasing, "DEFAULT_ANTIALIAS", True)
    rebuilt = LZUFunctional.from_config(config)
    assert rebuilt.antialias is False
    assert resampling_choices(rebuilt) == (False, [False])


def test_keras_file_keeps_the_choice_and_the_outputs(tmp_keras_path):
    model = keras_lzu.wrap(
        tiny_functional_segmenter(), GENERIC_OUTPUT_SIZE,
        saliency=focus_prior(), feature_layers=FEATURE_LAYERS,
        antialias=True,
    )
    images, _ = square_images(2, GENERIC_IMAGE_SIZE, seed=4)
    expected = model(images)
    model.save(tmp_keras_path)
    reloaded = keras_lzu.load_model(tmp_keras_path)
    assert reloaded.antialias is True
    np.testing.assert_allclose(reloaded(images), expected, atol=1e-6)
    # What is kept matters: point-sampling gives other outputs here.
    keras_lzu.set_antialias(reloaded, False)
    assert np.abs(reloaded(images) - expected).max() > 1e-2


def test_set_antialias_retraces_predict_and_configures_the_new_choice():
    base = tiny_functional_segmenter()
    model = keras_lzu.wrap(
        base, GENERIC_OUTPUT_SIZE, feature_layers=FEATURE_LAYERS,
        antialias=False,
    )
    images, _ = square_images(2, GENERIC_IMAGE_SIZE, seed=6)
    point_sampled = model.predict(images, verbose=0)
    np.testing.assert_allclose(
        point_sampled, base(bilinear_resized(images, GENERIC_OUTPUT_SIZE)),
        atol=ATOL,
    )
    keras_lzu.set_antialias(model, "zoom")
    pooled = model.predict(images, verbose=0)
    np.testing.assert_allclose(
        pooled, base(area_resized(images, GENERIC_OUTPUT_SIZE)), atol=ATOL
    )
    assert np.abs(pooled - point_sampled).max() > 100 * ATOL
    assert model.get_config()["antialias"] == "zoom"
    assert model.lzu_metadata["antialias"] == "zoom"


def test_saved_model_serving_default_computes_as_predict(tmp_path):
    model = keras_lzu.wrap(
        tiny_functional_segmenter(), GENERIC_OUTPUT_SIZE,
        saliency=focus_prior(), feature_layers=FEATURE_LAYERS,
        antialias=True,
    )
    images = np.floor(square_images(2, GENERIC_IMAGE_SIZE, seed=4)[0])
    pixels = images.astype("uint8")
    expected = model.infer(images)["masks"]
    path = keras_lzu.export(model, str(tmp_path / "export"))
    loaded = tf.saved_model.load(path)
    served = loaded.signatures["serving_default"](images=tf.constant(pixels))
    np.testing.assert_array_equal(served["masks"], expected)
    metadata = loaded.signatures["metadata"]()["lzu_metadata_json"]
    assert json.loads(metadata.numpy())["antialias"] is True
    # The export carries the averaging: point-sampled masks differ.
    keras_lzu.set_antialias(model, False)
    assert np.any(model.infer(images)["masks"] != expected)


def test_antialiased_model_fits_a_step_with_xla():
    # A fixed prior, as `lzu train --saliency prior` trains: the gradients
    # run through the averaging unzoom into the network.
    model = keras_lzu.wrap(
        tiny_functional_segmenter(), GENERIC_OUTPUT_SIZE,
        saliency=focus_prior(), feature_layers=["down"], antialias=True,
    )
    model.saliency_layer.trainable = False
    images, _ = square_images(2, GENERIC_IMAGE_SIZE, seed=4)
    before = [w.numpy() for w in model.trainable_weights]
    targets = np.random.default_rng(2).normal(
        size=model(images).shape
    ).astype("float32")
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    history = model.fit(images, targets, epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(
        not np.allclose(old, new.numpy())
        for old, new in zip(before, model.trainable_weights)
    )
