"""Does downsampling lose information the detector needs on this benchmark?

LZU can only beat uniform downsampling where the uniformly downsampled image
has lost something the task needs. This check measures it on the synthetic
driving benchmark with four RetinaNets (the harness's compact model, steps
and optimizer), all evaluated in the canvas frame:

* `low`: trained and evaluated on images at scale `--low` of the canvas side;
* `high`: the same at scale `--high`;
* `low->high`: images downsampled to `--low`, then upsampled (bilinear) to
  `--high`: the information of `low` on the layout (anchor lattice, object
  sizes in pixels) of `high`;
* `high features, low layout`: the backbone and feature pyramid see the
  `--high` image, their features are resized to the `--low` layout, where
  the heads, anchors and losses work: what LZU would gain if it could
  magnify every object by `high / low` (it magnifies some and shrinks
  others, at the budget of `low`). Built as `keras_lzu.wrap` with a uniform
  saliency whose zoom is `--high` and whose unzoom is to the `--low` layout.

If `low->high` scores like `high`, the low-resolution images already hold
what the detector uses. The gap between `low` and `high` then splits into
what bigger objects give the backbone (`high features, low layout` minus
`low`: the most LZU's zoom can recover) and what the finer layout of the
heads gives (`high` minus `high features, low layout`), which LZU does not
change: its heads work on the uniform layout of the zoomed size, as in the
paper. If `low->high` stays near `low`, information is lost as well.

    python -m benchmarks.information_check                    # ~25 min
    python -m benchmarks.information_check --no-class-colours
"""

import argparse
import contextlib
import math
import os
import time
from unittest import mock

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import harness  # noqa: E402

MIN_CONFIDENCE = 0.01


def to_uint8(images):
    return images.round().clip(0, 255).astype("uint8")


def prepare(images, sizes):
    """`images` resized through each size of `sizes` in turn (uint8)."""
    for size in sizes:
        images = to_uint8(harness.resize_images(images, size))
    return images


@contextlib.contextmanager
def zoom_larger_than_layout(zoom_size, layout_size):
    """`keras_lzu.wrap` zooms to `zoom_size` and unzooms to `layout_size`.

    Inside the context, the RetinaNet wrapper built with
    `output_size=layout_size` zooms the images to `zoom_size` instead and
    unzooms each pyramid level (strides 8 to 128) to its size in the
    `layout_size` layout, where the heads, anchors and losses work. A
    diagnostic only: the library's wrappers keep the two sizes equal.
    """
    from keras_lzu.layers import UnzoomLayer
    from keras_lzu.layers import ZoomLayer
    from keras_lzu.models import common
    from keras_lzu.ops import sampling

    levels = [2**k for k in range(3, 8)]
    heights = {math.ceil(zoom_size[0] / s): math.ceil(layout_size[0] / s)
               for s in levels}
    widths = {math.ceil(zoom_size[1] / s): math.ceil(layout_size[1] / s)
              for s in levels}

    class UnzoomToLayout(UnzoomLayer):
        def call(self, inputs):
            features, inverse = inputs
            height, width = features.shape[1:3]
            return sampling.unzoom_with_inverse(
                features, inverse, (heights[height], widths[width]))

        def compute_output_shape(self, input_shape):
            batch, height, width, channels = input_shape[0]
            return (batch, heights[height], widths[width], channels)

    def zoom(output_size, **kwargs):
        return ZoomLayer(zoom_size, **kwargs)

    with mock.patch.object(common, "ZoomLayer", zoom), \
            mock.patch.object(common, "UnzoomLayer", UnzoomToLayout):
        yield


def train_and_score(config, scenes, train, val, sizes, log=print):
    """A uniform RetinaNet on images resized through `sizes`; its metrics.

    `sizes` ending in `"layout"`: `[high, low, "layout"]` runs the backbone
    on `high` images and the heads on the `low` layout.
    """
    canvas = config.canvas
    layout = sizes[-1] == "layout"
    size = sizes[-2] if layout else sizes[-1]
    model = harness.build_retinanet(
        config.num_classes, config.seed, config.filters, config.head_filters,
        min_confidence=config.min_confidence)
    if layout:
        with zoom_larger_than_layout(sizes[0], size):
            model = harness.build_lzu(model, size, "fixed")
        labels = harness.dense_labels(train["boxes"], train["classes"],
                                   scenes.max_boxes)
        images, val_images = train["images"], val["images"]
        # The wrapper takes and returns boxes in the canvas frame.
        size = canvas
    else:
        scale = (size[0] / canvas[0], size[1] / canvas[1])
        labels = harness.dense_labels(train["boxes"], train["classes"],
                                   scenes.max_boxes, scale)
        images = prepare(train["images"], sizes)
        val_images = prepare(val["images"], sizes)
    log(f"[information] training: {' -> '.join(map(str, sizes))}")
    dataset = harness.training_dataset(images, labels, config.batch_size,
                                    config.seed)
    harness.train_detector(model, dataset, config.steps, config.learning_rate)
    outputs = model.predict(val_images.astype("float32"), batch_size=4,
                            verbose=0)
    detections = harness.detections_from_outputs(
        outputs, (canvas[0] / size[0], canvas[1] / size[1]))
    return harness.coco_metrics(val, detections, scenes.class_names)


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
    parser.add_argument("--class-colours", default=harness.CLASS_COLOURS,
                        action=argparse.BooleanOptionalAction,
                        help="colour-code the object classes")
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args(argv)

    from benchmarks import machine

    config = harness.ExperimentConfig(
        canvas=tuple(args.canvas), steps=args.steps,
        train_images=args.train_images, val_images=args.val_images,
        seed=args.seed, min_confidence=MIN_CONFIDENCE,
        class_colours=args.class_colours)
    low = harness.zoomed_size(config.canvas, args.low**2)
    high = harness.zoomed_size(config.canvas, args.high**2)
    began = time.perf_counter()
    scenes = harness.make_scenes(config)
    train = harness.load_split(scenes, "train", config.train_images)
    val = harness.load_split(scenes, "validation", config.val_images)
    runs = {
        f"low ({low[0]}x{low[1]})": [low],
        f"high ({high[0]}x{high[1]})": [high],
        f"low->high ({low[0]}x{low[1]} -> {high[0]}x{high[1]})": [low, high],
        f"high features ({high[0]}x{high[1]}), low layout "
        f"({low[0]}x{low[1]})": [high, low, "layout"],
    }
    rows = []
    for name, sizes in runs.items():
        metrics = train_and_score(config, scenes, train, val, sizes)
        rows.append(f"| {name} | " + " | ".join(
            "n/a" if metrics[key] is None else f"{metrics[key]:.3f}"
            for key in ("AP", "AP50", "AP_small")) + " |")
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
    machine.publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
