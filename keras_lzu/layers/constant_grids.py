"""Fixed grids as constants of an exported graph.

A fixed saliency's grid (`SaliencyGrid(mode="fixed")`) depends on the
weights only, not on the images, and so does its inverse: at inference both
are constants of the model. `keras_lzu.export` traces the model inside
`constant_fixed_grids()`, where such a grid, and the inverse of a constant
grid, are computed once while tracing, from the weights' values at export,
and enter the graph as constants: the served model does not recompute them
per request, and TensorFlow folds the sampling coordinates that follow from
them. Outside the context (training, `predict`), and for grids that depend
on the input (box and network saliency), the layers compute them as usual.
"""

import contextlib
import threading

import keras

from keras_lzu import tensorflow_graph_checks

_state = threading.local()


@contextlib.contextmanager
def constant_fixed_grids():
    """Makes the fixed grids traced in this context graph constants."""
    outer = getattr(_state, "active", False)
    _state.active = True
    try:
        yield
    finally:
        _state.active = outer


def as_constants(function, traced_tensor):
    """`function()` evaluated now and returned as graph constants, when
    called inside `constant_fixed_grids()` while `traced_tensor` belongs to
    a TensorFlow graph being traced; `None` otherwise.

    Args:
        function: a function of no argument returning a tensor or a dict of
            tensors that depend on variables and constants only.
        traced_tensor: a tensor of the caller's inputs.

    Returns:
        The value of `function()` as `tf.constant`s of the traced graph, or
        `None`.
    """
    if not getattr(_state, "active", False) or (
        not tensorflow_graph_checks.is_graph_tensor(traced_tensor)
    ):
        return None
    import tensorflow as tf

    with tf.init_scope():
        values = keras.tree.map_structure(
            keras.ops.convert_to_numpy, function()
        )
    return keras.tree.map_structure(tf.constant, values)


def constant_value(tensor):
    """The NumPy value of a constant of a traced TensorFlow graph (such as
    `as_constants` makes), or `None` for any other tensor."""
    if not getattr(_state, "active", False) or (
        not tensorflow_graph_checks.is_graph_tensor(tensor)
    ):
        return None
    import tensorflow as tf

    return tf.get_static_value(tensor)
