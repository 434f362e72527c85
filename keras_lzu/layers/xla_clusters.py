"""XLA clusters for the LZU layers inside a TensorFlow graph.

TensorFlow's plain graph mode runs each op of the zoom and the unzoom as its
own kernel; XLA fuses them, several times faster on CPU (see
`benchmarks/results.md`). `keras_lzu.export(..., jit_compile_lzu=True)`
traces the model inside `compiled_lzu_layers()`: there, the grid, the zoom,
the inversion and the unzooms each run as a `tf.function(jit_compile=True)`
called from the graph, one XLA cluster each, while the rest of the graph
(backbone, heads, NMS) stays plain TensorFlow ops. Outside that context, and
on the JAX and PyTorch backends, the layers run their ops directly.
"""

import contextlib
import threading

from keras_lzu import tensorflow_graph_checks

_state = threading.local()


@contextlib.contextmanager
def compiled_lzu_layers():
    """Compiles the LZU layers traced in this context into XLA clusters.

    Only calls traced into a TensorFlow graph (a `tf.function`, a
    SavedModel's signature) are compiled; eager calls run as before.

    Yields:
        A list that receives the name of every layer call compiled in the
        context (empty if the traced model had no LZU layer).
    """
    outer = getattr(_state, "compiled", None)
    compiled = []
    _state.compiled = compiled
    try:
        yield compiled
    finally:
        _state.compiled = outer


def run(layer, function, *args):
    """`function(*args)`, as one XLA cluster when `layer` is traced into a
    TensorFlow graph inside `compiled_lzu_layers()`.

    Args:
        layer: the calling layer (its name is recorded).
        function: a function of tensors (or dicts of tensors) only.
        *args: its arguments; the first is a tensor.

    Returns:
        What `function` returns.
    """
    compiled = getattr(_state, "compiled", None)
    if compiled is None or not tensorflow_graph_checks.is_graph_tensor(
        args[0]
    ):
        return function(*args)
    import tensorflow as tf

    compiled.append(layer.name)
    return tf.function(function, jit_compile=True, autograph=False)(*args)
