"""Run-time assertions inside TensorFlow graphs, for the ops' argument checks.

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
