"""`train(config)`: check, build, fit, save, evaluate and export.

Order of work, so that bad input fails before anything expensive:

1. the datasets are checked (`data.check_datasets`: files, JSON, fields,
   boxes, masks, images) and, for multi-worker training, `TF_CONFIG`;
2. with `saliency="prior"`, the prior is made (by default planned by
   `keras_lzu.plan_warp` for the canvas and `output_size`); the
   distribution strategy is made, then the base model; `output_size`
   is checked against its strides before it is wrapped with LZU;
3. the model is fitted (Adam, cosine decay), one log line per epoch (a
   progress bar on a terminal); with several replicas, their
   batch-normalization statistics are then averaged;
4. `out/model.keras` is written (atomically, as every `keras_lzu.wrap`
   model saves: a temporary file renamed into place), then
   `out/metrics.json` (final COCO AP or mIoU on the validation set, and
   the per-epoch history), then with `export` a TF Serving SavedModel
   `out/export/<version>/`.
"""

import math
import os
import sys
import time

import keras

from keras_lzu.training import config as config_module
from keras_lzu.training import data
from keras_lzu.training import distribute
from keras_lzu.training import models

# The cosine decay ends at this fraction of the peak learning rate.
FINAL_LEARNING_RATE = 0.05
GLOBAL_CLIPNORM = 10.0


def train(config):
    """Trains an LZU (or uniform) detector or segmenter on a COCO dataset.

    `Training(config).run()`: the checks and the model first, then the
    training and what it writes.

    Args:
        config: a `TrainingConfig`.

    Returns:
        dict with `"model"` (the trained Keras model), `"metrics"` (the
        content of `metrics.json`; `None` on workers that are not the
        chief) and `"paths"` (what was written: `"model"`, and on the
        chief `"metrics"` and, with `export`, `"export"`).

    Raises:
        FileNotFoundError, ValueError: bad datasets or settings, before
            any model is built (`output_size` right after the base model).

    Example:

    >>> from keras_lzu.training import TrainingConfig, train
    >>> result = train(TrainingConfig(  # doctest: +SKIP
    ...     task="detection", train_annotations="train/instances.json",
    ...     train_images="train/images", val_annotations="val/instances.json",
    ...     val_images="val/images", output_size=(320, 512), out="run"))
    >>> result["metrics"]["final"]["AP"]  # doctest: +SKIP
    0.31
    """
    return Training(config).run()


class Training:
    """One training run, prepared: data checked, model built and compiled.

    Constructing it does steps 1 and 2 of the module docstring, so every
    error of the input is raised here; `run()` does the rest.

    Args:
        config: a `TrainingConfig`.

    Raises:
        FileNotFoundError, ValueError: bad datasets or settings.

    Attributes:
        config: the `TrainingConfig`.
        datasets: the checked `data.CheckedDatasets`.
        strategy: the `tf.distribute` strategy.
        model: the compiled `keras_lzu.wrap` model.
        canvas: `(height, width)` the training images are resized to.
        plan: the `keras_lzu.plan_warp` plan of `saliency="prior"` with
            `plan="auto"` (printed by `run()`, in `metrics.json`), or `None`.
        out: the directory this worker writes to.
        is_chief: whether this worker writes `metrics.json` and the export.
    """

    def __init__(self, config):
        self.config = config
        self.datasets = data.check_datasets(config)
        self.strategy = distribute.make_strategy(config.distribute)
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ValueError(
                f"`batch_size` {config.batch_size} must be a multiple of "
                f"the {replicas} replicas training together."
            )
        self.is_chief, task_index = distribute.worker_role(self.strategy)
        self.out = config.out if self.is_chief else os.path.join(
            config.out, f"worker-{task_index}"
        )
        num_classes = len(self.datasets.category_ids)
        if config.task == "segmentation":
            num_classes += 1
        self.canvas = data.choose_canvas(self.datasets.train, config.canvas)
        self.plan = None
        prior, separable = None, True
        if config.saliency == "prior" and config.plan == "auto":
            self.plan = data.warp_plan(
                self.datasets.train, self.canvas, config.output_size,
                target_size=_target_size(config),
            )
            prior, separable = self.plan.prior, self.plan.separable
        elif config.saliency == "prior":
            floor = config.prior_floor
            if floor is None:
                floor = config_module.DEFAULT_PRIOR_FLOOR
            prior = data.box_prior(self.datasets.train, floor)
        self.steps_per_epoch, self.epochs, self.total_steps = _schedule(
            config, self.datasets.num_train_images
        )
        with self.strategy.scope():
            self.model = models.build_model(config, num_classes, prior,
                                            separable=separable)
            _compile(self.model, config, self.total_steps)

    def run(self):
        """Fits the model and writes `model.keras`, `metrics.json` and the
        export; returns what `train` returns."""
        config, datasets = self.config, self.datasets
        replicas = self.strategy.num_replicas_in_sync
        os.makedirs(self.out, exist_ok=True)
        dataset = data.training_dataset(config, self.canvas, config.library)
        print(
            f"lzu train: {config.task}, saliency={config.saliency}, "
            f"antialias={config.antialias}, "
            f"{datasets.num_train_images} training images on a "
            f"{self.canvas[0]}x{self.canvas[1]} canvas, zoomed to "
            f"{config.output_size[0]}x{config.output_size[1]}, "
            f"{self.total_steps} steps of {config.batch_size} on {replicas} "
            "replica(s)",
            flush=True,
        )
        if self.plan is not None:
            print(self.plan, flush=True)
        history = EpochHistory()
        began = time.perf_counter()
        _fit(self.model, dataset, self.steps_per_epoch, self.epochs,
             self.total_steps, config, history)
        seconds = time.perf_counter() - began
        distribute.average_non_trainable_weights(self.model, self.strategy)

        paths = {"model": os.path.join(self.out, "model.keras")}
        # A wrapped model's `save` is atomic (temporary file, then rename).
        self.model.save(paths["model"])
        if not self.is_chief:
            return {"model": self.model, "metrics": None, "paths": paths}

        final = None
        if datasets.val is not None:
            final = _evaluate(self.model, config)
        metrics = {
            "task": config.task,
            "saliency": config.saliency,
            "antialias": config.antialias,
            "plan": None if self.plan is None else self.plan.summary(),
            "library": config.library,
            "backbone": config.preset or config.backbone,
            "output_size": list(config.output_size),
            "canvas": list(self.canvas),
            "class_names": datasets.class_names,
            "train_images": datasets.num_train_images,
            "val_images": None if datasets.val is None else len(
                datasets.val["images"]
            ),
            "steps": self.total_steps,
            "batch_size": config.batch_size,
            "replicas": replicas,
            "train_seconds": round(seconds, 2),
            "final": final,
            "history": history.epochs,
        }
        from keras_lzu.evaluation.cli import write_json_atomically

        paths["metrics"] = config.metrics_path
        write_json_atomically(paths["metrics"], metrics)
        if config.export:
            import keras_lzu

            paths["export"] = keras_lzu.export(
                self.model, config.export_dir,
                jit_compile_lzu=config.jit_compile_lzu,
            )
        return {"model": self.model, "metrics": metrics, "paths": paths}


class EpochHistory(keras.callbacks.Callback):
    """Records each epoch's logs and wall time in `epochs` (a list of
    dicts `{"epoch", <loss names>..., "seconds"}`)."""

    def __init__(self):
        super().__init__()
        self.epochs = []
        self._began = None

    def on_epoch_begin(self, epoch, logs=None):
        self._began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        entry = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            entry[key] = float(value)
        entry["seconds"] = round(time.perf_counter() - self._began, 2)
        self.epochs.append(entry)


def _target_size(config):
    """The plan's target object side, in pixels of the zoomed image: the
    smallest RetinaNet anchor (`anchor_size` strides of P3, stride 8) for
    detection, `plan_warp`'s default for segmentation."""
    from keras_lzu.planning import DEFAULT_TARGET_SIZE

    if config.task == "detection":
        return config.anchor_size * 8
    return DEFAULT_TARGET_SIZE


def _schedule(config, num_images):
    """`(steps_per_epoch, epochs, total_steps)` of a config.

    An epoch is one pass over the training images; with `steps`, epochs
    are passes as long as `steps` allows and the last one has the rest.
    """
    per_pass = data.steps_per_pass(num_images, config.batch_size)
    if config.steps is None:
        return per_pass, config.epochs, per_pass * config.epochs
    per_epoch = min(per_pass, config.steps)
    return per_epoch, math.ceil(config.steps / per_epoch), config.steps


def _compile(model, config, total_steps):
    from keras_lzu.data.coco_segmentation import CROWD_VALUE

    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=total_steps,
        alpha=FINAL_LEARNING_RATE,
    )
    optimizer = keras.optimizers.Adam(
        schedule, global_clipnorm=GLOBAL_CLIPNORM
    )
    if config.task == "segmentation":
        # KerasHub's DeepLab returns logits, KerasCV's probabilities.
        loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=config.library == "keras_hub",
            ignore_class=CROWD_VALUE,
        )
        # `metrics=[]`, not None: recompiling with None keeps the
        # categorical accuracy KerasHub compiled in, wrong for sparse masks.
        model.compile(
            optimizer=optimizer, loss=loss, metrics=[], jit_compile=False
        )
    elif config.library == "keras_cv":
        model.compile(
            optimizer=optimizer, classification_loss="focal",
            box_loss="smoothl1", jit_compile=False,
        )
    else:
        model.compile(optimizer=optimizer, jit_compile=False)


def _fit(model, dataset, steps_per_epoch, epochs, total_steps, config,
         history):
    verbose = config.verbose
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    full_epochs = total_steps // steps_per_epoch
    remainder = total_steps - full_epochs * steps_per_epoch
    if full_epochs:
        model.fit(dataset, epochs=full_epochs, steps_per_epoch=steps_per_epoch,
                  callbacks=[history], verbose=verbose)
    if remainder:
        model.fit(dataset, initial_epoch=full_epochs, epochs=epochs,
                  steps_per_epoch=remainder, callbacks=[history],
                  verbose=verbose)


def _evaluate(model, config):
    """COCO metrics of `model` on the validation set, each image in its own
    frame (`keras_lzu.evaluation.evaluate_on_coco`)."""
    from keras_lzu.evaluation import evaluate_on_coco

    report = evaluate_on_coco(
        model, config.val_annotations, config.val_images,
        batch_size=config.batch_size,
    )
    return report["metrics"]
