"""`lzu train`: train an LZU detector or segmenter on your COCO dataset.

    lzu train --task detection|segmentation \\
              --train ANNOTATIONS.json --train-images DIR \\
              [--val ANNOTATIONS.json --val-images DIR] \\
              --output-size H W [--saliency prior|fixed|network|uniform] \\
              [--plan auto|none] [--prior-floor F] \\
              [--antialias [on|off|zoom|unzoom]] \\
              [--library keras_hub|keras_cv] [--preset NAME] \\
              [--backbone NAME] [--anchor-size A] \\
              [--positive-iou P --negative-iou N] \\
              [--epochs N | --steps N] [--batch-size B] [--learning-rate LR] \\
              [--export [--jit-compile-lzu]] --out DIR

A thin layer over `keras_lzu.training.train`.
"""

import argparse
import os
import sys

from keras_lzu.models import antialiasing
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
    parser.add_argument(
        "--antialias", nargs="?", const="on",
        choices=tuple(antialiasing.FLAG_CHOICES),
        help="average over each output pixel's footprint where the map "
             "compresses instead of point-sampling, in the uniform "
             "baseline's resize and LZU's zoom and unzooms (on, the flag "
             "alone); zoom or unzoom: that side only; off: neither. "
             "Default: "
             f"{antialiasing.flag_name(antialiasing.DEFAULT_ANTIALIAS)}",
    )
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
    parser.add_argument("--plan", choices=config_module.PLANS,
                        help="with --saliency prior: auto (default) lets "
                             "keras_lzu.plan_warp choose the prior's "
                             "strength and separable or general from the "
                             "training boxes and the budget, and prints the "
                             "plan; none: the fixed recipe (KDE prior, "
                             "floor --prior-floor, separable warp)")
    parser.add_argument("--prior-floor", type=float,
                        help="with --saliency prior: uniform floor of the "
                             "KDE prior relative to its peak (larger: a "
                             "gentler warp); implies --plan none (default "
                             f"{config_module.DEFAULT_PRIOR_FLOOR} there)")
    parser.add_argument("--anchor-size", type=float,
                        default=models.DEFAULT_ANCHOR_SIZE,
                        help="RetinaNet anchor side in strides of its level "
                             "(default 4: 32 px at stride 8)")
    parser.add_argument("--positive-iou", type=float,
                        default=models.DEFAULT_POSITIVE_IOU,
                        help="IoU from which an anchor is a positive of a "
                             "box (default 0.5; lower for small objects)")
    parser.add_argument("--negative-iou", type=float,
                        default=models.DEFAULT_NEGATIVE_IOU,
                        help="IoU below which an anchor is background "
                             "(default 0.4; ignored in between)")
    parser.add_argument("--distribute", choices=("mirrored", "multi-worker"),
                        help="MirroredStrategy (local GPUs) or "
                             "MultiWorkerMirroredStrategy (TF_CONFIG)")
    parser.add_argument("--export", action="store_true",
                        help="also write a TF Serving SavedModel to "
                             "OUT/export/<version>/")
    parser.add_argument("--jit-compile-lzu", action="store_true",
                        help="with --export: compile the grid, zoom and "
                             "unzooms of the SavedModel with XLA (TF "
                             "Serving then needs "
                             "--xla_cpu_compilation_enabled=true)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output directory")
    return parser.parse_args(argv)


def config_from_args(args):
    """The `TrainingConfig` of parsed `lzu train` flags (raises its
    `ValueError`s)."""
    return config_module.TrainingConfig(
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
        plan=args.plan,
        prior_floor=args.prior_floor,
        anchor_size=args.anchor_size,
        positive_iou=args.positive_iou,
        negative_iou=args.negative_iou,
        distribute=args.distribute,
        export=args.export,
        jit_compile_lzu=args.jit_compile_lzu,
        seed=args.seed,
        out=args.out,
        antialias=antialiasing.FLAG_CHOICES.get(args.antialias),
    )


def command_line(config):
    """The `lzu train` arguments that make `config` again.

    Options at their default are left out, so the line stays short.

    Args:
        config: a `TrainingConfig` (its `verbose` has no flag).

    Returns:
        list of str, the arguments after `lzu`, starting with `"train"`.

    Example:

    >>> from keras_lzu.training import TrainingConfig
    >>> " ".join(command_line(TrainingConfig(
    ...     task="detection", train_annotations="t.json",
    ...     train_images="t", output_size=(320, 512), out="run",
    ...     steps=100)))
    'train --task detection --train t.json --train-images t --output-size \
320 512 --backbone resnet18 --steps 100 --out run'
    """
    defaults = config_module.TrainingConfig(
        task=config.task, train_annotations=config.train_annotations,
        train_images=config.train_images, output_size=config.output_size,
        out=config.out,
    )
    flags = [
        ("--val", config.val_annotations),
        ("--val-images", config.val_images),
        ("--saliency", config.saliency),
        ("--library", config.library),
        ("--preset", config.preset),
        ("--backbone", config.backbone),
        ("--epochs", None if config.steps is not None else config.epochs),
        ("--steps", config.steps),
        ("--batch-size", config.batch_size),
        ("--learning-rate", config.learning_rate),
        ("--canvas", config.canvas),
        # --prior-floor implies --plan none.
        ("--plan", "none" if config.plan == "none"
         and config.prior_floor is None else None),
        ("--prior-floor", config.prior_floor),
        ("--anchor-size", config.anchor_size),
        ("--positive-iou", config.positive_iou),
        ("--negative-iou", config.negative_iou),
        ("--distribute", config.distribute),
        ("--seed", config.seed),
    ]
    default_values = {
        "--saliency": defaults.saliency, "--library": defaults.library,
        "--epochs": defaults.epochs, "--batch-size": defaults.batch_size,
        "--learning-rate": defaults.learning_rate,
        "--anchor-size": defaults.anchor_size,
        "--positive-iou": defaults.positive_iou,
        "--negative-iou": defaults.negative_iou, "--seed": defaults.seed,
    }
    argv = ["train", "--task", config.task,
            "--train", os.fspath(config.train_annotations),
            "--train-images", os.fspath(config.train_images),
            "--output-size", *map(str, config.output_size)]
    for flag, value in flags:
        if value is None or (flag in default_values
                             and value == default_values[flag]):
            continue
        if isinstance(value, tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, os.fspath(value) if isinstance(
                value, os.PathLike) else str(value)]
    if config.antialias != defaults.antialias:
        argv += ["--antialias", antialiasing.flag_name(config.antialias)]
    if config.export:
        argv.append("--export")
    if config.jit_compile_lzu:
        argv.append("--jit-compile-lzu")
    return argv + ["--out", os.fspath(config.out)]


def train_main(argv=None):
    """`lzu train ...`; returns the exit status."""
    args = parse_args(argv)
    try:
        config = config_from_args(args)
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
