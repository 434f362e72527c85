"""Which TensorFlow kernels could run a separable zoom faster in graph mode?

A separable zoom resamples an image along rows, then along columns, at
monotone non-uniform coordinates: per output pixel, a bilinear mix of four
input pixels, like `tf.image.resize` but with per-row and per-column
coordinates that resize's kernel cannot take. This times, in graph mode
(`tf.function`, what a SavedModel runs) and in one run, formulations of the
same resampling of a `(1, H, W, 3)` float32 image to 608x960 with TensorFlow
ops, against `tf.image.resize` (bilinear) of the same image:

* `keras_lzu sample_separable`: what `keras_lzu.ops.zoom(separable=True)`
  runs (row gathers and a lerp, then the same along columns through a
  transpose);
* `direct column gather`: the column pass as a gather along the width axis
  (3-float slices) instead of through transposes;
* `sparse matmul`: each pass as `tf.sparse.sparse_dense_matmul` with the
  2-nonzeros-per-row interpolation matrix (one transpose between them);
* `crop_and_resize, 19x30 tiles`: the image as 570 tiles, each an affine
  resize of an input box (exact for a piecewise-affine warp whose breaks
  fall between output pixels, so a lower bound of that route's cost), then
  the tiles reassembled;
* `ScaleAndTranslate, one call`: one affine resize of the whole image by
  the kernel `tf.image.resize` uses with antialiasing; a per-strip zoom
  would need one such call per strip of each axis;
* `keras_lzu sample_separable, XLA`: the first row compiled with XLA.

Exact formulations print their largest difference from the first row.

    python -m benchmarks.zoom_kernels [--repeats 30] [--markdown FILE]
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import machine  # noqa: E402
from benchmarks.overhead import interleaved_times  # noqa: E402

OUTPUT_SIZE = (608, 960)
TILES = (19, 30)


def _taps(coordinates, size):
    import tensorflow as tf

    coordinates = tf.clip_by_value(coordinates, 0.0, size - 1.0)
    lower = tf.minimum(tf.floor(coordinates), size - 2.0)
    return tf.cast(lower, tf.int32), coordinates - lower


def _interpolation_matrix(coordinates, size):
    """`(n, size)` sparse matrix of linear interpolation at `coordinates`."""
    import tensorflow as tf

    lower, weight = _taps(coordinates, size)
    lower = tf.cast(lower, tf.int64)
    rows = tf.range(tf.size(coordinates, out_type=tf.int64))
    indices = tf.concat(
        [tf.stack([rows, lower], 1), tf.stack([rows, lower + 1], 1)], 0
    )
    values = tf.concat([1.0 - weight, weight], 0)
    shape = [tf.size(coordinates, out_type=tf.int64), size]
    return tf.sparse.reorder(tf.SparseTensor(indices, values, shape))


def formulations(in_size):
    """`{name: (function, exact)}` of `(image, xs, ys)` in pixel
    coordinates."""
    import tensorflow as tf

    from keras_lzu.ops import sampling

    height, width = in_size
    out_height, out_width = OUTPUT_SIZE

    def direct(image, xs, ys):
        y0, wy = _taps(ys, height)
        x0, wx = _taps(xs, width)
        top = tf.gather(image, y0, axis=1)
        bottom = tf.gather(image, y0 + 1, axis=1)
        rows = top + wy[None, :, None, None] * (bottom - top)
        left = tf.gather(rows, x0, axis=2)
        right = tf.gather(rows, x0 + 1, axis=2)
        return left + wx[None, None, :, None] * (right - left)

    def sparse(image, xs, ys):
        rows = tf.sparse.sparse_dense_matmul(
            _interpolation_matrix(ys, height),
            tf.reshape(image[0], (height, width * 3)),
        )
        columns = tf.transpose(tf.reshape(rows, (out_height, width, 3)),
                               (1, 0, 2))
        out = tf.sparse.sparse_dense_matmul(
            _interpolation_matrix(xs, width),
            tf.reshape(columns, (width, out_height * 3)),
        )
        return tf.transpose(tf.reshape(out, (out_width, out_height, 3)),
                            (1, 0, 2))[None]

    tiles_y, tiles_x = TILES
    tile_h, tile_w = out_height // tiles_y, out_width // tiles_x
    box_index = tf.zeros((tiles_y * tiles_x,), tf.int32)

    def tiles(image, xs, ys):
        top = ys[::tile_h] / (height - 1)
        bottom = ys[tile_h - 1::tile_h] / (height - 1)
        left = xs[::tile_w] / (width - 1)
        right = xs[tile_w - 1::tile_w] / (width - 1)
        grid_top, grid_left = tf.meshgrid(top, left, indexing="ij")
        grid_bottom, grid_right = tf.meshgrid(bottom, right, indexing="ij")
        boxes = tf.reshape(
            tf.stack([grid_top, grid_left, grid_bottom, grid_right], -1),
            (-1, 4),
        )
        crops = tf.image.crop_and_resize(image, boxes, box_index,
                                         (tile_h, tile_w))
        crops = tf.reshape(crops, (tiles_y, tiles_x, tile_h, tile_w, 3))
        return tf.reshape(tf.transpose(crops, (0, 2, 1, 3, 4)),
                          (1, out_height, out_width, 3))

    def scale_and_translate(image, xs, ys):
        return tf.raw_ops.ScaleAndTranslate(
            images=image, size=OUTPUT_SIZE,
            scale=[out_height / height, out_width / width],
            translation=[0.25, 0.25], kernel_type="triangle",
            antialias=False,
        )

    def ours(image, xs, ys):
        return sampling.sample_separable(image, xs[None], ys[None])

    return {
        "keras_lzu sample_separable": (tf.function(ours), True),
        "direct column gather": (tf.function(direct), True),
        "sparse matmul": (tf.function(sparse), True),
        f"crop_and_resize, {tiles_y}x{tiles_x} tiles": (
            tf.function(tiles), False),
        "ScaleAndTranslate, one call": (
            tf.function(scale_and_translate), False),
        "keras_lzu sample_separable, XLA": (
            tf.function(ours, jit_compile=True), True),
        "tf.image.resize (bilinear)": (
            tf.function(lambda image, xs, ys: tf.image.resize(
                image, OUTPUT_SIZE)), False),
    }


def run(in_sizes, repeats, seed=0):
    """Rows `(input size, name, best ms, median ms, x resize, max diff)`."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    rows = []
    for in_size in in_sizes:
        height, width = in_size
        image = tf.constant(rng.random((1, height, width, 3), "float32"))
        ys = np.sort(rng.uniform(-0.5, height - 0.5, OUTPUT_SIZE[0]))
        xs = np.sort(rng.uniform(-0.5, width - 0.5, OUTPUT_SIZE[1]))
        ys = tf.constant(ys.astype("float32"))
        xs = tf.constant(xs.astype("float32"))
        cases = formulations(in_size)
        times = interleaved_times(
            [(function, (image, xs, ys)) for function, _ in cases.values()],
            repeats,
        )
        reference = None
        resize = times[-1][0]
        for (name, (function, exact)), (best, median) in zip(cases.items(),
                                                             times):
            out = function(image, xs, ys).numpy()
            if reference is None:
                reference = out
            diff = float(np.abs(out - reference).max()) if exact else None
            rows.append((f"{height}x{width}", name, best, median,
                         best / resize, diff))
    return rows


def format_table(rows, repeats):
    lines = [
        f"## Separable zoom kernels: (1, H, W, 3) float32 to "
        f"{OUTPUT_SIZE[0]}x{OUTPUT_SIZE[1]}, graph mode, {repeats} rounds",
        "",
        machine.describe(),
        "",
        "| input | formulation | best ms | median ms | x resize | "
        "max diff |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for size, name, best, median, ratio, diff in rows:
        shown = "-" if diff is None else f"{diff:.1e}"
        lines.append(f"| {size} | {name} | {best:.2f} | {median:.2f} | "
                     f"{ratio:.2f} | {shown} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args(argv)
    rows = run([OUTPUT_SIZE, (1200, 1920)], args.repeats)
    machine.publish(format_table(rows, args.repeats), args.markdown)


if __name__ == "__main__":
    main()
