"""Optional dependencies: which pip extra of keras-lzu provides them.

A module that needs an optional package imports it with `import_optional`,
so that a missing package is reported as the `pip install` line that adds
it, not as a bare `ModuleNotFoundError` deep in a traceback.
"""

import contextlib
import importlib


class MissingExtraError(ImportError):
    """An optional package is missing; the message names the extra that
    installs it. `lzu` prints it instead of a traceback."""


def import_optional(module, extra, purpose):
    """Imports `module`, or raises an ImportError naming the extra to install.

    Args:
        module: dotted module name, e.g. `"pycocotools.cocoeval"`.
        extra: the keras-lzu extra that installs it, e.g. `"eval"`.
        purpose: what needs it, for the message, e.g. `"COCO evaluation"`.

    Returns:
        The imported module.

    Raises:
        MissingExtraError: an ImportError: the module (or one it imports)
            is missing; the message says `pip install 'keras-lzu[<extra>]'`.

    Example:

    >>> import_optional("json", "eval", "reading JSON").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = getattr(error, "name", None) or module
        raise MissingExtraError(
            f"{purpose} needs the optional package {missing!r}, which is not "
            f"installed: pip install 'keras-lzu[{extra}]'"
        ) from error


@contextlib.contextmanager
def tensorflow_required(needed_by):
    """Turns a failed `import tensorflow` inside the block into an error
    that says what needed it and which extra installs it.

    keras-lzu does not install TensorFlow by itself: its CPU and GPU builds
    are separate wheels (`tensorflow-cpu`, `tensorflow[and-cuda]`) that
    overwrite each other's files when both are installed, so the user picks
    one with the `cpu` or `gpu` extra. The ops and layers run without
    TensorFlow on the JAX and PyTorch backends; Keras's TensorFlow backend,
    the tf.data pipelines, the model adapters, export and serving need it.

    Args:
        needed_by: str, what needs TensorFlow, for the message.

    Raises:
        MissingExtraError: (with `name="tensorflow"`) when TensorFlow is
            not installed.
    """
    try:
        yield
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "tensorflow":
            raise
        raise MissingExtraError(
            f"{needed_by} needs TensorFlow, which is not installed: "
            "pip install 'keras-lzu[cpu]' on a CPU machine or "
            "pip install 'keras-lzu[gpu]' on an NVIDIA GPU machine (not "
            "both: the two TensorFlow builds break each other).",
            name="tensorflow",
        ) from error
