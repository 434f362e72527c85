"""The LZU ops on the Keras JAX backend (`jax.jit`), e.g. on a GPU.

The same cases as `ops_bench.py` (a 1920x1200x3 image zoomed to 960x600 with
a 31x51 grid; a 5-level, 256-channel pyramid unzoomed), timed against
`jax.image.resize` of the same image to the same size in the same run, at
batch 1 and a larger batch. Before timing, the jitted zoom and unzoom are
checked on the device against the NumPy/SciPy references of
`tests/reference.py` (independent of the package's code) on a smaller case,
and the largest absolute error is printed beside the figures.

Needs JAX, Keras and SciPy only (no TensorFlow), so it runs where
TensorFlow is not installed:

    KERAS_BACKEND=jax python -m benchmarks.ops_bench_jax [--repeats N]
        [--batch B] [--markdown FILE]
"""

import argparse
import os
import time

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import machine  # noqa: E402
from benchmarks.ops_cases import CHANNELS, GRID_SHAPE, IMAGE  # noqa: E402
from benchmarks.ops_cases import STRIDES, ZOOMED  # noqa: E402
from benchmarks.ops_cases import case_arguments, lzu_cases  # noqa: E402
from benchmarks.ops_cases import pyramid_pixel_centres  # noqa: E402
from keras_lzu import ops as lzu_ops  # noqa: E402


def horizon_saliency(batch, grid_shape=GRID_SHAPE):
    """A band of high saliency across the rows a third of the way down."""
    saliency = np.ones((batch, *grid_shape), "float32")
    band = slice(grid_shape[0] // 3, grid_shape[0] // 3 + grid_shape[0] // 5)
    saliency[:, band, :] = 8.0
    return saliency


def best_time(fn, args, repeats):
    """Median wall time in ms of `fn(*args)` after compiling, synchronised."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def check_against_reference(separable):
    """Max |error| of jitted zoom and unzoom against `tests/reference.py`."""
    from tests import reference

    rng = np.random.default_rng(1)
    image_size, zoomed_size, feature_size = (96, 160), (48, 80), (24, 40)
    images = rng.random((1, *image_size, 3), dtype=np.float32)
    features = rng.random((1, *feature_size, 4), dtype=np.float32)
    grid = np.asarray(
        lzu_ops.saliency_to_grid(
            horizon_saliency(1, (11, 17)), grid_shape=(11, 17),
            separable=separable,
        )
    )
    zoom = jax.jit(
        lambda x, g: lzu_ops.zoom(x, g, zoomed_size, separable=separable)
    )
    unzoom = jax.jit(
        lambda f, g: lzu_ops.unzoom(f, g, image_size, separable=separable)
    )
    invert = (
        reference.invert_separable if separable
        else reference.invert_brute_force
    )
    zoom_error = np.abs(
        np.asarray(zoom(images, grid)) - reference.zoom(images, grid,
                                                        zoomed_size)
    ).max()
    unzoom_error = np.abs(
        np.asarray(unzoom(features, grid))
        - reference.unzoom(features[0], grid[0], image_size, invert)[None]
    ).max()
    return float(zoom_error), float(unzoom_error)


def time_cases(batch, separable, repeats):
    rng = np.random.default_rng(0)
    images = jax.device_put(rng.random((batch, *IMAGE, 3), dtype=np.float32))
    grid = jax.device_put(
        np.asarray(
            lzu_ops.saliency_to_grid(horizon_saliency(batch),
                                     separable=separable)
        )
    )
    pyramid = [
        jax.device_put(
            rng.random((batch, ZOOMED[0] // s, ZOOMED[1] // s, CHANNELS),
                       dtype=np.float32)
        )
        for s in STRIDES
    ]
    points = jax.device_put(pyramid_pixel_centres(batch))

    def resize(x):
        return jax.image.resize(
            x, (batch, *ZOOMED, 3), "linear", antialias=False
        )

    base = best_time(jax.jit(resize), (images,), repeats)
    rows = [("jax.image.resize", base, 1.0)]
    arguments = case_arguments(images, grid, pyramid, points)
    for name, fn in lzu_cases(separable).items():
        ms = best_time(jax.jit(fn), arguments[name], repeats)
        rows.append((name, ms, ms / base))
    return rows


def run(repeats, batches):
    lines = [
        "| grid | batch | op | ms | x resize |",
        "|---|---:|---|---:|---:|",
    ]
    checks = []
    for separable in (True, False):
        kind = "separable" if separable else "non-separable"
        zoom_error, unzoom_error = check_against_reference(separable)
        checks.append(
            f"- {kind}: zoom max |error| {zoom_error:.1e}, unzoom max "
            f"|error| {unzoom_error:.1e} against `tests/reference.py`"
        )
        for batch in batches:
            for name, ms, ratio in time_cases(batch, separable, repeats):
                lines.append(
                    f"| {kind} | {batch} | {name} | {ms:.3f} | {ratio:.2f} |"
                )
    return "\n".join(lines), "\n".join(checks)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--batch", type=int, default=8,
                        help="the larger batch, timed beside batch 1")
    parser.add_argument("--markdown", help="append the section to this file")
    args = parser.parse_args(argv)
    table, checks = run(args.repeats, sorted({1, args.batch}))
    device = jax.devices()[0]
    text = (
        "## LZU ops on the JAX backend: 1920x1200x3 -> 960x600, 31x51 grid, "
        f"5-level pyramid (256 ch)\n\n{machine.describe()}, device: "
        f"{device.device_kind} ({device.platform})\n\nCorrectness on the "
        f"device (jitted, float32):\n{checks}\n\n{table}\n"
    )
    machine.publish(text, args.markdown)


if __name__ == "__main__":
    main()
