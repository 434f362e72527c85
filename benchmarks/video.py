"""Adaptive LZU on synthetic driving video: saliency from the previous
frame's detections against a fixed prior and uniform downsampling.

The scenes (`SyntheticDrivingVideos`) move: the camera pans and pitches,
the horizon is at a different height in each video and the far objects
gather around a focus at a random column, so a dataset-wide prior is a
blurred band and the region worth zooming on moves from video to video and
frame to frame. At each input scale (a fraction of the canvas side) and
seed, with the compact KerasCV RetinaNet of `benchmarks/harness.py`:

* **uniform**: trained and run on resized frames;
* **LZU fixed prior**: the KDE prior of the training boxes, fixed;
* **LZU adaptive (boxes)**: the fixed-prior model's weights, zooming on
  the previous frame's detections (`keras_lzu.predict_video`) over a
  uniform floor, the first frame uniform;
* **LZU prior+adaptive**: the same weights, the previous detections' KDE
  over the fixed prior (FOVEA's combined saliency);
* **LZU cascaded (boxes)**: a model trained with box saliency alone
  (the previous detections' KDE over a uniform floor) on frames whose
  prior boxes are the ground truth disturbed by
  `keras_lzu.data.simulate_previous_detections`, run with `predict_video`;
* **LZU cascaded (prior+boxes)**: the same with prior+boxes saliency.

`--models` picks rows (the others are neither trained nor scored), e.g. to
add one row to an earlier run with the same seeds.

Every model is scored with `keras_lzu.evaluation` (COCO AP, AP50, AP_small
over all validation frames, canvas frame). Times: `ms/frame` is the wall
time per frame of prediction (batches of `--streams` frames: `predict` for
the first two, `predict_video` with one stream per video for the adaptive
ones, decoding and NMS included); `forward ms/frame` the compiled network
alone; for the adaptive models, `grid ms/frame` is the compiled adaptive
grid (prior boxes to KDE saliency, warp grid, inverse grid) on the same
batches, and `grid / forward` its ratio to the forward time of the same
model in the same run.

    python -m benchmarks.video [--scales 0.25 0.5] [--seeds 0 1] \\
        [--steps 500] [--markdown benchmarks/runs/video.md]
"""

import argparse
import os
import shlex
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import harness  # noqa: E402

MODELS = ("uniform", "LZU fixed prior", "LZU adaptive (boxes)",
          "LZU prior+adaptive", "LZU cascaded (boxes)",
          "LZU cascaded (prior+boxes)")
# The rows that score the fixed-prior model's trained weights.
FIXED_WEIGHTS = MODELS[1:4]
ADAPTIVE = MODELS[2:]
METRICS = ("AP", "AP50", "AP_small")
TIMES = ("ms/frame", "forward ms/frame", "grid ms/frame", "grid / forward")
# Detections at least this confident steer the next frame's zoom.
SCORE_THRESHOLD = 0.3
MAX_PRIOR_BOXES = 32
# Far objects (px at a 1200-px-high canvas) larger than the harness's: on
# this small canvas they are then as many pixels as the harness's are on
# its 640x1024 one (13-34 px), 3-9 px at 0.25x, where the detectors can
# learn them in a few hundred steps.
FAR_OBJECT_SIZE = (60.0, 160.0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.video",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+",
                        default=[0.25, 0.5],
                        help="input side as a fraction of the canvas side")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=500,
                        help="training steps of each detector (at 200 "
                             "none learns this data)")
    parser.add_argument("--canvas", type=int, nargs=2, default=(256, 384),
                        metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--far-object-size", type=float, nargs=2,
                        default=FAR_OBJECT_SIZE, metavar=("LOW", "HIGH"),
                        help="far object heights, px at 1200 px canvas "
                             "height")
    parser.add_argument("--frames", type=int, default=8,
                        help="frames per video")
    parser.add_argument("--train-videos", type=int, default=16)
    parser.add_argument("--val-videos", type=int, default=8)
    parser.add_argument("--streams", type=int, default=4,
                        help="videos predicted side by side")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--models", nargs="+", choices=MODELS,
                        default=list(MODELS), metavar="MODEL",
                        help="rows to train and score (quote names): "
                             + ", ".join(repr(m) for m in MODELS))
    parser.add_argument("--markdown", help="append the report to this file")
    return parser.parse_args(argv)


def load_videos(videos, split, count):
    """Videos `0 .. count - 1` of `split` as frames in video order, in the
    layout of `harness.load_split` (`"images"`, `"boxes"`, `"classes"`)."""
    sequences = [videos.sequence(i, split) for i in range(count)]
    return {
        "images": np.concatenate([s["frames"] for s in sequences]),
        "boxes": [b for s in sequences for b in s["boxes"]],
        "classes": [c for s in sequences for c in s["classes"]],
        "num_videos": count,
    }


def cascaded_dataset(train, max_boxes, batch_size, seed):
    """Endless `({"images", "prior_boxes"}, labels)` batches whose prior
    boxes are the labels disturbed like a previous frame's detections
    (`keras_lzu.data.with_previous_detections`, its default jitter)."""
    from keras_lzu.data import with_previous_detections

    dataset = harness.training_dataset(
        *harness.training_data(train, max_boxes), batch_size, seed)
    return with_previous_detections(
        dataset, seed, max_boxes=MAX_PRIOR_BOXES).prefetch(2)


def frames_by_stream(split, frames, streams):
    """Batches of `streams` whole videos, frame axis first:
    `[(video indices, (T, streams, H, W, 3))]`."""
    count = split["num_videos"]
    images = split["images"].reshape(count, frames,
                                     *split["images"].shape[1:])
    groups = []
    for start in range(0, count, streams):
        members = list(range(start, min(start + streams, count)))
        groups.append((members, np.swapaxes(images[members], 0, 1)))
    return groups


def run_adaptive(model, split, frames, streams):
    """`predict_video` over the validation videos, `streams` at a time.

    Returns:
        `(detections in frame order, seconds per frame, prior boxes of
        every batch fed to the model)`.
    """
    import keras_lzu

    detections = [None] * len(split["images"])
    priors = []
    groups = frames_by_stream(split, frames, streams)
    # Warm-up: traces the model for this batch shape.
    keras_lzu.predict_video(model, groups[0][1][:2], SCORE_THRESHOLD,
                            MAX_PRIOR_BOXES)
    began = time.perf_counter()
    for members, clip in groups:
        found = keras_lzu.predict_video(model, clip, SCORE_THRESHOLD,
                                        MAX_PRIOR_BOXES)
        for t, per_stream in enumerate(found):
            for video, result in zip(members, per_stream):
                detections[video * frames + t] = result
                priors.append(result["prior_boxes"])
    seconds = (time.perf_counter() - began) / len(split["images"])
    return detections, seconds, priors


def padded_priors(priors, count, batch):
    """`batch` rows of padded pixel xyxy prior boxes, cycling `priors`."""
    out = -np.ones((batch, MAX_PRIOR_BOXES, 4), "float32")
    for b in range(batch):
        boxes = priors[(count + b) % len(priors)][:MAX_PRIOR_BOXES]
        out[b, :len(boxes)] = boxes
    return out


def adaptive_timings(model, split, priors, streams):
    """Compiled forward time per frame of a box-saliency model, and of its
    adaptive grid alone (prior boxes -> KDE -> grid -> inverse)."""
    images = split["images"].astype("float32")
    batches = [(images[i:i + streams], padded_priors(priors, i, streams))
               for i in range(0, len(images) - streams + 1, streams)]
    forward = tf.function(lambda x, p: model(
        {"images": x, "prior_boxes": p}, training=False))
    to_saliency = model.get_layer("lzu_prior_boxes")
    invert = model.get_layer("lzu_invert_grid")

    def grid_only(x, p):
        grid = model.saliency_layer([x, to_saliency([p, x])])
        return invert(grid)

    grid = tf.function(grid_only)
    return (_seconds_per_frame(forward, batches),
            _seconds_per_frame(grid, batches))


def _seconds_per_frame(function, batches):
    harness._block(function(*batches[0]))
    began = time.perf_counter()
    for batch in batches:
        harness._block(function(*batch))
    return (time.perf_counter() - began) / sum(len(b[0]) for b in batches)


def compare(config, args, size, log=print):
    """Trains the detectors `args.models` needs at input `size` and scores
    those rows."""
    import keras_lzu
    from keras_lzu.data import SyntheticDrivingVideos

    videos = SyntheticDrivingVideos(
        image_size=config.canvas, num_frames=args.frames,
        num_classes=config.num_classes, seed=config.seed,
        far_object_size=config.far_object_size,
        train_size=args.train_videos, validation_size=args.val_videos,
        class_colours=config.class_colours)
    train = load_videos(videos, "train", args.train_videos)
    val = load_videos(videos, "validation", args.val_videos)
    prior = harness.box_prior(train, config.canvas, config.prior_floor)
    max_boxes = videos.max_boxes

    def detector():
        return harness.build_retinanet(
            config.num_classes, config.seed, config.filters,
            config.head_filters, min_confidence=config.min_confidence)

    def cascaded(saliency):
        model = keras_lzu.wrap(detector(), size, saliency=saliency,
                               prior=prior if "prior" in saliency else None)
        model.saliency_layer.trainable = False
        return model, cascaded_dataset(train, max_boxes, config.batch_size,
                                       config.seed)

    wanted = set(args.models)
    training = {}
    if "uniform" in wanted:
        training["uniform"] = (detector(), harness.training_dataset(
            *harness.training_data(train, max_boxes, size),
            config.batch_size, config.seed))
    base = detector()
    if wanted & set(FIXED_WEIGHTS):
        training["LZU fixed prior"] = (
            harness.build_lzu(base, size, prior),
            harness.training_dataset(*harness.training_data(train, max_boxes),
                                     config.batch_size, config.seed))
    for saliency in ("boxes", "prior+boxes"):
        name = f"LZU cascaded ({saliency})"
        if name in wanted:
            training[name] = cascaded(saliency)
    for name, (model, dataset) in training.items():
        log(f"[video] seed {config.seed}, {size[0]}x{size[1]}: training "
            f"{name}")
        harness.train_detector(model, dataset, config.steps,
                               config.learning_rate, verbose=0)
    models = {name: model for name, (model, _) in training.items()}
    if "LZU fixed prior" in models:
        # The adaptive rows share the fixed-prior model's trained weights.
        models["LZU adaptive (boxes)"] = keras_lzu.wrap(
            base, size, saliency="boxes")
        models["LZU prior+adaptive"] = keras_lzu.wrap(
            base, size, saliency="prior+boxes", prior=prior)
    models = {name: models[name] for name in MODELS if name in wanted}
    results = {}
    for name, model in models.items():
        log(f"[video] seed {config.seed}, {size[0]}x{size[1]}: scoring "
            f"{name}")
        row = {}
        if name in ADAPTIVE:
            found, per_frame, priors = run_adaptive(
                model, val, args.frames, args.streams)
            forward, grid = adaptive_timings(model, val, priors, args.streams)
            row["grid ms/frame"] = 1000 * grid
            row["grid / forward"] = grid / forward
        else:
            input_size = size if name == "uniform" else None
            found, per_frame = harness.predict_detections(
                model, val["images"], input_size, args.streams)
            forward = harness.forward_seconds(model, val["images"],
                                              input_size, args.streams)
        metrics = harness.coco_metrics(val, found, videos.class_names)
        row.update({key: metrics[key] for key in METRICS})
        row["ms/frame"] = 1000 * per_frame
        row["forward ms/frame"] = 1000 * forward
        results[name] = row
        log(f"[video]   {name}: " + ", ".join(
            f"{k} {_cell(v)}" for k, v in row.items()))
    return results


def _cell(value, spec=".3f"):
    return "n/a" if value is None else format(value, spec)


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def format_table(runs, seeds):
    """Markdown: one row per scale and model, mean over seeds and each
    seed's AP."""
    header = ("| input | model | " + " | ".join(METRICS + TIMES)
              + " | AP per seed |")
    lines = [header, "|" + "---|" * 2 + "---:|" * (len(METRICS) + len(TIMES)
                                                    + 1)]
    for label, per_seed in runs.items():
        for name in MODELS:
            if any(name not in per_seed[seed] for seed in seeds):
                continue
            rows = [per_seed[seed][name] for seed in seeds]
            cells = []
            for key in METRICS + TIMES:
                value = _mean([row.get(key) for row in rows])
                spec = ".1f" if "ms" in key else ".3f"
                cells.append("" if value is None and key in TIMES[2:]
                             else _cell(value, spec))
            ap = " / ".join(_cell(row["AP"]) for row in rows)
            lines.append(f"| {label} | {name} | " + " | ".join(cells)
                         + f" | {ap} |")
    return "\n".join(lines)


def main(argv=None):
    import warnings

    warnings.filterwarnings(
        "ignore", message="The structure of `inputs` doesn't match")
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    args = parse_args(argv)
    began = time.perf_counter()
    runs = {}
    for seed in args.seeds:
        for scale in args.scales:
            config = harness.ExperimentConfig(
                canvas=tuple(args.canvas), budget=scale ** 2,
                steps=args.steps, batch_size=args.batch_size,
                learning_rate=args.learning_rate, seed=seed,
                far_object_size=tuple(args.far_object_size))
            size = config.zoomed_size
            label = f"{scale:g}x ({size[0]}x{size[1]})"
            runs.setdefault(label, {})[seed] = compare(config, args, size)
            print(format_table({label: runs[label]}, [seed]), flush=True)
            print(f"[video] raw {label} seed {seed}: "
                  f"{runs[label][seed]!r}", flush=True)
    minutes = (time.perf_counter() - began) / 60
    report = report_text(args, runs, minutes)
    print("\n" + report)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write("\n" + report + "\n")
    return 0


def report_text(args, runs, minutes):
    from keras_lzu.machine import describe_machine

    command = "python -m benchmarks.video " + shlex.join(sys.argv[1:])
    return "\n".join([
        "## Adaptive LZU on synthetic driving video",
        "",
        f"Synthetic driving video {args.canvas[0]}x{args.canvas[1]}, "
        f"{args.frames} frames per video, {args.train_videos} training / "
        f"{args.val_videos} validation videos (far objects "
        f"{args.far_object_size[0]:g}-{args.far_object_size[1]:g} px at "
        "1200 px height; camera pan and pitch, "
        "horizon height varying by video, far objects around a moving "
        f"focus), {args.steps} steps of batch {args.batch_size}, seeds "
        f"{' '.join(map(str, args.seeds))}; {minutes:.0f} min. Metrics "
        "over all validation frames (COCO, canvas frame), mean over the "
        "seeds; times on batches of "
        f"{args.streams} frames (one per video for the adaptive models).",
        "",
        describe_machine(),
        "",
        format_table(runs, args.seeds),
        "",
        f"*`{command}`*",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
