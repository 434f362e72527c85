"""`lzu train`: train an LZU detector or segmenter on your COCO dataset.

    lzu train --task detection|segmentation \\
              --train ANNOTATIONS.json --train-images DIR \\
              [--val ANNOTATIONS.json --val-images DIR] \\
              --output-size H W [--saliency prior|fixed|network|uniform] \\
              [--library keras_hub|keras_cv] [--preset NAME] \\
              [--backbone NAME] \\
              [--epochs N | --steps N] [--batch-size B] [--learning-rate LR] \\
              [--export] --out DIR

A thin layer over `keras_lzu.training.train`.
"""

import argparse
import sys

from keras_lzu.training import config as config_module
from keras_lzu.training import models


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="lzu train",
        description="Train an LZU RetinaNet (detection) or DeepLab "
                    "(segmentation) on a COCO-format dataset; writes "
                    "OUT/model.keras, OUT/metrics.json and, with --export, "
                    "OUT/export/<version>/.",
    )
    parser.add_argument("--task", required=True,
                        choices=config_module.TASKS)
    parser.add_argument("--train", required=True, metavar="ANNOTATIONS.json",
                        help="COCO instances file of the training set")
    parser.add_argument("--train-images", required=True, metavar="DIR",
                        help="directory of the training images")
    parser.add_argument("--val", metavar="ANNOTATIONS.json",
                        help="COCO instances file of the validation set: the "
                             "final COCO AP / mIoU in metrics.json")
    parser.add_argument("--val-images", metavar="DIR",
                        help="directory of the validation images")
    parser.add_argument("--output-size", required=True, nargs=2, type=int,
                        metavar=("H", "W"),
                        help="size the network sees (the compute budget), "
                             "multiples of the model's largest stride")
    parser.add_argument("--saliency", default="prior",
                        choices=models.SALIENCY_MODES,
                        help="prior: KDE of the training boxes (default); "
                             "fixed: learned; network: per image; uniform: "
                             "plain downsampling (the baseline)")
    parser.add_argument("--library", default="keras_hub",
                        choices=models.LIBRARIES)
    parser.add_argument("--preset",
                        help="KerasHub preset of the backbone (pretrained "
                             "weights): a name, a Kaggle handle or a local "
                             "preset directory")
    parser.add_argument("--backbone", choices=tuple(models.BACKBONES),
                        help="backbone trained from scratch (default "
                             f"{models.DEFAULT_BACKBONE} without --preset)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int,
                        help="passes over the training images (default "
                             f"{config_module.DEFAULT_EPOCHS})")
    length.add_argument("--steps", type=int,
                        help="training steps in total, instead of --epochs")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--canvas", nargs=2, type=int, metavar=("H", "W"),
                        help="size training images of mixed sizes are "
                             "resized to (default: the largest image's)")
    parser.add_argument("--anchor-size", type=float,
                        default=models.DEFAULT_ANCHOR_SIZE,
                        help="RetinaNet anchor side in strides of its level "
                             "(default 4: 32 px at stride 8)")
    parser.add_argument("--distribute", choices=("mirrored", "multi-worker"),
                        help="MirroredStrategy (local GPUs) or "
                             "MultiWorkerMirroredStrategy (TF_CONFIG)")
    parser.add_argument("--export", action="store_true",
                        help="also write a TF Serving SavedModel to "
                             "OUT/export/<version>/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output directory")
    return parser.parse_args(argv)


def train_main(argv=None):
    """`lzu train ...`; returns the exit status."""
    args = parse_args(argv)
    try:
        config = config_module.TrainingConfig(
            task=args.task,
            train_annotations=args.train,
            train_images=args.train_images,
            val_annotations=args.val,
            val_images=args.val_images,
            output_size=tuple(args.output_size),
            saliency=args.saliency,
            library=args.library,
            preset=args.preset,
            backbone=args.backbone,
            epochs=args.epochs,
            steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            canvas=None if args.canvas is None else tuple(args.canvas),
            anchor_size=args.anchor_size,
            distribute=args.distribute,
            export=args.export,
            seed=args.seed,
            out=args.out,
        )
        from keras_lzu.training.trainer import Training

        training = Training(config)
    except (FileNotFoundError, ValueError) as error:
        print(f"lzu train: error: {error}", file=sys.stderr)
        return 2
    result = training.run()
    for name, path in result["paths"].items():
        print(f"{name}: {path}")
    final = (result["metrics"] or {}).get("final")
    if final:
        summary = {key: value for key, value in final.items()
                   if key != "per_class" and value is not None}
        print("final: " + ", ".join(f"{key} {value:.4f}"
                                    for key, value in summary.items()))
    return 0
