"""A one-line description of the machine and software a result came from."""

import os
import platform
import sys


def describe_machine():
    """`"Machine: CPUs: ..., python ..., keras ... (backend ...), ..."`.

    Lists the CPU count and architecture, Python, Keras and its backend,
    NumPy and TensorFlow, and JAX (with its device platform) when the
    process has already imported it, so describing a machine never starts
    JAX.

    Example:

    >>> describe_machine().startswith("Machine: CPUs: ")
    True
    """
    import keras
    import numpy

    parts = [
        f"CPUs: {os.cpu_count()}",
        f"machine: {platform.machine()} {platform.processor() or ''}".strip(),
        f"python {platform.python_version()}",
        f"keras {keras.__version__} (backend {keras.backend.backend()})",
        f"numpy {numpy.__version__}",
    ]
    try:
        import tensorflow as tf

        parts.append(f"tensorflow {tf.__version__}")
    except ImportError:
        pass
    jax = sys.modules.get("jax")
    if jax is not None:
        parts.append(f"jax {jax.__version__} ({jax.default_backend()})")
    return "Machine: " + ", ".join(parts)
