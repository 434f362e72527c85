"""`resize_to_image` (a segmenter's scores at the caller's image size) is
`tf.image.resize`'s bilinear resize in graph mode and under XLA, where
TensorFlow's own kernel samples the wrong pixel at some upsampling ratios
(tensorflow#118344), and `in_xla_context` tells the two apart."""

import numpy as np
import pytest
import tensorflow as tf

from keras_lzu import tensorflow_graph_checks
from keras_lzu.models import common

pytestmark = pytest.mark.tensorflow_only


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("static", [True, False])
def test_scores_are_resized_as_tf_image_resize_does_eagerly(jit_compile,
                                                            static):
    rng = np.random.default_rng(0)
    # 4 -> 20 rows and 5 -> 20 columns: XLA's resize is wrong at 4 -> 20.
    scores = rng.standard_normal((2, 4, 5, 3)).astype("float32")
    images = np.zeros((2, 20, 20, 3), "float32")
    expected = tf.image.resize(scores, (20, 20), "bilinear").numpy()
    shape = [None, None, None, 3]
    signature = None if static else [tf.TensorSpec(shape)] * 2
    resize = tf.function(common.resize_to_image, jit_compile=jit_compile,
                         input_signature=signature)
    np.testing.assert_allclose(resize(scores, images).numpy(), expected,
                               atol=1e-5)


def test_in_xla_context_is_true_only_where_xla_compiles():
    seen = []

    def probe(x):
        seen.append(tensorflow_graph_checks.in_xla_context())
        return x

    probe(tf.constant(1.0))
    tf.function(probe)(tf.constant(1.0))
    tf.function(probe, jit_compile=True)(tf.constant(1.0))
    tf.function(lambda x: tf.function(probe, jit_compile=True)(x))(
        tf.constant(2.0)
    )
    assert seen == [False, False, True, True]
