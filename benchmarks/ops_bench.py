"""Speed of the LZU ops against `tf.image.resize`, measured in one run.

A 1920x1200x3 float32 image is zoomed to 960x600 with a 31x51 separable
grid, and a 5-level feature pyramid of that zoomed image (strides 8..128,
256 channels) is unzoomed. Every time is printed in milliseconds and as a
ratio to `tf.image.resize` of the same image to the same size, in graph mode
(`tf.function`) and with XLA (`jit_compile=True`). The non-separable inverse
is timed too: `inverse` is the per-grid precomputation shared by all levels,
`inverse at all level pixels` evaluates `T^-1` at every pixel centre of the
five levels (12,000 points), the work that unzoom adds per level. The
`antialias` rows are the same zoom and unzoom averaging over each output
pixel's footprint (`antialias=True`). Reference
figures of the paper's own code on this 2-core CPU:
about 9 ms zoom, 3.3 ms inverse, 6.8 ms unzoom.

Usage: python benchmarks/ops_bench.py [--repeats N] [--markdown FILE]
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import machine  # noqa: E402
from benchmarks.ops_cases import CHANNELS, IMAGE, STRIDES, ZOOMED  # noqa: E402
from benchmarks.ops_cases import case_arguments, lzu_cases  # noqa: E402
from benchmarks.ops_cases import pyramid_pixel_centres  # noqa: E402
from keras_lzu import ops as lzu_ops  # noqa: E402
PAPER_MS = {
    "zoom": 9.0,
    "zoom, antialias": None,
    "inverse": 3.3,
    "unzoom (5 levels)": 6.8,
    "unzoom (5 levels), antialias": None,
    "inverse at all level pixels": None,
}


def best_time(fn, args, repeats):
    fn(*args)  # trace / compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), out)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def run(repeats):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((1, *IMAGE, 3), dtype=np.float32))
    saliency = np.ones((1, 31, 51), "float32")
    saliency[0, 10:16, :] = 8.0
    rows = []
    for separable in (True, False):
        grid = tf.constant(
            lzu_ops.saliency_to_grid(saliency, separable=separable)
        )
        pyramid = [
            tf.constant(
                rng.random(
                    (1, ZOOMED[0] // s, ZOOMED[1] // s, CHANNELS),
                    dtype=np.float32,
                )
            )
            for s in STRIDES
        ]

        def resize(images):
            return tf.image.resize(images, ZOOMED, "bilinear",
                                   antialias=False)

        cases_of_grid = lzu_cases(separable)
        points = tf.constant(pyramid_pixel_centres())
        for mode, jit in (("graph", False), ("XLA", True)):
            compile_ = lambda f: tf.function(f, jit_compile=jit)  # noqa: E731
            base = best_time(compile_(resize), (images,), repeats)
            arguments = case_arguments(images, grid, pyramid, points)
            cases = {
                name: (compile_(fn), arguments[name])
                for name, fn in cases_of_grid.items()
            }
            kind = "separable" if separable else "non-separable"
            rows.append((kind, mode, "tf.image.resize", base, 1.0, None))
            for name, (fn, args) in cases.items():
                ms = best_time(fn, args, repeats)
                rows.append((kind, mode, name, ms, ms / base, PAPER_MS[name]))
    return rows


def format_table(rows):
    lines = [
        "| grid | mode | op | ms | x resize | paper code ms |",
        "|---|---|---|---:|---:|---:|",
    ]
    for kind, mode, name, ms, ratio, paper in rows:
        paper = "" if paper is None else f"{paper:.1f}"
        lines.append(
            f"| {kind} | {mode} | {name} | {ms:.2f} | {ratio:.2f} | {paper} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args()
    table = format_table(run(args.repeats))
    text = (
        "## LZU ops: 1920x1200x3 -> 960x600, 31x51 grid, 5-level pyramid "
        f"(256 ch)\n\n{machine.describe()}\n\n{table}\n"
    )
    machine.publish(text, args.markdown)


if __name__ == "__main__":
    main()
