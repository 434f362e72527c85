"""Does the learned fixed saliency move, and does moving help?

Trains the compact LZU RetinaNet of `benchmarks/harness.py` with its
dataset-wide saliency (`SaliencyGrid(mode="fixed")`) frozen or trained,
initialised uniform or from the KDE prior of the training boxes, with the
saliency's learning-rate multiplier and KL regulariser of
`keras_lzu.SaliencyGrid`, on development seeds (never the reported ones).
For each run it reports how far the saliency moved (relative L2 change of
the peak-normalised map, total variation between the maps normalised to sum
1, and the largest change of its log), the warp's median linear
magnification of the validation boxes per COCO size (at the canvas) before
and after training (`keras_lzu.planning.score_warp`), its worst
compression, and COCO AP against the frozen saliency. The uniform resize
of the harness is the baseline.

    python -m benchmarks.learned_saliency --scale 0.25 --steps 300 \
        --seeds 1000 1001 --runs uniform prior prior:train \
        uniform:train prior:train:m=100 prior:train:m=100:kl=1

A run is `INIT[:train][:m=MULTIPLIER][:kl=WEIGHT]`, INIT `prior` or
`uniform`; `uniform` alone is the harness's uniform resize.
"""

import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import harness  # noqa: E402

DEVELOPMENT_SEEDS = (1000, 1001)
MIN_CONFIDENCE = 0.01
METRICS = ("AP", "AP50", "AP_small")
BUCKETS = ("small", "medium", "large")


@dataclasses.dataclass(frozen=True)
class Run:
    """One LZU configuration (`uniform_resize`: the harness's baseline)."""

    name: str
    init: str
    trainable: bool = False
    multiplier: float = 1.0
    kl_weight: float = 0.0
    uniform_resize: bool = False


def parse_run(text):
    """`INIT[:train][:m=M][:kl=W]` -> `Run`; bare `uniform` is the resize."""
    parts = text.split(":")
    if parts[0] not in ("prior", "uniform"):
        raise ValueError(f"a run starts with prior or uniform: {text!r}")
    if parts == ["uniform"]:
        return Run(text, "uniform", uniform_resize=True)
    options = {"init": parts[0]}
    for part in parts[1:]:
        if part == "train":
            options["trainable"] = True
        elif part.startswith("m="):
            options["multiplier"] = float(part[2:])
        elif part.startswith("kl="):
            options["kl_weight"] = float(part[3:])
        else:
            raise ValueError(f"unknown part {part!r} of run {text!r}")
    return Run(text, **options)


def saliency_layer(run, prior, grid_shape=(31, 51)):
    """The `SaliencyGrid` of `run`; the new options only when set, so that
    the default runs need nothing but the layer's original arguments."""
    from keras_lzu import SaliencyGrid

    options = {}
    if run.multiplier != 1.0:
        options["learning_rate_multiplier"] = run.multiplier
    if run.kl_weight:
        options["prior_regularization"] = run.kl_weight
    layer = SaliencyGrid(
        grid_shape=grid_shape,
        prior=prior if run.init == "prior" else None,
        name="saliency_grid", **options)
    layer.trainable = run.trainable
    return layer


def warp_state(layer):
    """`(peak-normalised saliency (gh, gw), grid (gh, gw, 2))` of a fixed
    saliency layer."""
    from keras import ops

    saliency = ops.convert_to_numpy(layer.saliency())[0].astype("float64")
    grid = ops.convert_to_numpy(layer(np.zeros((1, 8, 8, 3), "float32")))
    return saliency, grid[0].astype("float64")


def movement(before, after):
    """How far the saliency moved: relative L2 change of the
    peak-normalised map, total variation distance of the maps normalised
    to sum 1, and the largest absolute change of its log."""
    p, q = before / before.sum(), after / after.sum()
    return {
        "relative_change": float(np.linalg.norm(after - before)
                                 / np.linalg.norm(before)),
        "total_variation": float(0.5 * np.abs(p - q).sum()),
        "max_log_change": float(np.abs(np.log(after) - np.log(before)).max()),
    }


def warp_summary(grid, boxes, canvas, size):
    """Median magnification per COCO size bucket and worst compression."""
    from keras_lzu import planning

    score = planning.score_warp(grid, boxes, canvas, size,
                                target_size=harness.ANCHOR_SIZES[0])
    return {"magnification": score.magnification,
            "worst_compression": score.worst_compression,
            "criterion": score.criterion}


def normalized_boxes(split, canvas):
    height, width = canvas
    boxes = np.concatenate([np.asarray(b, "float64") for b in split["boxes"]])
    boxes = boxes / np.array([width, height, width, height])
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return np.clip(boxes[keep], 0.0, 1.0)


def run_seed(config, seed, size, runs, log=print, on_result=None):
    """Trains and measures every run on one development seed; a list of
    per-run result dicts, each also given to `on_result` as it is made."""
    import keras_lzu

    seeded = dataclasses.replace(config, seed=seed)
    scenes = harness.make_scenes(seeded)
    train = harness.load_split(scenes, "train", seeded.train_images)
    val = harness.load_split(scenes, "validation", seeded.val_images)
    prior = harness.box_prior(train, seeded.canvas)
    boxes = normalized_boxes(val, seeded.canvas)
    results = []
    for run in runs:
        log(f"[learned_saliency] seed {seed}, {run.name}, "
            f"{size[0]}x{size[1]} input")
        detector = harness.build_retinanet(
            seeded.num_classes, seed, seeded.filters, seeded.head_filters,
            min_confidence=seeded.min_confidence)
        input_size = size if run.uniform_resize else None
        layer = None
        if run.uniform_resize:
            model = detector
        else:
            layer = saliency_layer(run, prior)
            model = keras_lzu.wrap(detector, size, saliency=layer)
        result = {"seed": seed, "run": run.name}
        if layer is not None:
            initial, initial_grid = warp_state(layer)
            result["before"] = warp_summary(initial_grid, boxes,
                                            seeded.canvas, size)
        images, labels = harness.training_data(train, scenes.max_boxes,
                                               input_size)
        dataset = harness.training_dataset(images, labels,
                                           seeded.batch_size, seed)
        result["train_seconds"] = harness.train_detector(
            model, dataset, seeded.steps, seeded.learning_rate, verbose=2)
        if layer is not None:
            final, final_grid = warp_state(layer)
            result["after"] = warp_summary(final_grid, boxes, seeded.canvas,
                                           size)
            result["movement"] = movement(initial, final)
        detections, _ = harness.predict_detections(model, val["images"],
                                                   input_size)
        metrics = harness.coco_metrics(val, detections, scenes.class_names)
        result.update({key: metrics[key] for key in METRICS})
        log("[learned_saliency] " + json.dumps(result))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def format_table(results, runs):
    """Mean over seeds per run: AP, movement, magnification after (before)."""
    lines = [
        "| run | seeds | AP | AP50 | AP_small | saliency change (rel. L2) "
        "| TV | magnification small / medium / large: after (before) "
        "| worst compression after (before) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in runs:
        rows = [r for r in results if r["run"] == run.name]
        if not rows:
            continue
        cells = [f"{np.mean([r[k] for r in rows]):.3f}" for k in METRICS]
        if "movement" in rows[0]:
            change = np.mean([r["movement"]["relative_change"] for r in rows])
            tv = np.mean([r["movement"]["total_variation"] for r in rows])

            def mean_of(stage, bucket):
                values = [r[stage]["magnification"][bucket] for r in rows]
                values = [v for v in values if v is not None]
                return np.mean(values) if values else float("nan")

            magnification = " / ".join(
                f"{mean_of('after', b):.2f} ({mean_of('before', b):.2f})"
                for b in BUCKETS)
            worst = (
                f"{np.mean([r['after']['worst_compression'] for r in rows]):.2f}"
                f" ({np.mean([r['before']['worst_compression'] for r in rows]):.2f})")
            extra = [f"{change:.3f}", f"{tv:.3f}", magnification, worst]
        else:
            extra = ["-", "-", "1 (uniform resize)", "1.00"]
        lines.append(f"| {run.name} | {len(rows)} | " + " | ".join(cells)
                     + " | " + " | ".join(extra) + " |")
    return "\n".join(lines)


def main(argv=None):
    import warnings

    warnings.filterwarnings(
        "ignore", message="The structure of `inputs` doesn't match")
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.25,
                        help="input scale (fraction of the canvas side)")
    parser.add_argument("--runs", nargs="+",
                        default=["uniform", "prior", "prior:train",
                                 "uniform:train"])
    parser.add_argument("--seeds", type=int, nargs="+",
                        default=list(DEVELOPMENT_SEEDS))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--canvas", type=int, nargs=2, default=(640, 1024),
                        metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--train-images", type=int, default=320)
    parser.add_argument("--val-images", type=int, default=96)
    parser.add_argument("--json", help="append each run's result (one JSON "
                                       "line) to this file")
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error(f"--scale must be in (0, 1]; got {args.scale}")
    try:
        runs = [parse_run(text) for text in args.runs]
    except ValueError as error:
        parser.error(f"--runs: {error}")

    from benchmarks import machine

    config = harness.ExperimentConfig(
        canvas=tuple(args.canvas), steps=args.steps,
        train_images=args.train_images, val_images=args.val_images,
        min_confidence=MIN_CONFIDENCE)
    size = harness.zoomed_size(config.canvas, args.scale**2)
    began = time.perf_counter()
    results = []

    def record(result):
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(result) + "\n")

    for seed in args.seeds:
        results += run_seed(config, seed, size, runs, on_result=record)
        print(format_table(results, runs), flush=True)
    minutes = (time.perf_counter() - began) / 60
    text = (
        f"## Learned fixed saliency at {args.scale:g}x ({size[0]}x{size[1]}),"
        f" development seeds {' '.join(map(str, args.seeds))}\n\n"
        f"Synthetic driving scenes {config.canvas[0]}x{config.canvas[1]}, "
        f"{config.train_images} train / {config.val_images} validation "
        f"images, {config.steps} detector steps (batch {config.batch_size}, "
        f"Adam, peak learning rate {config.learning_rate:g}); the prior is "
        f"the KDE of the training boxes, floor {harness.PRIOR_FLOOR:g}; "
        f"{minutes:.0f} min.\n\n{machine.describe()}\n\n"
        f"{format_table(results, runs)}\n"
    )
    machine.publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
