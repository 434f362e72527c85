"""What the package asks of TensorFlow graphs being traced: run-time
assertions for the ops' argument checks, and whether XLA compiles the graph.

`keras.ops` has no run-time assertion, so this module is where the package
reaches TensorFlow for them; `keras_lzu.ops` calls it only while the
TensorFlow backend traces a graph, and the ops stay `keras.ops` code on every
backend.
"""

import keras


def is_graph_tensor(x):
    """True for a tensor of a TensorFlow graph being traced, whose values
    (and unknown dimensions) exist only when the graph runs."""
    if keras.backend.backend() != "tensorflow" or isinstance(
        x, keras.KerasTensor
    ):
        return False
    import tensorflow as tf

    return tf.is_tensor(x) and not tf.executing_eagerly()


def in_xla_context():
    """True while the TensorFlow backend traces a graph that XLA compiles: a
    `tf.function(jit_compile=True)`, a Keras model compiled with
    `jit_compile=True`, or a function called from one."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    if tf.executing_eagerly():
        return False
    try:  # TensorFlow's own test, not a public API.
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # Then tests/models/test_resize_to_image.py fails.
        return False
    return control_flow_util.GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph()
    )


def checked_at_run_time(tensor, checks):
    """`tensor`, made to depend on TensorFlow assertions: the graph fails
    with an `InvalidArgumentError` before anything computed from the result
    runs, unless every condition holds.

    Args:
        tensor: a tensor of a TensorFlow graph.
        checks: list of `(condition, details)`: a scalar bool tensor and the
            list of strings and tensors the error message shows.

    Returns:
        A tensor equal to `tensor` that runs the assertions first.
    """
    import tensorflow as tf

    assertions = [
        tf.debugging.Assert(condition, details) for condition, details in checks
    ]
    with tf.control_dependencies(assertions):
        return tf.identity(tensor)
