"""Train LZU on your own COCO dataset, beside the uniform baseline.

`keras_lzu.training` is the library behind `lzu train`: a `TrainingConfig`
holds the settings and `train(config)` checks the dataset (an error names
the file and the field), trains a KerasHub model behind LZU's zoom and
writes `model.keras`, `metrics.json` and, with `export=True`, a TF Serving
SavedModel. This script trains one model per `--task` and `--saliency` (by
default the KDE prior of the training boxes, then uniform downsampling to
the same input size) into OUT/<task>/<saliency>/ and prints their
validation scores side by side: the comparison to make on your own data.

* `detection`: a RetinaNet; COCO AP, AP50, AP_small, ... on the validation
  set, each image in its own frame.
* `segmentation`: a DeepLabV3+; every annotation needs a `segmentation`
  (polygons or RLE), rendered into semantic masks (0 is the background,
  class `k + 1` the `k`-th category; crowd regions are left out of the
  loss); mIoU and per-class IoU.

Without `--train` it first writes a small synthetic COCO dataset with RLE
masks to OUT/data (`SyntheticDrivingScenes.write_coco(...,
segmentation=True)`: street scenes with small objects near the horizon,
the case LZU is for).

    python examples/train_on_coco.py --task detection --out runs
    python examples/train_on_coco.py --task segmentation \\
        --train my/train.json --train-images my/train --val my/val.json \\
        --val-images my/val --output-size 256 512 --backbone resnet18 \\
        --steps 2000 --out runs

The same from a shell: `lzu train --task detection ...` (see the README).
"""

import argparse
import os

from keras_lzu.data import SyntheticDrivingScenes
from keras_lzu.training import BACKBONES
from keras_lzu.training import TrainingConfig
from keras_lzu.training import train

SMOKE_TEST_ARGS = [
    "--task", "detection", "segmentation", "--image-size", "64", "96",
    "--train-count", "4", "--val-count", "2", "--output-size", "64", "96",
    "--backbone", "tiny", "--steps", "2", "--batch-size", "2",
    "--saliency", "prior", "--out", "{out}",
]
TASKS = ("detection", "segmentation")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--task", nargs="+", default=["detection"],
                        choices=TASKS)
    parser.add_argument("--train", help="COCO instances JSON (default: "
                        "write a synthetic dataset)")
    parser.add_argument("--train-images", help="training image directory")
    parser.add_argument("--val", help="validation COCO instances JSON")
    parser.add_argument("--val-images", help="validation image directory")
    parser.add_argument("--image-size", nargs=2, type=int, default=(320, 512),
                        metavar=("H", "W"), help="synthetic image size")
    parser.add_argument("--train-count", type=int, default=96,
                        help="synthetic training images")
    parser.add_argument("--val-count", type=int, default=24,
                        help="synthetic validation images")
    parser.add_argument("--output-size", nargs=2, type=int, default=(96, 160),
                        metavar=("H", "W"), help="size the network sees")
    parser.add_argument("--saliency", nargs="+", default=["prior", "uniform"],
                        choices=("prior", "fixed", "network", "uniform"))
    parser.add_argument("--backbone", default="tiny", choices=list(BACKBONES))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--anchor-size", type=float, default=1.5,
                        help="detection: anchor side in strides (small "
                             "objects: < 4)")
    parser.add_argument("--out", default="train_on_coco_out")
    return parser.parse_args(argv)


def synthetic_dataset(args):
    """Writes the synthetic train / validation COCO files with RLE masks;
    returns their `(annotations, images)` paths."""
    scenes = SyntheticDrivingScenes(image_size=tuple(args.image_size),
                                    num_classes=3, seed=0)
    paths = []
    for split, count in (("train", args.train_count),
                         ("validation", args.val_count)):
        directory = os.path.join(args.out, "data", split)
        paths += [scenes.write_coco(directory, count, split,
                                    segmentation=True),
                  os.path.join(directory, "images")]
    return paths


def score_table(task, finals):
    """Markdown: the validation scores of each saliency."""
    if task == "detection":
        lines = ["| saliency | AP | AP50 | AP_small |", "|---|---:|---:|---:|"]
        for saliency, final in finals.items():
            cells = [final[name] for name in ("AP", "AP50", "AP_small")]
            lines.append(f"| {saliency} | " + " | ".join(
                "n/a" if value is None else f"{value:.4f}" for value in cells
            ) + " |")
        return "\n".join(lines)
    lines = ["| saliency | mIoU | per-class IoU |", "|---|---:|---|"]
    for saliency, final in finals.items():
        per_class = ", ".join(
            f"{name} {'n/a' if iou is None else f'{iou:.3f}'}"
            for name, iou in final["per_class"].items()
        )
        lines.append(f"| {saliency} | {final['mIoU']:.4f} | {per_class} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    data = [args.train, args.train_images, args.val, args.val_images]
    if args.train is None:
        data = synthetic_dataset(args)
    for task in args.task:
        finals = {}
        for saliency in args.saliency:
            options = ({"anchor_size": args.anchor_size}
                       if task == "detection" else {})
            result = train(TrainingConfig(
                task=task,
                train_annotations=data[0], train_images=data[1],
                val_annotations=data[2], val_images=data[3],
                output_size=tuple(args.output_size), saliency=saliency,
                backbone=args.backbone, steps=args.steps,
                batch_size=args.batch_size,
                out=os.path.join(args.out, task, saliency), **options,
            ))
            finals[saliency] = result["metrics"]["final"]
        if data[2] is not None:
            print(f"\n{task}\n\n{score_table(task, finals)}")


if __name__ == "__main__":
    main()
