"""Inference overhead of LZU: wrapped vs unwrapped RetinaNet forward passes.

The detector is the harness's (`benchmarks.harness.build_retinanet`:
CSPDarkNet backbone, compact pyramid and heads) or, with `--heads keras_cv`, KerasCV's
default 256-channel pyramid and heads on the same backbone; `--backbone
resnet18` or `resnet50` times instead `lzu train`'s KerasCV RetinaNet of that
backbone (`keras_lzu.training.build_base_model`, KerasCV's pyramid and
heads), heavier models on which the same LZU costs the same milliseconds
but a smaller share. Several `--backbone` names give one table. The raw
forward pass (`{"box", "classification"}`, no NMS) is timed, batch
`--batch`, in graph mode (`tf.function`), in graph mode with the LZU layers
compiled as XLA clusters (`graph, XLA LZU`: what an export with
`jit_compile_lzu=True` runs) and with XLA (`jit_compile=True`), in one run:

* `unwrapped`: the RetinaNet on images of the zoomed size `h x w`;
* `uniform pipeline`: `tf.image.resize` of the `H x W` canvas, then the
  RetinaNet;
* `LZU fixed, h x w input`: `keras_lzu.wrap` with a fixed saliency on
  images of the zoomed size (the pure cost of zoom + unzoom; the grid and
  its inverse do not depend on the input);
* `LZU fixed`: the same on the `H x W` canvas (the real use);
* `LZU adaptive (boxes)`: a `SaliencyGrid(mode="boxes")` from 32 boxes per
  image (e.g. the previous frame's detections), so the grid and its inverse
  are computed per image, then zoom, the RetinaNet, unzoom.

Every case is traced as `keras_lzu.export` traces a model, so a fixed
saliency's grid and its inverse are constants of the graph (the adaptive
grid is computed per image). Then the parts of `LZU fixed`, each timed alone
in the same rounds (their `x unwrapped` is their share of the unwrapped
forward pass): the grid of the fixed saliency and the grid and its inverse,
both computed (what the constants save), the zoom from `h x w` and from the
canvas, the unzoom of every pyramid level, and `tf.image.resize` of the
canvas for comparison.

`--families` times instead, in one table, a realistically sized model of
each family `keras_lzu.wrap` supports (`benchmarks.family_models`: its
smallest preset's configuration, built locally) at its own size `h x w`
(640x640 detectors, 512x512 segmenters), with their raw outputs:
`unwrapped` on `h x w` images, `uniform pipeline` from a canvas of twice
each side, `LZU fixed, h x w input` and `LZU fixed` from the canvas
(segmenters' score maps come back at the canvas size, in the uniform
pipeline by `tf.image.resize`).

The cases are timed in interleaved rounds (`--repeats`) after a warm-up;
the best and the median time are given in ms, and the ratio of the best
times to `unwrapped` of the same mode.

    python -m benchmarks.overhead [--canvas 1200 1920] [--budget 0.25]
        [--backbone compact resnet50] [--cpu-time]
    python -m benchmarks.overhead --families [retinanet_hub segformer ...]
        [--cpu-time]
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import family_models  # noqa: E402

BACKBONES = ("compact", "resnet18", "resnet50")
FAMILY_NAMES = tuple(family.name for family in family_models.FAMILIES)
MODES = ("graph", "graph, XLA LZU", "XLA")
# Parts timed as computed per call (what storing them as constants saves).
COMPUTED_PARTS = ("part: grid (computed)",
                  "part: grid + inverse (computed)")


def call_and_wait(function, args):
    """Calls `function(*args)` and waits for every output tensor."""
    import tensorflow as tf

    for value in tf.nest.flatten(function(*args)):
        value.numpy()


def interleaved_times(cases, repeats, clock=time.perf_counter):
    """Best and median time (ms) of each case, timed in rounds.

    Every round times each case once, so a slow spell of a shared machine
    hits all cases alike; the best time is the least disturbed.

    Args:
        cases: list of `(function, args)`.
        repeats: number of rounds.
        clock: `time.perf_counter` (wall time) or `time.process_time`
            (CPU time of the process, which waiting for a busy machine's
            cores does not count).

    Returns:
        A list of `(best_ms, median_ms)`, one per case.
    """
    for function, args in cases:
        call_and_wait(function, args)
        call_and_wait(function, args)
    times = [[] for _ in cases]
    for _ in range(repeats):
        for k, (function, args) in enumerate(cases):
            began = clock()
            call_and_wait(function, args)
            times[k].append(1000.0 * (clock() - began))
    return [(min(t), float(np.median(t))) for t in times]


def build_detector(heads, num_classes=3, seed=0, backbone="compact"):
    """The harness's compact RetinaNet, or one with KerasCV's default
    pyramid/heads; for a `backbone` other than `"compact"`, `lzu train`'s
    KerasCV RetinaNet of that ResNet."""
    from benchmarks import harness

    if backbone != "compact":
        from keras_lzu.training import build_base_model

        return build_base_model("detection", "keras_cv", num_classes,
                                backbone=backbone, seed=seed)
    if heads == "compact":
        return harness.build_retinanet(num_classes, seed)
    import keras
    import keras_cv

    keras.utils.set_random_seed(seed)
    compact = harness.build_retinanet(num_classes, seed)
    return keras_cv.models.RetinaNet(
        num_classes=num_classes, bounding_box_format="xyxy",
        backbone=compact.backbone,
        anchor_generator=compact.anchor_generator,
    )


def retinanet_heads(retinanet, pyramid):
    """The RetinaNet heads on a list of pyramid levels, as in KerasCV."""
    from keras import ops

    boxes, scores = [], []
    batch = ops.shape(pyramid[0])[0]
    for level in pyramid:
        boxes.append(ops.reshape(retinanet.box_head(level), (batch, -1, 4)))
        scores.append(ops.reshape(retinanet.classification_head(level),
                                  (batch, -1, retinanet.num_classes)))
    return {"box": ops.concatenate(boxes, axis=1),
            "classification": ops.concatenate(scores, axis=1)}


def adaptive_forward(retinanet, output_size):
    """Forward pass with a per-image grid from boxes (`mode="boxes"`)."""
    import keras_lzu

    saliency = keras_lzu.SaliencyGrid(mode="boxes")
    zoom = keras_lzu.ZoomLayer(output_size, separable=True)
    invert = keras_lzu.InvertGrid(separable=True)
    unzoom = keras_lzu.UnzoomLayer(separable=True)

    def forward(images, boxes):
        grid = saliency([images, boxes])
        zoomed = zoom([images, grid])
        inverse = invert(grid)
        features = retinanet.feature_extractor(zoomed)
        pyramid = retinanet.feature_pyramid(features)
        pyramid = [unzoom([level, inverse]) for level in pyramid]
        return retinanet_heads(retinanet, pyramid)

    return forward


def lzu_parts(wrapped, retinanet, size, small_images, canvas_images):
    """Cases timing the parts of `wrapped`'s forward pass one by one, with
    its own layers: `(name, function, args)`."""
    import tensorflow as tf

    saliency = wrapped.saliency_layer
    zoom = wrapped.get_layer("lzu_zoom")
    invert = wrapped.get_layer("lzu_invert_grid")
    unzoom = [layer for layer in wrapped.layers
              if layer.name.startswith("lzu_unzoom_")][0]
    pyramid = retinanet.feature_pyramid(
        retinanet.feature_extractor(small_images))
    grid = saliency(small_images)
    inverse = invert(grid)

    def grid_only(images):
        return saliency(images)

    def grid_and_inverse(images):
        return invert(saliency(images))

    def zoom_only(images):
        return zoom([images, grid])

    def unzoom_levels(*levels):
        return [unzoom([level, inverse]) for level in levels]

    def resize(images):
        return tf.image.resize(images, size)

    return (
        ("part: grid (computed)", grid_only, (small_images,)),
        ("part: grid + inverse (computed)", grid_and_inverse,
         (small_images,)),
        ("part: zoom from h x w", zoom_only, (small_images,)),
        ("part: zoom from canvas", zoom_only, (canvas_images,)),
        ("part: unzoom of every level", unzoom_levels, tuple(pyramid)),
        ("part: tf.image.resize of canvas", resize, (canvas_images,)),
    )


def random_boxes(batch, count, seed=0):
    """Normalized xyxy boxes, small and near the middle band."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform([0.05, 0.4], [0.95, 0.55], (batch, count, 2))
    size = rng.uniform(0.01, 0.06, (batch, count, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=-1)
    return np.clip(boxes, 0, 1).astype("float32")


def run(canvas, budget, batch, repeats, heads, modes=MODES,
        cpu_time=False, backbone="compact"):
    """Times every case; returns a list of `(mode, case, best ms, median ms,
    ratio)` and the zoomed size.

    With `cpu_time`, TensorFlow runs on one thread and the process's CPU
    time is measured: a figure a shared, busy machine hardly disturbs.
    """
    import tensorflow as tf

    clock = timing_clock(cpu_time)
    from benchmarks import harness
    from keras_lzu.data import saliency_prior_from_boxes

    size = harness.zoomed_size(canvas, budget)
    rng = np.random.default_rng(0)
    canvas_images = tf.constant(
        rng.uniform(0, 255, (batch, *canvas, 3)).astype("float32"))
    small_images = tf.image.resize(canvas_images, size)
    boxes = tf.constant(random_boxes(batch, 32))
    prior = saliency_prior_from_boxes(list(boxes.numpy()))

    retinanet = build_detector(heads, backbone=backbone)
    wrapped = harness.build_lzu(retinanet, size, prior)
    adaptive = adaptive_forward(retinanet, size)
    adaptive(canvas_images, boxes)  # Builds the layers outside tf.function.

    def unwrapped(images):
        return retinanet(images, training=False)

    def uniform(images):
        return retinanet(tf.image.resize(images, size), training=False)

    def lzu(images):
        return wrapped(images, training=False)

    cases = (
        ("unwrapped", unwrapped, (small_images,)),
        ("uniform pipeline (resize + model)", uniform, (canvas_images,)),
        ("LZU fixed, h x w input", lzu, (small_images,)),
        ("LZU fixed", lzu, (canvas_images,)),
        ("LZU adaptive (boxes)", adaptive, (canvas_images, boxes)),
        *lzu_parts(wrapped, retinanet, size, small_images, canvas_images),
    )
    return time_modes(cases, modes, repeats, clock), size


def run_family(family, batch, repeats, modes=MODES, cpu_time=False):
    """Times `family` (a `benchmarks.family_models.FamilyModel`) unwrapped
    at its output size `h x w`, as a uniform pipeline from a canvas twice
    as large (resize, the model, and for segmenters the score maps resized
    to the canvas, as the wrapped model returns them), and wrapped with a
    fixed saliency on `h x w` images and on the canvas; returns the rows of
    `time_modes` and the canvas size."""
    import tensorflow as tf

    import keras_lzu
    from keras_lzu.data import saliency_prior_from_boxes

    clock = timing_clock(cpu_time)
    size = tuple(family.output_size)
    canvas = tuple(2 * side for side in size)
    rng = np.random.default_rng(0)
    canvas_images = tf.constant(
        rng.uniform(0, 255, (batch, *canvas, 3)).astype("float32"))
    small_images = tf.image.resize(canvas_images, size)
    prior = saliency_prior_from_boxes(list(random_boxes(batch, 32)))

    model = family.build()
    wrapped = keras_lzu.wrap(model, output_size=size, saliency=prior)

    def unwrapped(images):
        return model(images, training=False)

    def uniform(images):
        outputs = model(tf.image.resize(images, size), training=False)
        if family.task == "segmentation":
            return tf.image.resize(outputs, tf.shape(images)[1:3])
        return outputs

    def lzu(images):
        return wrapped(images, training=False)

    cases = (
        ("unwrapped", unwrapped, (small_images,)),
        ("uniform pipeline (resize + model)", uniform, (canvas_images,)),
        ("LZU fixed, h x w input", lzu, (small_images,)),
        ("LZU fixed", lzu, (canvas_images,)),
    )
    return time_modes(cases, modes, repeats, clock), canvas


def timing_clock(cpu_time):
    """`time.process_time` on one TensorFlow thread with `cpu_time`, else
    `time.perf_counter`."""
    import tensorflow as tf

    if not cpu_time:
        return time.perf_counter
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return time.process_time


def time_modes(cases, modes, repeats, clock):
    """Times `cases` (`(name, function, args)`, the first the baseline) in
    each of `modes`; returns a list of `(mode, name, best ms, median ms,
    ratio of the best times to the first case's)`."""
    rows = []
    for mode in modes:
        compiled = [(traced(function, args, mode,
                            constant_grids=name not in COMPUTED_PARTS), args)
                    for name, function, args in cases]
        times = interleaved_times(compiled, repeats, clock)
        base = times[0][0]
        for (name, _, _), (best, median) in zip(cases, times):
            rows.append((mode, name, best, median, best / base))
    return rows


def traced(function, args, mode, constant_grids=True):
    """`function` as a `tf.function` of `mode` (`MODES`), traced on `args`;
    with `constant_grids` as `keras_lzu.export` traces a model: a fixed
    saliency's grid and its inverse are constants of the graph."""
    import contextlib

    import tensorflow as tf

    from keras_lzu.layers import constant_grids as constants
    from keras_lzu.layers import xla_clusters

    compiled = tf.function(function, jit_compile=(mode == "XLA"))
    scope = (xla_clusters.compiled_lzu_layers() if mode == "graph, XLA LZU"
             else contextlib.nullcontext())
    grids = (constants.constant_fixed_grids() if constant_grids
             else contextlib.nullcontext())
    with scope, grids:
        compiled.get_concrete_function(*args)
    return compiled


def format_table(rows):
    lines = ["| model | mode | forward pass | best ms | median ms | "
             "x unwrapped (best) |", "|---|---|---|---:|---:|---:|"]
    for model, mode, name, best, median, ratio in rows:
        lines.append(
            f"| {model} | {mode} | {name} | {best:.1f} | {median:.1f} | "
            f"{ratio:.2f} |")
    return "\n".join(lines)


def family_section(names, batch, repeats, modes, cpu_time):
    """The section of `--families`: one table, a row per family, mode and
    case."""
    from benchmarks import machine

    rows = []
    for name in names:
        family = family_models.family_model(name)
        family_rows, canvas = run_family(family, batch, repeats, modes,
                                         cpu_time)
        size = family.output_size
        label = (f"{family.description}, {size[0]}x{size[1]} "
                 f"(canvas {canvas[0]}x{canvas[1]})")
        rows.extend((label, *row) for row in family_rows)
    return (
        f"## LZU overhead per model family: forward pass, batch {batch}, "
        f"{repeats} rounds, {clock_name(cpu_time)}\n\n"
        f"{machine.describe()}\n\n"
        f"{format_table(rows)}\n"
    )


def clock_name(cpu_time):
    return "CPU ms, one thread" if cpu_time else "wall ms"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canvas", type=int, nargs=2, default=(1200, 1920),
                        metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--budget", type=float, default=0.25,
                        help="fraction of the canvas area the model sees")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--backbone", nargs="+", choices=BACKBONES,
                        default=["compact"],
                        help="the harness's compact CSPDarkNet RetinaNet, or "
                        "lzu train's KerasCV RetinaNet of a ResNet")
    models.add_argument("--families", nargs="*", choices=FAMILY_NAMES,
                        help="time these model families instead, at their "
                        "own sizes (none named: all of them)")
    parser.add_argument("--heads", choices=("compact", "keras_cv"),
                        default="compact",
                        help="pyramid and heads of the compact backbone")
    parser.add_argument("--modes", nargs="+", choices=MODES,
                        default=list(MODES))
    parser.add_argument("--no-xla", action="store_true",
                        help="graph mode only (same as --modes graph)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one TensorFlow thread, process CPU time")
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args(argv)

    from benchmarks import machine

    modes = ("graph",) if args.no_xla else tuple(args.modes)
    if args.families is not None:
        text = family_section(args.families or FAMILY_NAMES, args.batch,
                              args.repeats, modes, args.cpu_time)
        machine.publish(text, args.markdown)
        return 0
    rows = []
    for backbone in args.backbone:
        backbone_rows, size = run(
            tuple(args.canvas), args.budget, args.batch, args.repeats,
            args.heads, modes, args.cpu_time, backbone,
        )
        name = f"compact ({args.heads} heads)" if backbone == "compact" else (
            backbone)
        rows.extend((name, *row) for row in backbone_rows)
    text = (
        f"## LZU overhead: RetinaNet forward, canvas "
        f"{args.canvas[0]}x{args.canvas[1]} -> {size[0]}x{size[1]}, batch "
        f"{args.batch}, {args.repeats} rounds, {clock_name(args.cpu_time)}"
        f"\n\n"
        f"{machine.describe()}\n\n"
        f"{format_table(rows)}\n"
    )
    machine.publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
