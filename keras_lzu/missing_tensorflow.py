"""A clear error where TensorFlow is needed but not installed.

keras_lzu does not install TensorFlow by itself: its CPU and GPU builds are
separate wheels (`tensorflow-cpu`, `tensorflow[and-cuda]`) that overwrite
each other's files when both are installed, so the user picks one with the
`cpu` or `gpu` extra. The ops and layers run without TensorFlow on the JAX
and PyTorch backends; Keras's TensorFlow backend, the tf.data pipelines,
the model adapters, export and serving need it.
"""

import contextlib

INSTALL_HINT = (
    'Install it with `pip install "keras-lzu[cpu]"` on a CPU machine or '
    '`pip install "keras-lzu[gpu]"` on an NVIDIA GPU machine, not both: '
    "the two TensorFlow builds break each other in one environment."
)


@contextlib.contextmanager
def explain_missing_tensorflow(needed_by):
    """Turns a failed `import tensorflow` inside the block into an error
    that says what needed it and how to install it.

    Args:
        needed_by: str, what needs TensorFlow, for the message.

    Raises:
        ModuleNotFoundError: (named `"tensorflow"`, so existing handlers
            still catch it) when TensorFlow is not installed.
    """
    try:
        yield
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "tensorflow":
            raise
        raise ModuleNotFoundError(
            f"{needed_by} needs TensorFlow, which is not installed. "
            f"{INSTALL_HINT}",
            name="tensorflow",
        ) from error
