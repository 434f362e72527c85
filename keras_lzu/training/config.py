"""`TrainingConfig`: everything one `lzu train` run needs, checked up front."""

import dataclasses
import math
import numbers
import os

from keras_lzu.models import antialiasing
from keras_lzu.training import models

TASKS = ("detection", "segmentation")
DISTRIBUTE = (None, "mirrored", "multi-worker")
PLANS = ("auto", "none")
DEFAULT_EPOCHS = 10
# `saliency_prior_from_boxes`'s default floor: the prior of `plan="none"`.
DEFAULT_PRIOR_FLOOR = 0.01


@dataclasses.dataclass
class TrainingConfig:
    """The settings of one training run (the flags of `lzu train`).

    Construction checks every argument (types, choices, combinations) and
    raises a `ValueError` naming it; the datasets themselves are checked
    by `train` before any model is built.

    Attributes:
        task: `"detection"` (RetinaNet) or `"segmentation"` (DeepLab).
        train_annotations: COCO instances JSON of the training set.
        train_images: directory of the training images.
        output_size: `(height, width)` the network sees (the compute
            budget); multiples of the model's largest stride (32 for the
            from-scratch backbones).
        out: output directory (created): `model.keras`, `metrics.json`,
            `export/<version>/` with `export`.
        val_annotations: optional COCO instances JSON of the validation set
            (the final metrics are computed on it).
        val_images: directory of the validation images (with
            `val_annotations`).
        saliency: `"prior"` (default: the KDE of the training boxes, kept
            fixed), `"fixed"` (learned, uniform at first), `"network"`, or
            `"uniform"` (plain downsampling, the baseline).
        plan: with `saliency="prior"`, how the prior is made: `"auto"`
            (`keras_lzu.plan_warp` chooses its strength, its box weight and
            separable or general from the training boxes, the canvas and
            `output_size`, with the smallest anchor, `anchor_size * 8`
            pixels, as the target size of detection) or `"none"` (the
            fixed recipe: `saliency_prior_from_boxes(floor=prior_floor)`,
            separable). Defaults to `"none"` when `prior_floor` is given,
            else `"auto"`.
        library: `"keras_hub"` (default) or `"keras_cv"`.
        preset: optional KerasHub preset of the backbone (pretrained
            weights); excludes `backbone`.
        backbone: a from-scratch backbone of `models.BACKBONES`; defaults
            to `"resnet18"` when there is no `preset`.
        epochs: passes over the training images (default 10 when `steps`
            is not given).
        steps: training steps in total, instead of `epochs`.
        batch_size: images per step (across all replicas).
        learning_rate: peak Adam learning rate (cosine decay to 5%).
        canvas: optional `(height, width)` every training image is resized
            to so that images of mixed sizes can be batched; defaults to
            the size of the largest training image (by area). Validation
            images are not resized: each is evaluated in its own frame.
        prior_floor: with `saliency="prior"` and `plan="none"`, the uniform
            floor of the KDE prior relative to its peak
            (`saliency_prior_from_boxes(floor=)`, 0.01 when not given): the
            larger, the gentler the warp. On the synthetic driving scenes,
            0.01 samples the band of far objects about 3.3x as densely as a
            uniform resize and squeezes the rest; 0.1 and 0.3 about 1.9x
            and 1.45x. Giving it selects `plan="none"`.
        anchor_size: RetinaNet anchor side in units of each level's stride
            (4: 32 px anchors at stride 8); smaller for small objects.
        positive_iou: RetinaNet anchors that overlap a box by at least
            this IoU learn to detect it (default 0.5).
        negative_iou: anchors that overlap every box by less than this IoU
            learn background (default 0.4); those in between are ignored.
            Objects a few pixels across rarely reach 0.5 with any anchor:
            lower both (e.g. 0.35 and 0.25) to give them positives.
        distribute: `None`, `"mirrored"` (all local GPUs) or
            `"multi-worker"` (workers from `TF_CONFIG`).
        export: bool, also write a TF Serving SavedModel.
        jit_compile_lzu: bool, compile the LZU part of that SavedModel with
            XLA (`keras_lzu.export`'s `jit_compile_lzu`; TF Serving then
            needs `--xla_cpu_compilation_enabled=true`). Needs `export`.
        seed: int, seeds the weights and the shuffling.
        verbose: Keras `fit` verbosity: `"auto"` (a progress bar on a
            terminal, one line per epoch otherwise), 0, 1 or 2.
        antialias: `keras_lzu.wrap`'s `antialias`: `False`, `True` (the
            zoom, the uniform baseline's resize included, and the unzooms
            average over each output pixel's footprint), `"zoom"` or
            `"unzoom"`; `None` (default) becomes
            `keras_lzu.models.DEFAULT_ANTIALIAS`.

    Example:

    >>> config = TrainingConfig(
    ...     task="detection", train_annotations="train.json",
    ...     train_images="train", output_size=(320, 512), out="run",
    ...     steps=100, backbone="tiny")
    >>> config.epochs, config.steps, config.backbone
    (None, 100, 'tiny')
    """

    task: str
    train_annotations: str
    train_images: str
    output_size: tuple
    out: str
    val_annotations: str = None
    val_images: str = None
    saliency: str = "prior"
    library: str = "keras_hub"
    preset: str = None
    backbone: str = None
    epochs: int = None
    steps: int = None
    batch_size: int = 4
    learning_rate: float = 1e-3
    canvas: tuple = None
    plan: str = None
    prior_floor: float = None
    anchor_size: float = models.DEFAULT_ANCHOR_SIZE
    positive_iou: float = models.DEFAULT_POSITIVE_IOU
    negative_iou: float = models.DEFAULT_NEGATIVE_IOU
    distribute: str = None
    export: bool = False
    jit_compile_lzu: bool = False
    seed: int = 0
    verbose: object = "auto"
    antialias: object = None

    def __post_init__(self):
        _choice(self.task, TASKS, "task")
        _choice(self.saliency, models.SALIENCY_MODES, "saliency")
        _choice(self.library, models.LIBRARIES, "library")
        _choice(self.distribute, DISTRIBUTE, "distribute")
        self.antialias = antialiasing.check_antialias(self.antialias)
        for name in ("train_annotations", "train_images", "out"):
            _path(getattr(self, name), name)
        if (self.val_annotations is None) != (self.val_images is None):
            raise ValueError(
                "`val_annotations` and `val_images` go together: give both "
                "or neither. Received: val_annotations="
                f"{self.val_annotations!r}, val_images={self.val_images!r}"
            )
        if self.val_annotations is not None:
            _path(self.val_annotations, "val_annotations")
            _path(self.val_images, "val_images")
        self.output_size = _size(self.output_size, "output_size")
        if self.canvas is not None:
            self.canvas = _size(self.canvas, "canvas")
        if self.preset is not None and self.backbone is not None:
            raise ValueError(
                "Give `preset` (pretrained) or `backbone` (from scratch), not "
                f"both. Received: preset={self.preset!r}, "
                f"backbone={self.backbone!r}"
            )
        if self.preset is not None:
            _path(self.preset, "preset")
            if self.library != "keras_hub":
                raise ValueError(
                    "`preset` loads a KerasHub preset: it needs "
                    f"library='keras_hub'. Received: library={self.library!r}"
                )
        elif self.backbone is None:
            self.backbone = models.DEFAULT_BACKBONE
        if self.backbone is not None:
            _choice(self.backbone, tuple(models.BACKBONES), "backbone")
        if self.epochs is not None and self.steps is not None:
            raise ValueError(
                "Give `epochs` or `steps`, not both. Received: "
                f"epochs={self.epochs!r}, steps={self.steps!r}"
            )
        if self.epochs is not None:
            _positive_int(self.epochs, "epochs")
        if self.steps is not None:
            _positive_int(self.steps, "steps")
        if self.epochs is None and self.steps is None:
            self.epochs = DEFAULT_EPOCHS
        _positive_int(self.batch_size, "batch_size")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(
                "`seed` must be a non-negative integer. "
                f"Received: {self.seed!r}"
            )
        names = ("learning_rate", "anchor_size") + (
            () if self.prior_floor is None else ("prior_floor",))
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(
                value, (int, float)
            ) or not math.isfinite(value) or value <= 0:
                raise ValueError(
                    f"`{name}` must be a positive number. Received: {value!r}"
                )
        self._resolve_plan()
        for name in ("positive_iou", "negative_iou"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(
                value, (int, float)
            ) or not 0 < value <= 1:
                raise ValueError(
                    f"`{name}` must be a number in (0, 1]. Received: "
                    f"{value!r}"
                )
        if self.negative_iou > self.positive_iou:
            raise ValueError(
                "`negative_iou` must not exceed `positive_iou` (anchors "
                "between the two are ignored). Received: negative_iou="
                f"{self.negative_iou!r}, positive_iou={self.positive_iou!r}"
            )
        if not isinstance(self.export, bool):
            raise ValueError(
                f"`export` must be a bool. Received: {self.export!r}"
            )
        if not isinstance(self.jit_compile_lzu, bool):
            raise ValueError(
                "`jit_compile_lzu` must be a bool. Received: "
                f"{self.jit_compile_lzu!r}"
            )
        if self.jit_compile_lzu and not self.export:
            raise ValueError(
                "`jit_compile_lzu` applies to the exported SavedModel: set "
                "`export=True` (`--export`) too."
            )
        if self.verbose not in ("auto", 0, 1, 2):
            raise ValueError(
                "`verbose` must be 'auto', 0, 1 or 2. Received: "
                f"{self.verbose!r}"
            )

    def _resolve_plan(self):
        if self.plan is None:
            self.plan = "auto" if self.prior_floor is None else "none"
        _choice(self.plan, PLANS, "plan")
        if self.plan == "auto" and self.prior_floor is not None:
            raise ValueError(
                "`prior_floor` sets the floor of the fixed recipe "
                "(plan='none'); plan='auto' chooses the floor itself. "
                f"Received: plan='auto', prior_floor={self.prior_floor!r}"
            )

    @property
    def model_path(self):
        return os.path.join(self.out, "model.keras")

    @property
    def metrics_path(self):
        return os.path.join(self.out, "metrics.json")

    @property
    def export_dir(self):
        return os.path.join(self.out, "export")


def _choice(value, choices, name):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {choices}. Received: {value!r}"
        )


def _path(value, name):
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ValueError(
            f"`{name}` must be a path. Received: {value!r}"
        )


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_int(value, name):
    if not _is_int(value) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {value!r}"
        )


def _size(value, name):
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"`{name}` must be (height, width), two positive integers. "
            f"Received: {value!r}"
        )
    try:
        size = tuple(value)
    except TypeError:
        size = ()
    if len(size) != 2 or any(not _is_int(s) or s < 1 for s in size):
        raise ValueError(
            f"`{name}` must be (height, width), two positive integers. "
            f"Received: {value!r}"
        )
    return tuple(int(s) for s in size)
