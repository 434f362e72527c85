"""Choose the strength of LZU's warp for one input scale on development data.

The fixed KDE prior of the training boxes has one free knob, its uniform
`floor` relative to the peak (`saliency_prior_from_boxes(floor=...)`): the
smaller the floor, the more the warp magnifies the horizon band and the
more it squeezes everything else. A strength that pays at a low budget can
cost at a high one, where the uniform resize already resolves the objects.

This benchmark trains, at one scale, the uniform RetinaNet once and the LZU
RetinaNet once per candidate floor (and, with `--trainable`, once with the
saliency trained from the default prior), all with the harness's compact
model, steps and optimizer, on *development* seeds: benchmark draws that `accuracy.py`'s
reported seeds never use. Each candidate is scored on its development
seed's validation split, and the table shows how strongly each floor warps
(how densely the zoom samples the horizon band and the bottom rows,
relative to a uniform resize). Pick the floor here, then report it with
`accuracy.py --prior-floor F --seeds ...` on the usual seeds.

    python -m benchmarks.warp_strength --scale 0.75           # ~30 min
    python -m benchmarks.warp_strength --scale 0.75 --floors 0.01 0.1 0.3
"""

import argparse
import dataclasses
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import harness  # noqa: E402

# Far from the seeds accuracy.py reports (0, 1, 2, ...).
DEVELOPMENT_SEEDS = (1000,)
MIN_CONFIDENCE = 0.01
METRICS = ("AP", "AP50", "AP_small")


def sampling_density(prior, canvas, output_size):
    """How densely the zoom of `prior` samples the canvas along y.

    Returns `(peak, bottom)`: the largest row density (at the horizon) and
    the mean density of the last three grid rows (the near objects), both
    relative to a uniform resize (1 = uniform), along the grid's central
    column.
    """
    from keras_lzu.layers import SaliencyGrid

    images = np.zeros((1, *canvas, 3), "float32")
    grid = np.asarray(SaliencyGrid(prior=prior)(images))[0]
    column = grid[:, grid.shape[1] // 2, 1]
    # The grid holds normalized canvas coordinates in [0, 1] at evenly
    # spaced output coordinates: the uniform grid's step is 1 / (gh - 1).
    density = 1.0 / (np.diff(column) * (grid.shape[0] - 1))
    return float(density.max()), float(density[-3:].mean())


def run(config, scale, floors, trainable, seeds, log=print):
    """Trains and scores every candidate on every development seed.

    Returns:
        dict `{candidate: {metric: [value per seed]}}` with the candidates
        `"uniform"`, `"LZU floor F"` and (with `trainable`) `"LZU trained
        from floor F0"`, plus `{"density": {candidate: (peak, bottom)}}`.
    """
    size = harness.zoomed_size(config.canvas, scale**2)
    scores, densities = {}, {}
    for seed in seeds:
        seeded = dataclasses.replace(config, seed=seed)
        scenes = harness.make_scenes(seeded)
        train = harness.load_split(scenes, "train", seeded.train_images)
        val = harness.load_split(scenes, "validation", seeded.val_images)

        def detector(seeded=seeded):
            return harness.build_retinanet(
                seeded.num_classes, seeded.seed, seeded.filters,
                seeded.head_filters, min_confidence=seeded.min_confidence)

        candidates = {"uniform": (detector(), size)}
        for floor in floors:
            prior = harness.box_prior(train, seeded.canvas, floor)
            name = f"LZU floor {floor:g}"
            densities[name] = sampling_density(prior, seeded.canvas, size)
            candidates[name] = (harness.build_lzu(detector(), size, prior), None)
        if trainable:
            prior = harness.box_prior(train, seeded.canvas)
            name = f"LZU trained from floor {harness.PRIOR_FLOOR:g}"
            candidates[name] = (harness.build_lzu(detector(), size, prior, True),
                                None)
        for name, (model, input_size) in candidates.items():
            log(f"[warp_strength] seed {seed}, {name}, "
                f"{size[0]}x{size[1]} input")
            images, labels = harness.training_data(train, scenes.max_boxes,
                                                input_size)
            dataset = harness.training_dataset(images, labels,
                                            seeded.batch_size, seed)
            harness.train_detector(model, dataset, seeded.steps,
                                seeded.learning_rate, verbose=2)
            detections, _ = harness.predict_detections(model, val["images"],
                                                    input_size)
            metrics = harness.coco_metrics(val, detections, scenes.class_names)
            for key in METRICS:
                scores.setdefault(name, {}).setdefault(key, []).append(
                    metrics[key])
            if name.startswith("LZU trained"):
                densities[name] = sampling_density(
                    np.asarray(model.saliency_layer.saliency())[0],
                    seeded.canvas, size)
            log(format_table(scores, densities))
    return scores, densities


def format_table(scores, densities):
    lines = ["| model | " + " | ".join(METRICS)
             + " | horizon density | bottom density |",
             "|---|" + "---:|" * (len(METRICS) + 2)]
    for name, metrics in scores.items():
        cells = [f"{np.mean(metrics[key]):.3f}" for key in METRICS]
        peak, bottom = densities.get(name, (1.0, 1.0))
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {peak:.2f}x | {bottom:.2f}x |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, required=True,
                        help="input scale (fraction of the canvas side)")
    parser.add_argument("--floors", type=float, nargs="+",
                        default=[0.01, 0.1, 0.3],
                        help="candidate floors of the KDE prior")
    parser.add_argument("--trainable", action="store_true",
                        help="also train the saliency from the default prior")
    parser.add_argument("--seeds", type=int, nargs="+",
                        default=list(DEVELOPMENT_SEEDS),
                        help="development seeds (not the reported ones)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--canvas", type=int, nargs=2, default=(640, 1024),
                        metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--train-images", type=int, default=320)
    parser.add_argument("--val-images", type=int, default=96)
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 2:
        parser.error(f"--scale must be in (0, 2]; got {args.scale}")
    if any(not floor > 0 for floor in args.floors):
        parser.error(f"--floors must be positive; got {args.floors}")

    from benchmarks import machine

    config = harness.ExperimentConfig(
        canvas=tuple(args.canvas), steps=args.steps,
        train_images=args.train_images, val_images=args.val_images,
        min_confidence=MIN_CONFIDENCE)
    began = time.perf_counter()
    scores, densities = run(config, args.scale, args.floors, args.trainable,
                            args.seeds)
    size = harness.zoomed_size(config.canvas, args.scale**2)
    minutes = (time.perf_counter() - began) / 60
    text = (
        f"## Warp strength at {args.scale:g}x ({size[0]}x{size[1]}), "
        f"development seeds {' '.join(map(str, args.seeds))}\n\n"
        f"Synthetic driving scenes {config.canvas[0]}x{config.canvas[1]}, "
        f"{config.train_images} train / {config.val_images} validation "
        f"images of the development seeds, {config.steps} detector steps "
        f"(batch {config.batch_size}), "
        f"{'colour-coded' if config.class_colours else 'shared-palette'} "
        f"classes; density is the zoom's sampling density along y relative "
        f"to a uniform resize; {minutes:.0f} min.\n\n{machine.describe()}"
        f"\n\n{format_table(scores, densities)}\n"
    )
    machine.publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
