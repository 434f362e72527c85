"""The op cases shared by `ops_bench.py` (TensorFlow) and `ops_bench_jax.py`.

TensorFlow-free, so the JAX benchmark can import it where TensorFlow is not
installed.
"""

import numpy as np

from keras_lzu import ops as lzu_ops
from keras_lzu.ops import inversion
from keras_lzu.ops import sampling

IMAGE = (1200, 1920)
ZOOMED = (600, 960)
STRIDES = (8, 16, 32, 64, 128)
CHANNELS = 256
GRID_SHAPE = (31, 51)


def lzu_cases(separable):
    """`{name: fn}` of the timed LZU ops, in the order they are reported."""

    def zoom(images, grid):
        return lzu_ops.zoom(images, grid, ZOOMED, separable=separable)

    def antialiased_zoom(images, grid):
        return lzu_ops.zoom(
            images, grid, ZOOMED, separable=separable, antialias=True
        )

    def inverse(grid):
        return inversion.invert_grid(grid, separable=separable)

    def unzoom(pyramid, grid):
        shared = inversion.invert_grid(grid, separable=separable)
        return [sampling.unzoom_with_inverse(f, shared) for f in pyramid]

    def antialiased_unzoom(pyramid, grid):
        shared = inversion.invert_grid(grid, separable=separable)
        return [
            sampling.unzoom_with_inverse(f, shared, antialias=True)
            for f in pyramid
        ]

    def inverse_at_pixels(grid, points):
        shared = inversion.invert_grid(grid, separable=separable)
        return inversion.apply_inverse(shared, points)

    return {
        "zoom": zoom,
        "zoom, antialias": antialiased_zoom,
        "inverse": inverse,
        "unzoom (5 levels)": unzoom,
        "unzoom (5 levels), antialias": antialiased_unzoom,
        "inverse at all level pixels": inverse_at_pixels,
    }


def pyramid_pixel_centres(batch=1):
    """Pixel centres of every pyramid level, `(batch, N, 2)`."""
    points = []
    for stride in STRIDES:
        height, width = ZOOMED[0] // stride, ZOOMED[1] // stride
        xs, ys = np.meshgrid(
            (np.arange(width) + 0.5) / width, (np.arange(height) + 0.5) / height
        )
        points.append(np.stack([xs, ys], -1).reshape(-1, 2))
    points = np.concatenate(points)[None].astype("float32")
    return np.repeat(points, batch, axis=0)


def case_arguments(images, grid, pyramid, points):
    """`{name: args}` for the cases of `lzu_cases`."""
    return {
        "zoom": (images, grid),
        "zoom, antialias": (images, grid),
        "inverse": (grid,),
        "unzoom (5 levels)": (pyramid, grid),
        "unzoom (5 levels), antialias": (pyramid, grid),
        "inverse at all level pixels": (grid, points),
    }
