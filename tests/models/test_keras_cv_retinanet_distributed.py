"""RetinaNet under MirroredStrategy with a mixed precision policy, in a
subprocess: the two logical CPU devices must be set before TensorFlow
initializes, and the policy is global."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import keras_lzu
    from tests.models.conftest import square_images, tiny_retinanet

    keras.mixed_precision.set_global_policy(sys.argv[1])
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = keras_lzu.wrap(tiny_retinanet(), output_size=(64, 96))
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            classification_loss="focal",
            box_loss="smoothl1",
            jit_compile=False,
        )
    images, boxes = square_images(4, (128, 192), seed=4)
    labels = {"boxes": boxes, "classes": np.zeros((4, 1), "float32")}
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    before = model.saliency_layer.log_saliency.numpy().copy()
    history = model.fit(data, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)), losses
    assert model.saliency_layer.log_saliency.dtype == "float32"
    assert not np.allclose(before, model.saliency_layer.log_saliency.numpy())
    predictions = model.predict(images[:2], verbose=0)
    assert np.all(np.isfinite(predictions["boxes"]))
    print("RETINANET_OK", losses)
    """
)


@pytest.mark.parametrize("policy", ["mixed_bfloat16"])
def test_fit_under_mirrored_strategy_and_mixed_precision(policy):
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, policy],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    assert "RETINANET_OK" in result.stdout, result.stderr[-3000:]
