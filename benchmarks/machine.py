"""The machine line of a benchmark section, and where the section goes."""

from keras_lzu.machine import describe_machine


def describe():
    """The machine line of `keras_lzu.machine.describe_machine`, with JAX
    whenever it is installed (the JAX benchmarks report its platform)."""
    try:
        import jax  # noqa: F401
    except ImportError:
        pass
    return describe_machine()


def publish(text, markdown=None):
    """Prints a benchmark's section and appends it to `markdown` if given."""
    print(text)
    if markdown:
        with open(markdown, "a") as f:
            f.write(text + "\n")
