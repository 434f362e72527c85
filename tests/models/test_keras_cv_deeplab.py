import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.models.keras_cv_deeplab import LZUDeepLabV3Plus
from tests.models.conftest import NUM_CLASSES
from tests.models.conftest import square_images
from tests.models.conftest import tiny_deeplab
from tests.models.conftest import uniform_zoom

pytestmark = pytest.mark.tensorflow_only

OUTPUT_SIZE = (64, 64)
CALLER_SIZE = (128, 128)


def square_masks(images):
    """Class 1 on the bright square, 0 elsewhere: learnable from pixels."""
    return (images[..., :1] > 200).astype("int32")


def compile_segmenter(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=False,
    )


def reference_scores(base, images):
    """The base model on uniformly resized images, resized back."""
    uniform = uniform_zoom(images, OUTPUT_SIZE)
    return tf.image.resize(base(uniform), images.shape[1:3], antialias=False)


def test_uniform_saliency_reproduces_base_outputs_and_loss(deeplab_base):
    model = keras_lzu.wrap(deeplab_base, output_size=OUTPUT_SIZE)
    assert isinstance(model, LZUDeepLabV3Plus)
    images, _ = square_images(2, CALLER_SIZE)
    scores = model(images)
    expected = reference_scores(deeplab_base, images)
    assert scores.shape == (2, *CALLER_SIZE, NUM_CLASSES)
    np.testing.assert_allclose(scores, expected, atol=1e-4)

    compile_segmenter(model)
    masks = square_masks(images)
    loss = model.compute_loss(images, masks, scores, None)
    expected_loss = keras.losses.SparseCategoricalCrossentropy()(
        masks, expected
    )
    np.testing.assert_allclose(float(loss), float(expected_loss), rtol=1e-4)


def test_output_size_images_are_the_base_model(deeplab_base):
    model = keras_lzu.wrap(deeplab_base, output_size=OUTPUT_SIZE)
    images, _ = square_images(2, OUTPUT_SIZE, seed=1)
    np.testing.assert_allclose(
        model(images), deeplab_base(images), atol=1e-4
    )


def test_fit_on_tf_data_lowers_the_loss(deeplab_base, tmp_keras_path):
    model = keras_lzu.wrap(deeplab_base, output_size=OUTPUT_SIZE)
    compile_segmenter(model)
    images, _ = square_images(4, CALLER_SIZE, seed=2)
    data = tf.data.Dataset.from_tensor_slices(
        (images, square_masks(images))
    ).batch(2)
    history = model.fit(data, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]

    model.save(tmp_keras_path)
    reloaded = keras_lzu.load_model(tmp_keras_path)
    assert isinstance(reloaded, LZUDeepLabV3Plus)
    np.testing.assert_array_equal(reloaded(images), model(images))


def test_infer_returns_masks_in_the_input_frame(deeplab_base):
    model = keras_lzu.wrap(deeplab_base, output_size=OUTPUT_SIZE)
    infer = tf.function(
        model.infer,
        input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)],
    )
    images, _ = square_images(2, (96, 160), seed=3)
    masks = infer(tf.constant(images))["masks"]
    assert masks.dtype == tf.int32
    assert masks.shape == (2, 96, 160)
    expected = np.argmax(reference_scores(deeplab_base, images), axis=-1)
    assert np.mean(masks.numpy() == expected) > 0.999
    assert model.lzu_metadata["task"] == "segmentation"


def test_output_size_must_be_a_multiple_of_32(deeplab_base):
    with pytest.raises(ValueError, match=r"output_size.*multiple of 32"):
        keras_lzu.wrap(deeplab_base, output_size=(64, 80))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_fit_under_mixed_precision(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = keras_lzu.wrap(tiny_deeplab(), output_size=OUTPUT_SIZE)
        compile_segmenter(model)
        images, _ = square_images(2, CALLER_SIZE, seed=4)
        history = model.fit(images, square_masks(images), epochs=2, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("lzu_zoom").compute_dtype == policy[6:]
    assert model.saliency_layer.compute_dtype == "float32"
    assert np.all(np.isfinite(history.history["loss"]))


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import keras_lzu
    from tests.models.conftest import square_images, tiny_deeplab

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = keras_lzu.wrap(tiny_deeplab(), output_size=(64, 64))
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            jit_compile=False,
        )
    images, _ = square_images(4, (128, 128), seed=5)
    masks = (images[..., :1] > 200).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((images, masks)).batch(4)
    before = model.saliency_layer.log_saliency.numpy().copy()
    history = model.fit(data, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)), losses
    assert losses[-1] < losses[0], losses
    assert not np.allclose(before, model.saliency_layer.log_saliency.numpy())
    print("MIRRORED_OK", losses)
    """
)


def test_fit_under_mirrored_strategy_on_two_devices():
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert "MIRRORED_OK" in result.stdout, result.stderr[-3000:]
