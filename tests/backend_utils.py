"""Backend-specific helpers for tests that run on every Keras backend."""

import keras
import numpy as np


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def compile_function(fn):
    """`fn` compiled the way each backend compiles: XLA on TensorFlow (with
    an unknown batch size), `jax.jit` on JAX, `torch.compile` is not used."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(fn, jit_compile=True, reduce_retracing=True)

        def run(*arrays):
            specs = [
                tf.TensorSpec((None,) + a.shape[1:], tf.as_dtype(a.dtype))
                for a in arrays
            ]
            return compiled.get_concrete_function(*specs)(*arrays)

        return run
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def fast_function(fn):
    """`fn` as a test calls it a few times: under `jax.jit` on JAX, where
    eager execution compiles every operation on its own; unchanged
    elsewhere."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    return fn


def gradient(fn, x):
    """Gradient of the scalar `fn(x)` with respect to the array `x`."""
    return values_and_gradient(fn, x)[1]


def values_and_gradient(fn, x):
    """`fn(x)` and the gradient of its sum with respect to the array `x`.

    A function that returns one value per example gives every example's
    value and gradient from one (compiled, on JAX) program.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = fn(x)
            total = tf.reduce_sum(values)
        return values.numpy(), tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax

        def total(x):
            values = fn(x)
            return jax.numpy.sum(values), values

        # One compiled program instead of one XLA compile per primitive
        # (eager JAX): the same gradient, about 1.4x faster to get on a CPU.
        (_, values), grad = jax.jit(jax.value_and_grad(total, has_aux=True))(x)
        return np.asarray(values), np.asarray(grad)
    import torch

    x = torch.tensor(x, requires_grad=True)
    values = fn(x)
    values.sum().backward()
    return values.detach().numpy(), x.grad.numpy()
