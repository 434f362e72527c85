"""The machine line of a benchmark section, and where the section goes."""

import os
import platform


def describe():
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
    try:
        import jax

        parts.append(f"jax {jax.__version__} ({jax.default_backend()})")
    except ImportError:
        pass
    return "Machine: " + ", ".join(parts)


def publish(text, markdown=None):
    """Prints a benchmark's section and appends it to `markdown` if given."""
    print(text)
    if markdown:
        with open(markdown, "a") as f:
            f.write(text + "\n")
