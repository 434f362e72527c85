"""Accuracy of LZU against uniform downsampling at several input scales.

On the synthetic driving benchmark of the experiment harness
(`benchmarks.harness`), for every input scale `s` (a fraction of the
canvas *side*; the model sees `s^2` of the pixels, sizes rounded to
multiples of 32):

* detection: the harness's compact KerasCV RetinaNet trained on uniformly
  resized images vs the same RetinaNet wrapped by `keras_lzu.wrap` with the fixed
  KDE prior of the training boxes; COCO AP, AP50, AP_small (pycocotools) in
  the canvas frame;
* segmentation: a small KerasCV `DeepLabV3Plus` (CSPDarkNet backbone)
  between a resize of the canvas and a resize of its class probabilities
  back to the canvas vs the same model wrapped by `keras_lzu.wrap`; both
  are trained on the canvas masks; mIoU over the background and the object
  classes, and the IoU of each object class, in the canvas frame.

Scale 1 is the "learn to upsample" case: the uniform model sees the canvas
as it is, the LZU model a zoomed canvas of the same size (magnified near
the horizon, compressed elsewhere).

Both models of a pair share the seed, the steps, the optimizer and the
schedule. Printed as a table with the absolute and relative gain of LZU.
Not a test; `--quick` is a short smoke run whose numbers mean little.

With `--layouts`, detection only, per scene layout of
`SyntheticDrivingScenes` (horizon, band, diagonal, cluster), input scale
and seed, five detectors trained alike (`LAYOUT_DETECTORS`): uniform,
uniform with an anti-aliased resize, LZU with the default prior (the KDE
of the training boxes, floor `--prior-floor`, separable), LZU with the
warp `keras_lzu.plan_warp` plans from the training boxes and the budget,
and the planned LZU with anti-aliased zoom and unzooms.

    python -m benchmarks.accuracy                 # about 1-2 h on 2 CPU cores
    python -m benchmarks.accuracy --quick         # ~15 min, a smoke test
    python -m benchmarks.accuracy --layouts horizon band diagonal cluster \
        --scales 0.25 0.5 --seeds 0 1 --canvas 384 640 --steps 200
"""

import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import harness  # noqa: E402
from keras_lzu.data import CLASS_NAMES  # noqa: E402
from keras_lzu.evaluation import SegmentationMetrics  # noqa: E402

FULL = dict(canvas=(640, 1024), steps=1500, train_images=600, val_images=96,
            seg_steps=800, scales=(0.25, 0.5, 0.75, 1.0))
QUICK = dict(canvas=(512, 832), steps=80, train_images=48, val_images=12,
             seg_steps=60, scales=(0.5, 1.0))
# Detections kept for AP: a low threshold, as COCO evaluations use, so that
# short runs still rank their boxes.
MIN_CONFIDENCE = 0.01


# ----------------------------------------------------------------------------
# Segmentation.


def build_deeplab(num_classes, seed=0, filters=(16, 32, 64, 128),
                  head_filters=64):
    """A small KerasCV DeepLabV3Plus built directly (no presets)."""
    import keras
    import keras_cv

    keras.utils.set_random_seed(seed)
    backbone = keras_cv.models.CSPDarkNetBackbone(
        stackwise_channels=list(filters), stackwise_depth=[1, 1, 1, 1],
        include_rescaling=True,
    )
    head = keras.Sequential([
        keras.layers.Conv2D(head_filters, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.UpSampling2D(4, interpolation="bilinear"),
        keras.layers.Conv2D(num_classes, 1, activation="softmax",
                            dtype="float32"),
    ], name="segmentation_head")
    return keras_cv.models.DeepLabV3Plus(
        backbone=backbone, num_classes=num_classes, projection_filters=24,
        spatial_pyramid_pooling=keras_cv.layers.SpatialPyramidPooling(
            dilation_rates=[2, 4, 6], num_channels=head_filters),
        segmentation_head=head,
    )


def segmentation_dataset(images, masks, batch_size, seed):
    """Endless shuffled `(float32 images, int32 masks (B, H, W, 1))`."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, masks[..., None]))
    dataset = dataset.shuffle(len(images), seed=seed).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(lambda x, y: (tf.cast(x, "float32"), y))
    return dataset.prefetch(2)


def train_segmenter(model, dataset, steps, learning_rate):
    """Adam with cosine decay and sparse cross-entropy; returns seconds."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=max(steps, 1), alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  jit_compile=False)
    log_every = max(1, steps // 4)
    began = time.perf_counter()
    model.fit(dataset, epochs=max(1, steps // log_every),
              steps_per_epoch=log_every, verbose=2)
    return time.perf_counter() - began


def recalibrate_batch_norm(model, images, count=96, batch_size=4, seed=0):
    """Sets the moving mean and variance of every `BatchNormalization` in
    `model` to the plain average of their batch statistics over `count`
    of `images` ("precise BN"); returns the number of layers reset.

    The moving statistics that Keras keeps while training are an
    exponential average (momentum 0.99, about the last 100 steps) of
    statistics of weights that kept changing over those steps. After a few
    hundred steps they can lag the weights so far that the model in
    inference mode predicts background everywhere although its training
    loss is low; how far they lag differs from run to run, which moved
    single segmentation runs by up to 0.3 mIoU (`benchmarks/runs/`).
    The weights are not touched.
    """
    import keras

    layers = [layer for layer in model._flatten_layers()
              if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    order = np.random.default_rng(seed).permutation(len(images))[:count]
    try:
        for k, start in enumerate(range(0, len(order), batch_size)):
            # moving <- moving * k/(k+1) + batch / (k+1): the running mean.
            for layer in layers:
                layer.momentum = k / (k + 1.0)
            batch = images[order[start:start + batch_size]]
            model(batch.astype("float32"), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)


def predict_masks(model, images, batch_size=4):
    """Class ids `(N, H, W)` of a segmenter that answers in the canvas
    frame."""
    masks = []
    for i in range(0, len(images), batch_size):
        scores = model.predict(images[i:i + batch_size].astype("float32"),
                               verbose=0)
        masks.append(np.argmax(np.asarray(scores), axis=-1))
    return np.concatenate(masks)


def mask_scores(truth, predicted, class_names):
    """`{"mIoU", "IoU <class>" for every class but the first (background)}`
    of predicted masks (`keras_lzu.evaluation.SegmentationMetrics`).

    A class in neither `truth` nor `predicted` has no IoU: NaN, which keeps
    the per-seed lists of the table aligned and is not in the mIoU.
    """
    metrics = SegmentationMetrics(len(class_names), class_names)
    metrics.update(truth, predicted)
    scores = metrics.result()
    results = {"mIoU": scores["mIoU"]}
    for name in class_names[1:]:
        results[f"IoU {name}"] = scores["per_class"].get(name, float("nan"))
    return results


def uniform_segmenter(deeplab, canvas, size):
    """`deeplab` between a bilinear resize of the canvas to `size` and a
    bilinear resize of its class probabilities back to the canvas.

    The uniform baseline of the comparison: like the LZU wrapper, it takes
    canvas images and answers in the canvas frame, so both are trained on
    the same full-resolution masks (training the uniform model on masks
    resized to `size` would give it coarser labels than LZU's).
    """
    import keras

    images = keras.Input((*canvas, 3))
    resized = keras.layers.Resizing(*size, interpolation="bilinear")(images)
    scores = keras.layers.Resizing(*canvas, interpolation="bilinear",
                                   dtype="float32")(deeplab(resized))
    return keras.Model(images, scores, name="uniform_segmenter")


def compare_segmenters(config, train, val, prior, size, steps, log=print,
                       precise_bn=True):
    """Trains uniform and LZU DeepLabV3Plus at `size`.

    Both take canvas images, are trained on canvas masks and answer in the
    canvas frame; they differ only in how the canvas becomes `size`. With
    `precise_bn`, the batch-norm statistics of both are recomputed on
    training images before the evaluation (`recalibrate_batch_norm`).

    Returns:
        `{"uniform": metrics, "LZU": metrics}`, each with `"mIoU"` (over
        the background and the object classes) and `"IoU <class>"` for
        every object class.
    """
    num_classes = config.num_classes + 1
    class_names = ["background", *CLASS_NAMES[:config.num_classes]]
    canvas = train["images"].shape[1:3]
    models = {
        "uniform": uniform_segmenter(build_deeplab(num_classes, config.seed),
                                     canvas, size),
        "LZU": harness.build_lzu(build_deeplab(num_classes, config.seed), size,
                              prior),
    }
    results = {}
    for name, model in models.items():
        log(f"[accuracy] segmentation, {name}, {size[0]}x{size[1]} input")
        dataset = segmentation_dataset(train["images"], train["masks"],
                                       config.batch_size, config.seed)
        train_segmenter(model, dataset, steps, config.learning_rate)
        if precise_bn:
            recalibrate_batch_norm(model, train["images"], seed=config.seed)
        results[name] = mask_scores(
            val["masks"], predict_masks(model, val["images"]), class_names)
        log(f"[accuracy] segmentation, {name}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in results[name].items()))
    return results


# ----------------------------------------------------------------------------
# The table.


@dataclasses.dataclass
class Row:
    """One metric at one scale: a value per seed for each model."""

    task: str
    metric: str
    scale: float
    size: tuple
    uniform: list
    lzu: list

    def cells(self):
        uniform = np.mean(self.uniform)
        gains = np.subtract(self.lzu, self.uniform)
        relative = (f"{100 * np.mean(gains) / uniform:+.0f}%"
                    if uniform > 0 else "n/a")
        return (f"| {self.task} | {self.metric} | {self.scale:g}x "
                f"({self.size[0]}x{self.size[1]}) | "
                f"{_mean_spread(self.uniform)} | {_mean_spread(self.lzu)} | "
                f"{_mean_spread(gains, '+.3f')} | {relative} | "
                f"{int(np.sum(gains > 0))}/{len(gains)} | "
                f"{_paired_t(gains)} |")


def _paired_t(gains):
    """`t, p` of the two-sided paired t-test of mean gain 0 over the seeds."""
    if len(gains) < 2 or np.std(gains) == 0:
        return "n/a"
    from scipy import stats

    result = stats.ttest_1samp(gains, 0.0)
    return f"{result.statistic:.2f}, {result.pvalue:.2g}"


def _mean_spread(values, spec=".3f"):
    """`mean` of one value, `mean +- std` of several (one per seed)."""
    if len(values) == 1:
        return format(values[0], spec)
    return (f"{format(np.mean(values), spec)} +- "
            f"{np.std(values, ddof=1):.3f}")


def format_table(rows):
    lines = ["| task | metric | input scale | uniform | LZU | gain "
             "(paired) | relative | LZU ahead (seeds) | paired t, p |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    lines += [row.cells() for row in rows]
    return "\n".join(lines)


def per_seed(rows, seeds):
    """One line per row: `uniform / LZU` for each seed."""
    lines = []
    for row in rows:
        pairs = ", ".join(
            f"seed {seed}: {a:.3f} / {b:.3f}"
            for seed, a, b in zip(seeds, row.uniform, row.lzu))
        lines.append(f"- {row.task} {row.metric} {row.scale:g}x (uniform / "
                     f"LZU): {pairs}")
    return "\n".join(lines)


def run(config, scales, seg_steps, segmentation=True, seeds=(0,),
        log=print, detection=True, precise_bn=True):
    """Runs every comparison for every seed; returns the table rows.

    A seed sets the data (a different benchmark draw), the weights and the
    shuffling of both models of a pair.
    """
    rows = {}
    seeds = list(seeds)
    for done, seed in enumerate(seeds, start=1):
        seeded = dataclasses.replace(config, seed=seed)
        scenes = harness.make_scenes(seeded)
        train = harness.load_split(scenes, "train", seeded.train_images)
        val = harness.load_split(scenes, "validation", seeded.val_images)
        prior = harness.box_prior(train, seeded.canvas, seeded.prior_floor)
        for scale in scales:
            size = harness.zoomed_size(seeded.canvas, scale**2)
            metrics = {}
            if detection:
                _, metrics, _, _ = harness.compare_detectors(
                    seeded, scenes, train, val, prior, size, log)
            for key in ("AP", "AP50", "AP_small") if detection else ():
                row = rows.setdefault(
                    ("detection", key, scale),
                    Row("detection", key, scale, size, [], []))
                row.uniform.append(metrics["uniform"][key])
                row.lzu.append(metrics["LZU"][key])
            if segmentation:
                scores = compare_segmenters(seeded, train, val, prior, size,
                                            seg_steps, log, precise_bn)
                for key in scores["uniform"]:
                    row = rows.setdefault(
                        ("segmentation", key, scale),
                        Row("segmentation", key, scale, size, [], []))
                    row.uniform.append(scores["uniform"][key])
                    row.lzu.append(scores["LZU"][key])
            # The per-seed values go to the log after every seed, so an
            # interrupted run keeps them (the table only has mean +- std).
            log(f"[accuracy] seed {seed}, scale {scale:g}:\n"
                + format_table(list(rows.values())) + "\n"
                + per_seed(list(rows.values()), seeds[:done]))
    return list(rows.values())


# ----------------------------------------------------------------------------
# The per-layout sweep.

LAYOUT_DETECTORS = ("uniform", "uniform AA", "LZU default", "LZU planned",
                    "LZU planned AA")


def layout_detectors(config, train, size, names=LAYOUT_DETECTORS, log=print):
    """The `harness.Detector`s of one cell of the sweep, and the warp plan.

    The plan (`keras_lzu.plan_warp`) sees the training boxes, the canvas
    and `size`; its target size is the smallest anchor of the harness's
    RetinaNet (`harness.ANCHOR_SIZES[0]`), as `plan_warp` asks.
    """
    plan = None
    if any("planned" in name for name in names):
        from keras_lzu import plan_warp

        plan = plan_warp(train["boxes"], config.canvas, size,
                         target_size=harness.ANCHOR_SIZES[0])
        log(f"[accuracy] {plan}")
    prior = harness.box_prior(train, config.canvas, config.prior_floor)

    def lzu(saliency, separable=True, antialias=False):
        return lambda retinanet, size: harness.build_lzu(
            retinanet, size, saliency, separable=separable,
            antialias=antialias)

    detectors = {
        "uniform": lambda: harness.Detector("uniform"),
        "uniform AA": lambda: harness.Detector("uniform AA", antialias=True),
        "LZU default": lambda: harness.Detector("LZU default", lzu(prior)),
        "LZU planned": lambda: harness.Detector(
            "LZU planned", lzu(plan.prior, plan.separable)),
        "LZU planned AA": lambda: harness.Detector(
            "LZU planned AA", lzu(plan.prior, plan.separable, True)),
    }
    return [detectors[name]() for name in names], plan


def run_layouts(config, layouts, scales, seeds, names=LAYOUT_DETECTORS,
                log=print):
    """Trains and scores the detectors `names` per seed, layout and scale.

    Returns:
        `(results, plans)`: `results[(layout, scale)][name]` is a list of
        `(seed, metrics)`; `plans[(layout, scale)]` a list of `(seed,
        plan summary)`.
    """
    results, plans = {}, {}
    for seed in seeds:
        for layout in layouts:
            seeded = dataclasses.replace(config, seed=seed, layout=layout)
            scenes = harness.make_scenes(seeded)
            train = harness.load_split(scenes, "train", seeded.train_images)
            val = harness.load_split(scenes, "validation", seeded.val_images)
            for scale in scales:
                size = harness.zoomed_size(seeded.canvas, scale**2)
                detectors, plan = layout_detectors(seeded, train, size, names,
                                                   log)
                _, metrics, _, _ = harness.train_and_score(
                    seeded, scenes, train, val, size, detectors, log,
                    timing=False)
                cell = results.setdefault((layout, scale), {})
                for name in names:
                    cell.setdefault(name, []).append((seed, metrics[name]))
                if plan is not None:
                    plans.setdefault((layout, scale), []).append(
                        (seed, plan.summary()))
                log(f"[accuracy] seed {seed}, {layout}, {scale:g}x:\n"
                    + format_layout_table(results, names))
    return results, plans


def format_layout_table(results, names=LAYOUT_DETECTORS,
                        metrics=("AP", "AP_small")):
    """Markdown: a row per layout and scale, a cell per detector with each
    metric's mean over the seeds and the per-seed values in brackets."""
    header = " | ".join(f"{name} {metric}" for name in names
                        for metric in metrics)
    lines = [f"| layout | scale | {header} |",
             "|---|---|" + "---:|" * (len(names) * len(metrics))]
    for (layout, scale), cell in results.items():
        values = []
        for name in names:
            for metric in metrics:
                seeded = [m[metric] for _, m in cell.get(name, [])
                          if m[metric] is not None]
                values.append(_seed_cell(seeded))
        lines.append(f"| {layout} | {scale:g}x | " + " | ".join(values) + " |")
    return "\n".join(lines)


def _seed_cell(values):
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return (f"{np.mean(values):.3f} ["
            + ", ".join(f"{v:.3f}" for v in values) + "]")


def format_plans(plans):
    """One line per layout, scale and seed: the plan's choice."""
    lines = []
    for (layout, scale), entries in plans.items():
        for seed, plan in entries:
            magnification = ", ".join(
                f"{k} {v:.2f}x" for k, v in plan["magnification"].items()
                if v is not None)
            lines.append(
                f"- {layout} {scale:g}x seed {seed}: "
                f"{'separable' if plan['separable'] else 'general'}, floor "
                f"{plan['floor']}, box weight {plan['box_weight']}; "
                f"predicted magnification {magnification}; worst "
                f"compression {plan['worst_compression']:.2f}x")
    return "\n".join(lines)


def main_layouts(args, settings):
    """`--layouts`: the per-layout sweep and its section."""
    from benchmarks import machine

    config = harness.ExperimentConfig(
        canvas=tuple(settings["canvas"]), steps=settings["steps"],
        train_images=settings["train_images"],
        val_images=settings["val_images"], min_confidence=MIN_CONFIDENCE,
        class_colours=args.class_colours, prior_floor=args.prior_floor)
    began = time.perf_counter()
    results, plans = run_layouts(config, args.layouts, settings["scales"],
                                 args.seeds, tuple(args.detectors))
    minutes = (time.perf_counter() - began) / 60
    text = (
        "## Accuracy per scene layout: uniform vs LZU\n\n"
        f"Layouts {', '.join(args.layouts)}; canvas {config.canvas[0]}x"
        f"{config.canvas[1]}, {config.train_images} train / "
        f"{config.val_images} validation images, {config.steps} detector "
        f"steps (batch {config.batch_size}), seeds "
        f"{' '.join(map(str, args.seeds))}, "
        f"{'colour-coded' if config.class_colours else 'shared-palette'} "
        f"classes, default prior floor {config.prior_floor:g}; "
        f"{minutes:.0f} min. Cells: mean [per seed].\n\n"
        f"{machine.describe()}\n\n{format_layout_table(results, args.detectors)}"
        "\n\n" + (f"Warp plans:\n\n{format_plans(plans)}\n\n" if plans
                   else "")
        + "Command: `python -m benchmarks.accuracy "
        + " ".join(sys.argv[1:]) + "`\n")
    machine.publish(text, args.markdown)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run (small canvas, few steps)")
    parser.add_argument("--scales", type=float, nargs="+",
                        help="input scales (fractions of the canvas side)")
    parser.add_argument("--steps", type=int, help="detector training steps")
    parser.add_argument("--seg-steps", type=int,
                        help="segmenter training steps")
    parser.add_argument("--canvas", type=int, nargs=2,
                        metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--train-images", type=int)
    parser.add_argument("--val-images", type=int)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="one comparison per seed (data and weights); "
                             "the table shows mean +- std")
    parser.add_argument("--class-colours", default=harness.CLASS_COLOURS,
                        action=argparse.BooleanOptionalAction,
                        help="colour-code the object classes")
    parser.add_argument("--prior-floor", type=float,
                        default=harness.PRIOR_FLOOR,
                        help="uniform floor of LZU's KDE prior relative to "
                             "its peak (larger: a gentler warp; see "
                             "warp_strength.py)")
    parser.add_argument("--precise-bn", default=True,
                        action=argparse.BooleanOptionalAction,
                        help="recompute the segmenters' batch-norm "
                             "statistics on training images before the "
                             "evaluation (results before 2026-11-26 ran "
                             "without)")
    parser.add_argument("--no-segmentation", action="store_true")
    parser.add_argument("--no-detection", action="store_true")
    parser.add_argument("--markdown", help="append the table to this file")
    parser.add_argument("--layouts", nargs="+",
                        choices=("horizon", "band", "diagonal", "cluster"),
                        help="the per-layout detection sweep (see above)")
    parser.add_argument("--detectors", nargs="+", choices=LAYOUT_DETECTORS,
                        default=list(LAYOUT_DETECTORS),
                        help="the detectors of the per-layout sweep")
    args = parser.parse_args(argv)

    from benchmarks import machine

    if args.no_detection and args.no_segmentation:
        parser.error("--no-detection and --no-segmentation leave nothing "
                     "to run")

    settings = dict(QUICK if args.quick else FULL)
    for key in ("scales", "steps", "seg_steps", "canvas", "train_images",
                "val_images"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.layouts:
        return main_layouts(args, settings)
    config = harness.ExperimentConfig(
        canvas=tuple(settings["canvas"]), steps=settings["steps"],
        train_images=settings["train_images"],
        val_images=settings["val_images"],
        min_confidence=MIN_CONFIDENCE, class_colours=args.class_colours,
        prior_floor=args.prior_floor)
    began = time.perf_counter()
    rows = run(config, settings["scales"], settings["seg_steps"],
               not args.no_segmentation, args.seeds,
               detection=not args.no_detection, precise_bn=args.precise_bn)
    minutes = (time.perf_counter() - began) / 60
    text = (
        f"## Accuracy: uniform vs LZU{' (--quick)' if args.quick else ''}\n\n"
        f"Synthetic driving scenes {config.canvas[0]}x{config.canvas[1]}, "
        f"{config.train_images} train / {config.val_images} validation "
        "images, "
        + ("no detection, " if args.no_detection
           else f"{config.steps} detector steps, ")
        + ("no segmentation" if args.no_segmentation
           else f"{settings['seg_steps']} segmenter steps"
           + ("" if args.precise_bn else " without precise BN"))
        + f" (batch {config.batch_size}), seeds "
        f"{' '.join(map(str, args.seeds))}, "
        f"{'colour-coded' if config.class_colours else 'shared-palette'} "
        f"classes, LZU prior floor {config.prior_floor:g}; "
        f"{minutes:.0f} min.\n\n{machine.describe()}\n\n"
        f"{format_table(rows)}\n"
        + (f"\n{per_seed(rows, args.seeds)}\n" if len(args.seeds) > 1
           else "")
    )
    machine.publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
