"""Speed of the LZU ops against `tf.image.resize`, measured in one run.

A 1920x1200x3 float32 image is zoomed to 960x600 with a 31x51 separable
grid, and a 5-level feature pyramid of that zoomed image (strides 8..128,
256 channels) is unzoomed. Every time is printed in milliseconds and as a
ratio to `tf.image.resize` (bilinear, no antialiasing) of the same image to
the same size, twice: in the same mode (graph mode, `tf.function`, or XLA,
`jit_compile=True`) and against the fastest resize of the run (XLA's CPU
resize is several times slower than the graph-mode one, so the same-mode
ratio flatters XLA). The non-separable inverse
is timed too: `inverse` is the per-grid precomputation shared by all levels,
`inverse at all level pixels` evaluates `T^-1` at every pixel centre of the
five levels (12,000 points), the work that unzoom adds per level. The
`antialias` rows are the same zoom and unzoom averaging over each output
pixel's footprint (`antialias=True`).

`paper code ms` times the paper's own PyTorch code (CPU) on the same case
when a checkout of it is given (`--paper-code DIR`, or the environment
variable `LZU_PAPER_CODE`; only its `lzu/invert_grid.py` and PyTorch are
needed): `zoom` is `grid_sample` through the grid upsampled with
`interpolate`, `inverse` its `invert_grid` at the shapes of the five
levels, `unzoom (5 levels)` those inverses and a `grid_sample` per level
(as its detector runs them). Without a checkout the column holds figures
recorded earlier on this 2-core CPU, marked `*`.

Usage: python benchmarks/ops_bench.py [--repeats N] [--markdown FILE]
    [--paper-code DIR]
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

# The paper's code on this 2-core CPU, timed earlier (one figure for both
# grids): the fallback when no checkout of it is given.
RECORDED_PAPER_MS = {"zoom": 9.0, "inverse": 3.3, "unzoom (5 levels)": 6.8}


def median_times(cases, repeats):
    """Median wall time (ms) of each `(fn, args)`, timed in interleaved
    rounds after a warm-up call (tracing / compiling): a slow spell of a
    shared machine hits every case alike."""
    for fn, args in cases:
        fn(*args)
    times = [[] for _ in cases]
    for _ in range(repeats):
        for k, (fn, args) in enumerate(cases):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), fn(*args))
            times[k].append(time.perf_counter() - start)
    return [1000 * float(np.median(t)) for t in times]


def run(repeats, paper_code=None):
    """Times every case; returns the table rows
    `(grid, mode, op, ms, x same-mode resize, x fastest resize, paper ms)`.
    """
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

        kind = "separable" if separable else "non-separable"
        paper = (
            paper_code_times(paper_code, images, grid, pyramid, separable,
                             repeats)
            if paper_code else
            {name: f"{ms:.1f}*" for name, ms in RECORDED_PAPER_MS.items()}
        )
        cases_of_grid = lzu_cases(separable)
        points = tf.constant(pyramid_pixel_centres())
        arguments = case_arguments(images, grid, pyramid, points)
        names, cases = [], []
        for mode, jit in (("graph", False), ("XLA", True)):
            names.append((mode, "tf.image.resize"))
            cases.append((tf.function(resize, jit_compile=jit), (images,)))
            for name, fn in cases_of_grid.items():
                names.append((mode, name))
                cases.append(
                    (tf.function(fn, jit_compile=jit), arguments[name])
                )
        timed = dict(zip(names, median_times(cases, repeats)))
        fastest = min(timed[mode, "tf.image.resize"]
                      for mode in ("graph", "XLA"))
        for (mode, name), ms in timed.items():
            base = timed[mode, "tf.image.resize"]
            rows.append((kind, mode, name, ms, ms / base, ms / fastest,
                         paper.get(name, "")))
    return rows


def paper_code_times(directory, images, grid, pyramid, separable, repeats):
    """Times the paper's PyTorch code on the same case (see the module
    docstring); returns `{op: "ms"}`."""
    import importlib.util

    import torch
    import torch.nn.functional as F

    path = os.path.join(directory, "lzu", "invert_grid.py")
    spec = importlib.util.spec_from_file_location("paper_invert_grid", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    image = torch.from_numpy(images.numpy()).permute(0, 3, 1, 2).contiguous()
    # The paper's grids are in [-1, 1] (align_corners=True).
    paper_grid = torch.from_numpy(grid.numpy()) * 2.0 - 1.0
    features = [
        torch.from_numpy(f.numpy()).permute(0, 3, 1, 2).contiguous()
        for f in pyramid
    ]

    def zoom():
        upsampled = F.interpolate(
            paper_grid.permute(0, 3, 1, 2), size=ZOOMED, mode="bilinear",
            align_corners=True,
        ).permute(0, 2, 3, 1)
        return F.grid_sample(image, upsampled, align_corners=True)

    def inverses():
        return [
            module.invert_grid(paper_grid, f.shape, separable=separable)
            for f in features
        ]

    def unzoom():
        return [
            F.grid_sample(f, inverse, mode="bilinear", align_corners=True,
                          padding_mode="zeros")
            for f, inverse in zip(features, inverses())
        ]

    def median_ms(fn):
        with torch.no_grad():
            fn()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
        return f"{1000 * float(np.median(times)):.1f}"

    return {"zoom": median_ms(zoom), "inverse": median_ms(inverses),
            "unzoom (5 levels)": median_ms(unzoom)}


def format_table(rows):
    lines = [
        "| grid | mode | op | ms | x resize (same mode) | "
        "x fastest resize | paper code ms |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for kind, mode, name, ms, ratio, fastest, paper in rows:
        lines.append(
            f"| {kind} | {mode} | {name} | {ms:.2f} | {ratio:.2f} | "
            f"{fastest:.2f} | {paper} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--markdown", help="append the table to this file")
    parser.add_argument(
        "--paper-code", default=os.environ.get("LZU_PAPER_CODE"),
        help="a checkout of the paper's code, to time it beside the ops",
    )
    args = parser.parse_args()
    table = format_table(run(args.repeats, args.paper_code))
    text = (
        "## LZU ops: 1920x1200x3 -> 960x600, 31x51 grid, 5-level pyramid "
        f"(256 ch)\n\n{machine.describe()}\n\n{table}\n"
    )
    machine.publish(text, args.markdown)


if __name__ == "__main__":
    main()
