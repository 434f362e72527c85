"""Train an LZU segmenter on your own COCO dataset, beside uniform resizing.

The segmentation twin of train_detector.py: `keras_lzu.training.train`
checks the COCO file (every annotation needs a `segmentation`, polygons or
RLE, and an error names the file and the field), renders the instance masks
into semantic masks (0 is the background, class `k + 1` the `k`-th
category; crowd regions are left out of the loss), trains a KerasHub
DeepLabV3+ behind LZU's zoom and writes OUT/<saliency>/model.keras and
metrics.json (mIoU and per-class IoU on the validation set, each image in
its own frame). One model per `--saliency` (by default the KDE prior of the
training boxes, then uniform downsampling); their mIoU is printed side by
side.

Without `--train` it first writes a small synthetic COCO dataset with
RLE masks to OUT/data (`SyntheticDrivingScenes.write_coco(...,
segmentation=True)`).

    python examples/train_segmenter.py --out segmenter_runs
    python examples/train_segmenter.py --train my/train.json \\
        --train-images my/train --val my/val.json --val-images my/val \\
        --output-size 256 512 --backbone resnet18 --epochs 20 --out runs

The same from a shell: `lzu train --task segmentation ...` (see the
README).
"""

import argparse
import os

from keras_lzu.data import SyntheticDrivingScenes
from keras_lzu.training import BACKBONES
from keras_lzu.training import TrainingConfig
from keras_lzu.training import train

SMOKE_TEST_ARGS = [
    "--image-size", "64", "96", "--train-count", "4", "--val-count", "2",
    "--output-size", "64", "96", "--backbone", "tiny", "--steps", "2",
    "--batch-size", "2", "--saliency", "prior", "--out", "{out}",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--train", help="COCO instances JSON with "
                        "segmentations (default: write a synthetic dataset)")
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
    parser.add_argument("--out", default="train_segmenter_out")
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


def main(argv=None):
    args = parse_args(argv)
    data = [args.train, args.train_images, args.val, args.val_images]
    if args.train is None:
        data = synthetic_dataset(args)
    finals = {}
    for saliency in args.saliency:
        result = train(TrainingConfig(
            task="segmentation",
            train_annotations=data[0], train_images=data[1],
            val_annotations=data[2], val_images=data[3],
            output_size=tuple(args.output_size), saliency=saliency,
            backbone=args.backbone, steps=args.steps,
            batch_size=args.batch_size,
            out=os.path.join(args.out, saliency),
        ))
        finals[saliency] = result["metrics"]["final"]
    if data[2] is None:
        return
    print("\n| saliency | mIoU | per-class IoU |\n|---|---:|---|")
    for saliency, final in finals.items():
        per_class = ", ".join(
            f"{name} {'n/a' if iou is None else f'{iou:.3f}'}"
            for name, iou in final["per_class"].items()
        )
        print(f"| {saliency} | {final['mIoU']:.4f} | {per_class} |")


if __name__ == "__main__":
    main()
