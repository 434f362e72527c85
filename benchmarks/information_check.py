"""Does downsampling lose information the detector needs on this benchmark?

LZU can only beat uniform downsampling where the uniformly downsampled image
has lost something the task needs. This check measures it on the synthetic
driving benchmark with three uniform RetinaNets (the demo's model, steps and
optimizer), all evaluated in the canvas frame:

* `low`: trained and evaluated on images at scale `--low` of the canvas side;
* `high`: the same at scale `--high`;
* `low->high`: images downsampled to `--low`, then upsampled (bilinear) to
  `--high`: the information of `low` on the layout (anchor lattice, object
  sizes in pixels) of `high`.

If `low->high` scores like `high`, the low-resolution images already hold
what the detector uses and the gap between `low` and `high` comes from the
layout the heads work on, which LZU (heads on the uniform layout of the
zoomed size, as in the paper) does not change: no resampling can win there.
If `low->high` stays near `low`, information is lost, and zooming can
recover it.

    python -m benchmarks.information_check                    # ~15 min
    python -m benchmarks.information_check --no-class-colours
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_lzu import demo  # noqa: E402

MIN_CONFIDENCE = 0.01


def to_uint8(images):
    return images.round().clip(0, 255).astype("uint8")


def prepare(images, sizes):
    """`images` resized through each size of `sizes` in turn (uint8)."""
    for size in sizes:
        images = to_uint8(demo.resize_images(images, size))
    return images


def train_and_score(config, scenes, train, val, sizes, log=print):
    """A uniform RetinaNet on images resized through `sizes`; its metrics."""
    size = sizes[-1]
    canvas = config.canvas
    scale = (size[0] / canvas[0], size[1] / canvas[1])
    labels = demo.dense_labels(train["boxes"], train["classes"],
                               scenes.max_boxes, scale)
    dataset = demo.training_dataset(prepare(train["images"], sizes), labels,
                                    config.batch_size, config.seed)
    model = demo.build_retinanet(
        config.num_classes, config.seed, config.filters, config.head_filters,
        min_confidence=config.min_confidence)
    log(f"[information] training on {' -> '.join(f'{h}x{w}' for h, w in sizes)}")
    demo.train_detector(model, dataset, config.steps, config.learning_rate)
    outputs = model.predict(prepare(val["images"], sizes).astype("float32"),
                            batch_size=4, verbose=0)
    factors = np.array([canvas[1] / size[1], canvas[0] / size[0]] * 2,
                       "float32")
    detections = []
    for i in range(len(val["images"])):
        n = int(outputs["num_detections"][i])
        detections.append({
            "boxes": np.asarray(outputs["boxes"][i, :n]) * factors,
            "scores": np.asarray(outputs["confidence"][i, :n]),
            "classes": np.asarray(outputs["classes"][i, :n]).astype("int32"),
        })
    return demo.coco_metrics(val, detections, scenes.class_names)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--low", type=float, default=0.5,
                        help="low input scale (fraction of the canvas side)")
    parser.add_argument("--high", type=float, default=0.75)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--canvas", type=int, nargs=2, default=(640, 1024))
    parser.add_argument("--train-images", type=int, default=320)
    parser.add_argument("--val-images", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--class-colours", default=demo.CLASS_COLOURS,
                        action=argparse.BooleanOptionalAction,
                        help="colour-code the object classes")
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args(argv)

    from benchmarks import machine

    config = demo.DemoConfig(
        canvas=tuple(args.canvas), steps=args.steps,
        train_images=args.train_images, val_images=args.val_images,
        seed=args.seed, min_confidence=MIN_CONFIDENCE,
        class_colours=args.class_colours)
    low = demo.zoomed_size(config.canvas, args.low**2)
    high = demo.zoomed_size(config.canvas, args.high**2)
    began = time.perf_counter()
    scenes = demo.make_scenes(config)
    train = demo.load_split(scenes, "train", config.train_images)
    val = demo.load_split(scenes, "validation", config.val_images)
    runs = {
        f"low ({low[0]}x{low[1]})": [low],
        f"high ({high[0]}x{high[1]})": [high],
        f"low->high ({low[0]}x{low[1]} -> {high[0]}x{high[1]})": [low, high],
    }
    rows = [
        f"| {name} | "
        + " | ".join(f"{v:.3f}" for v in train_and_score(
            config, scenes, train, val, sizes).values())
        + " |"
        for name, sizes in runs.items()
    ]
    minutes = (time.perf_counter() - began) / 60
    text = (
        "## Information check: uniform RetinaNets\n\n"
        f"Synthetic driving scenes {config.canvas[0]}x{config.canvas[1]}, "
        f"{'colour-coded' if config.class_colours else 'shared-palette'} "
        f"classes, {config.train_images} train / {config.val_images} "
        f"validation images, {config.steps} steps (batch "
        f"{config.batch_size}), seed {config.seed}; {minutes:.0f} min.\n\n"
        f"{machine.describe()}\n\n"
        "| input | AP | AP50 | AP_small |\n|---|---:|---:|---:|\n"
        + "\n".join(rows) + "\n"
    )
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
