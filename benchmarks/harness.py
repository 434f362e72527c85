"""The benchmarks' experiment recipe: the compact KerasCV RetinaNet, its
data, training schedule, evaluation and report.

`accuracy.py`, `information_check.py`, `warp_strength.py` and
`overhead.py` build on it, so their recorded numbers (`results.md`,
`runs/`) are reproduced by the same code: a synthetic driving benchmark
(`make_scenes`, `load_split`, seeded by `ExperimentConfig.seed`), a small
KerasCV RetinaNet built directly (`build_retinanet`: CSPDarkNet backbone,
`CompactFeaturePyramid` and heads of 64 channels, anchors of 10 to 160 px
matched at IoU 0.35 / 0.25), Adam with a cosine decay (`train_detector`),
and COCO AP in the canvas frame (`coco_metrics`, on
`keras_lzu.evaluation`). `compare_detectors` trains and scores the
uniform / LZU pair at one input size.

Until `lzu demo` became the user's path (`keras_lzu.training`, KerasHub),
this recipe was the demo; `python -m benchmarks.harness` still runs its
comparison at one input size and writes the report it wrote (table,
figures, wall time):

    python -m benchmarks.harness [--steps 500] [--budget 0.0625] [--out DIR]
"""

import argparse
import dataclasses
import math
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_cv  # noqa: E402
import numpy as np  # noqa: E402
from keras_cv.models.retinanet import FeaturePyramid  # noqa: E402

DEFAULT_OUT = "compact_recipe_out"
# Object heights (px at a 1200-px-high canvas) of the far objects. Larger
# than the generator's default so that, at a quarter of the side (the
# default budget), they are still a few pixels tall: small for the uniform
# model, readable after zooming.
FAR_OBJECT_SIZE = (24, 64)
# Anchor sizes of the five pyramid levels (strides 8 .. 128), in pixels of
# the uniform layout: KerasCV's default starts at 32 px, far above the
# objects of this benchmark.
ANCHOR_SIZES = (10.0, 20.0, 40.0, 80.0, 160.0)
# IoU thresholds of the anchor matching (KerasCV: 0.5 / 0.4). Objects a few
# pixels across rarely reach 0.5 with any anchor on a stride-8 lattice; with
# 0.35 about three quarters of the boxes get a positive anchor.
POSITIVE_IOU, NEGATIVE_IOU = 0.35, 0.25
STRIDE_MULTIPLE = 32
# The detectors see 1/16 of the canvas pixels (a quarter of each side, the
# 0.25x scale of benchmarks/accuracy.py and the paper's lowest): the low
# budget LZU is for, where its gain over uniform is largest against the
# seed-to-seed noise (figures per scale: benchmarks/README.md).
DEFAULT_BUDGET = 0.0625
# Whether each class has its own colour. With colour-coded classes a blob
# of a few pixels is classified by its colour, and the detectors gain
# nothing from seeing objects bigger: a uniform RetinaNet whose backbone
# sees the 0.75x image but whose heads work on the 0.5x layout scores like
# the 0.5x one (benchmarks/information_check.py), so zooming, which
# magnifies for the backbone only, has nothing to win. Real classes are not
# colour-coded; with colours drawn from the clutter's palette the classes
# are told apart by shape and small parts, and the same check gains 0.01 to
# 0.05 AP from the bigger view (two runs): the setting LZU is for.
CLASS_COLOURS = False
# The columns of the report's table.
TABLE_COLUMNS = ("AP", "AP50", "AP_small", "ms/image", "forward ms/image")
# Floor of the KDE prior relative to its peak. At 0.01 the warp samples the
# horizon band about 3.3x as densely (in y) as a uniform resize and the
# bottom rows about 0.6x; larger floors warp less (0.1: 1.9x, 0.3: 1.45x).
PRIOR_FLOOR = 0.01


@dataclasses.dataclass
class ExperimentConfig:
    """Everything that sets one comparison of the compact recipe.

    Attributes:
        canvas: `(height, width)` of the high-resolution images.
        budget: fraction of the canvas area the detectors see (the zoomed
            size is `sqrt(budget)` of each side, rounded to a multiple of
            32).
        steps: training steps of each detector.
        train_images: training images.
        val_images: validation images.
        batch_size: images per training step.
        num_classes: object classes of the benchmark (1 .. 5).
        learning_rate: peak Adam learning rate (cosine decay).
        seed: seed of the data, the weights and the shuffling.
        out: output directory of the report and the figures (`main`).
        filters: backbone widths of the four CSPDarkNet stages.
        head_filters: width of the feature pyramid and the heads.
        min_confidence: confidence threshold of the detectors' NMS.
        far_object_size: `(low, high)` heights of the far objects in
            pixels of a 1200-pixel-high canvas (smaller is harder).
        trainable_saliency: bool, lets the LZU model train its saliency
            map, starting from the KDE prior (the paper keeps it fixed).
        prior_floor: positive float, the uniform floor of the KDE prior
            relative to its peak (`saliency_prior_from_boxes(floor=...)`):
            the larger, the gentler the warp.
        class_colours: bool, each class has its own body colour (see
            `SyntheticDrivingScenes`); `False` draws every object's colour
            from the clutter's palette, so that classes must be told apart
            by shape and small parts.
        layout: where the scenes' objects are (`SyntheticDrivingScenes`'s
            `layout`: "horizon", "band", "diagonal" or "cluster").
        band_height: row of the "band" layout's band, a fraction of the
            canvas height.
        size_mix: "small" or "mixed" (`SyntheticDrivingScenes`).
    """

    canvas: tuple = (640, 1024)
    budget: float = DEFAULT_BUDGET
    steps: int = 500
    train_images: int = 320
    val_images: int = 48
    batch_size: int = 4
    num_classes: int = 3
    learning_rate: float = 2e-3
    seed: int = 0
    out: str = DEFAULT_OUT
    filters: tuple = (16, 32, 64, 128)
    head_filters: int = 64
    min_confidence: float = 0.05
    far_object_size: tuple = FAR_OBJECT_SIZE
    trainable_saliency: bool = False
    prior_floor: float = PRIOR_FLOOR
    class_colours: bool = CLASS_COLOURS
    layout: str = "horizon"
    band_height: float = 0.3
    size_mix: str = "small"

    @property
    def zoomed_size(self):
        return zoomed_size(self.canvas, self.budget)


def zoomed_size(canvas, budget, multiple=STRIDE_MULTIPLE):
    """The detector input size for a fraction `budget` of the canvas area.

    Each side is scaled by `sqrt(budget)` and rounded to the nearest multiple
    of `multiple` (at least `multiple`).
    """
    if not 0 < budget <= 4:
        raise ValueError(f"`budget` must be in (0, 4]. Received: {budget}")
    scale = math.sqrt(budget)
    return tuple(
        max(multiple, multiple * int(round(side * scale / multiple)))
        for side in canvas
    )


# ----------------------------------------------------------------------------
# Data.


def make_scenes(config):
    """The `SyntheticDrivingScenes` benchmark of `config`."""
    from keras_lzu.data import SyntheticDrivingScenes

    return SyntheticDrivingScenes(
        image_size=config.canvas,
        num_classes=config.num_classes,
        seed=config.seed,
        far_object_size=config.far_object_size,
        train_size=config.train_images,
        validation_size=config.val_images,
        class_colours=config.class_colours,
        layout=config.layout,
        band_height=config.band_height,
        size_mix=config.size_mix,
    )


def load_split(scenes, split, count):
    """Generates `count` samples of `split` into memory.

    Returns:
        dict with `"images"` uint8 `(N, H, W, 3)`, `"boxes"` a list of
        float32 `(n_i, 4)` pixel xyxy arrays, `"classes"` a list of int32
        `(n_i,)` arrays and `"masks"` int32 `(N, H, W)`.
    """
    samples = [scenes.sample(i, split) for i in range(count)]
    return {
        "images": np.stack([s["image"] for s in samples]),
        "boxes": [s["boxes"] for s in samples],
        "classes": [s["classes"] for s in samples],
        "masks": np.stack([s["mask"] for s in samples]),
    }


def dense_labels(boxes, classes, max_boxes, scale=(1.0, 1.0)):
    """Pads per-image boxes and classes to `(N, max_boxes, ...)` with -1.

    Args:
        boxes: list of `(n_i, 4)` pixel xyxy boxes.
        classes: list of `(n_i,)` class ids.
        max_boxes: rows of the padded arrays.
        scale: `(sy, sx)` multiplying the boxes (to another image size).
    """
    count = len(boxes)
    dense_boxes = -np.ones((count, max_boxes, 4), "float32")
    dense_classes = -np.ones((count, max_boxes), "float32")
    factors = np.array([scale[1], scale[0], scale[1], scale[0]], "float32")
    for i, (b, c) in enumerate(zip(boxes, classes)):
        n = min(len(b), max_boxes)
        dense_boxes[i, :n] = np.asarray(b[:n], "float32") * factors
        dense_classes[i, :n] = c[:n]
    return {"boxes": dense_boxes, "classes": dense_classes}


def resize_images(images, size, batch_size=16, antialias=False):
    """Bilinear `tf.image.resize` of uint8 images (anti-aliased when
    shrinking with `antialias`); returns float32."""
    import tensorflow as tf

    parts = [
        tf.image.resize(
            tf.cast(images[i:i + batch_size], "float32"), size,
            method="bilinear", antialias=antialias,
        ).numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts)


def training_data(train, max_boxes, input_size=None, antialias=False):
    """`(uint8 images, dense labels)` of `train`: the canvas images for LZU,
    or images and boxes resized to `input_size` (anti-aliased with
    `antialias`) for the uniform baseline."""
    canvas = train["images"].shape[1:3]
    if input_size is None or tuple(input_size) == tuple(canvas):
        return train["images"], dense_labels(train["boxes"], train["classes"],
                                             max_boxes)
    scale = (input_size[0] / canvas[0], input_size[1] / canvas[1])
    images = resize_images(train["images"], input_size, antialias=antialias)
    return (images.round().clip(0, 255).astype("uint8"),
            dense_labels(train["boxes"], train["classes"], max_boxes, scale))


def training_dataset(images, labels, batch_size, seed):
    """An endless shuffled `(images, {"boxes", "classes"})` tf.data stream.

    Images stay uint8 in memory and are cast to float32 per batch.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(images), seed=seed).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(lambda x, y: (tf.cast(x, "float32"), y))
    return dataset.prefetch(2)


def box_prior(split, canvas, floor=PRIOR_FLOOR):
    """The fixed saliency of the LZU model: a KDE of the training boxes,
    with a uniform `floor` relative to its peak."""
    from keras_lzu.data import saliency_prior_from_boxes

    return saliency_prior_from_boxes(split["boxes"], image_size=canvas,
                                     floor=floor)


# ----------------------------------------------------------------------------
# Models.


@keras.saving.register_keras_serializable(package="benchmarks")
class CompactFeaturePyramid(FeaturePyramid):
    """KerasCV's RetinaNet `FeaturePyramid` with `filters` channels instead
    of 256.

    Registered with Keras under `benchmarks>CompactFeaturePyramid`: a
    process that loads a saved model with it (`keras_lzu.load_model`)
    imports `benchmarks.harness` first, as Keras needs for any custom
    class.

    Args:
        filters: channels of every pyramid level.
    """

    def __init__(self, filters=64, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        for name in ("c3", "c4", "c5"):
            setattr(self, f"conv_{name}_1x1",
                    keras.layers.Conv2D(filters, 1, 1, "same"))
            setattr(self, f"conv_{name}_3x3",
                    keras.layers.Conv2D(filters, 3, 1, "same"))
        self.conv_c6_3x3 = keras.layers.Conv2D(filters, 3, 2, "same")
        self.conv_c7_3x3 = keras.layers.Conv2D(filters, 3, 2, "same")

    def build(self, input_shape):
        for name in ("P3", "P4", "P5"):
            level = name[1]
            getattr(self, f"conv_c{level}_1x1").build(
                (None, None, None, input_shape[name][-1]))
            getattr(self, f"conv_c{level}_3x3").build(
                (None, None, None, self.filters))
        self.conv_c6_3x3.build((None, None, None, input_shape["P5"][-1]))
        self.conv_c7_3x3.build((None, None, None, self.filters))
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = [input_shape[f"P{k}"][:-1] for k in (3, 4, 5, 5, 5)]
        return tuple(tuple(s) + (self.filters,) for s in shapes)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def compact_head(output_filters, filters, bias_initializer, name):
    """A RetinaNet head: two 3x3 convolutions of `filters`, then the
    prediction convolution (KerasCV's has three of 256)."""
    return keras.Sequential([
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                            kernel_initializer="orthogonal"),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                            kernel_initializer="orthogonal"),
        keras.layers.Conv2D(output_filters, 3, padding="same",
                            kernel_initializer="orthogonal",
                            bias_initializer=bias_initializer),
    ], name=name)


def build_retinanet(num_classes, seed=0, filters=(16, 32, 64, 128),
                    head_filters=64, max_detections=100, min_confidence=0.05):
    """A small KerasCV RetinaNet built directly (no presets).

    A CSPDarkNet backbone of widths `filters` (P3-P5 at strides 8-32), a
    feature pyramid and heads of width `head_filters`, anchors suited to
    small objects (`ANCHOR_SIZES`, matched at IoU `POSITIVE_IOU`), pixel
    `xyxy` boxes, NMS keeping up to `max_detections` boxes above a
    confidence of `min_confidence`. It is a `SerializableRetinaNet`, so it
    saves and loads (`keras_lzu.load_model`) with its compact pyramid,
    wrapped or not.
    """
    from keras_lzu.models.keras_cv_retinanet import SerializableRetinaNet

    keras.utils.set_random_seed(seed)
    backbone = keras_cv.models.CSPDarkNetBackbone(
        stackwise_channels=list(filters),
        stackwise_depth=[1, 1, 1, 1],
        include_rescaling=True,
    )
    anchors = keras_cv.layers.AnchorGenerator(
        bounding_box_format="xyxy",
        sizes=list(ANCHOR_SIZES),
        aspect_ratios=[0.5, 1.0, 2.0],
        scales=[2**x for x in (0, 1 / 3, 2 / 3)],
        strides=[2**i for i in range(3, 8)],
        clip_boxes=True,
    )
    label_encoder = keras_cv.models.retinanet.LabelEncoder(
        bounding_box_format="xyxy",
        anchor_generator=anchors,
        positive_threshold=POSITIVE_IOU,
        negative_threshold=NEGATIVE_IOU,
        box_variance=[0.1, 0.1, 0.2, 0.2],
    )
    prior = keras.initializers.Constant(-np.log((1 - 0.01) / 0.01))
    return SerializableRetinaNet(
        num_classes=num_classes,
        bounding_box_format="xyxy",
        backbone=backbone,
        label_encoder=label_encoder,
        feature_pyramid=CompactFeaturePyramid(filters=head_filters),
        classification_head=compact_head(
            9 * num_classes, head_filters, prior, "classification_head"),
        box_head=compact_head(36, head_filters, "zeros", "box_head"),
        prediction_decoder=keras_cv.layers.NonMaxSuppression(
            bounding_box_format="xyxy",
            from_logits=True,
            confidence_threshold=min_confidence,
            iou_threshold=0.5,
            max_detections=max_detections,
            dtype="float32",
        ),
    )


def build_lzu(retinanet, output_size, prior, trainable_saliency=False,
              separable=True, antialias=False):
    """`keras_lzu.wrap(retinanet)` with the fixed saliency `prior`, a
    separable or general warp and `wrap`'s `antialias` choice."""
    import keras_lzu

    model = keras_lzu.wrap(retinanet, output_size=output_size, saliency=prior,
                           separable=separable, antialias=antialias)
    model.saliency_layer.trainable = bool(trainable_saliency)
    return model


def compile_detector(model, steps, learning_rate):
    """Adam with a cosine decay, focal + smooth-L1 losses (the same for
    both detectors)."""
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=max(steps, 1), alpha=0.05,
        warmup_target=None,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, global_clipnorm=10.0),
        classification_loss="focal",
        box_loss="smoothl1",
        jit_compile=False,
    )


def train_detector(model, dataset, steps, learning_rate, verbose=None,
                   log_every=None):
    """Compiles and fits `model` for `steps` steps; returns the wall time.

    Training is split into epochs of `log_every` steps so that a log (one
    line per epoch with `verbose=2`) shows the loss going down.
    """
    compile_detector(model, steps, learning_rate)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    log_every = max(1, min(steps, log_every or max(steps // 6, 1)))
    epochs = max(1, steps // log_every)
    began = time.perf_counter()
    model.fit(dataset, epochs=epochs, steps_per_epoch=log_every,
              verbose=verbose)
    return time.perf_counter() - began


# ----------------------------------------------------------------------------
# Prediction and evaluation.


def predict_detections(model, images, input_size=None, batch_size=4,
                       antialias=False):
    """Runs `model.predict` and returns detections in the canvas frame.

    Args:
        model: a KerasCV RetinaNet (pixel xyxy) or its LZU wrapper.
        images: uint8 `(N, H, W, 3)` canvas images.
        input_size: `(h, w)` to resize the images to first (the uniform
            baseline); `None` to give the canvas images as they are (LZU).
        batch_size: images per predict batch.
        antialias: bool, anti-alias the resize to `input_size`.

    Returns:
        `(detections, seconds_per_image)`: a list of dicts `{"boxes" (n, 4)
        pixel xyxy, "scores" (n,), "classes" (n,)}` and the wall time of
        `predict` (and the resize) per image, after a warm-up batch.
    """
    model.predict(prepare_images(images[:batch_size], input_size, antialias),
                  verbose=0)
    began = time.perf_counter()
    outputs = model.predict(
        prepare_images(images, input_size, antialias), batch_size=batch_size,
        verbose=0,
    )
    seconds = (time.perf_counter() - began) / len(images)
    scale = (1.0, 1.0)
    if input_size is not None:
        scale = (images.shape[1] / input_size[0],
                 images.shape[2] / input_size[1])
    return detections_from_outputs(outputs, scale), seconds


def forward_seconds(model, images, input_size=None, batch_size=4,
                    antialias=False):
    """Wall time per image of the network alone, without decoding.

    The compiled forward pass of `model` (the resize to `input_size` first
    for the uniform baseline; zoom, backbone, unzoom and heads for LZU),
    without the box decoding and non-maximum suppression that `predict`
    adds, whose time depends on the scores rather than on the network.
    Timed after a warm-up batch.
    """
    import tensorflow as tf

    forward = tf.function(lambda batch: model(batch, training=False))
    batches = [images[i:i + batch_size]
               for i in range(0, len(images), batch_size)]
    _block(forward(prepare_images(batches[0], input_size, antialias)))
    began = time.perf_counter()
    for batch in batches:
        _block(forward(prepare_images(batch, input_size, antialias)))
    return (time.perf_counter() - began) / len(images)


def _block(outputs):
    """Waits for `outputs` (a structure of tensors) to be computed."""
    import tensorflow as tf

    for tensor in tf.nest.flatten(outputs):
        tensor.numpy()


def detections_from_outputs(outputs, scale=(1.0, 1.0)):
    """Per-image detection dicts from a RetinaNet's padded predict outputs.

    Boxes (pixel xyxy) are multiplied by `scale` `(sy, sx)`.
    """
    factors = np.array([scale[1], scale[0], scale[1], scale[0]], "float32")
    detections = []
    for i in range(len(outputs["num_detections"])):
        n = int(outputs["num_detections"][i])
        detections.append({
            "boxes": np.asarray(outputs["boxes"][i, :n]) * factors,
            "scores": np.asarray(outputs["confidence"][i, :n]),
            "classes": np.asarray(outputs["classes"][i, :n]).astype("int32"),
        })
    return detections


def prepare_images(images, input_size, antialias=False):
    """float32 images, resized to `input_size` first unless it is None."""
    if input_size is None:
        return images.astype("float32")
    return resize_images(images, input_size, antialias=antialias)


def coco_metrics(split, detections, class_names):
    """COCO box AP of detections on a split (`keras_lzu.evaluation`).

    Boxes are in the canvas frame; an object's area is its box area, so
    "small" means under 32x32 canvas pixels (COCO's definition).

    Returns:
        The dict of `keras_lzu.evaluation.coco_detection_metrics` ("AP",
        "AP50", "AP75", "AP_small", ..., "per_class").
    """
    from keras_lzu.evaluation import coco_detection_metrics
    from keras_lzu.evaluation import detections_to_coco

    category_ids = list(range(1, len(class_names) + 1))
    height, width = split["images"].shape[1:3]
    images, annotations = [], []
    for i, (boxes, classes) in enumerate(zip(split["boxes"], split["classes"])):
        images.append({"id": i, "height": height, "width": width})
        annotations += [
            {"image_id": i, "category_id": category_ids[int(label)],
             "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]}
            for (x1, y1, x2, y2), label in zip(boxes, classes)]
    results = []
    for i, found in enumerate(detections):
        results += detections_to_coco(i, found["boxes"], found["scores"],
                                      found["classes"], category_ids)
    ground_truth = {
        "images": images, "annotations": annotations,
        "categories": [{"id": k, "name": n}
                       for k, n in zip(category_ids, class_names)],
    }
    return coco_detection_metrics(ground_truth, results)


@dataclasses.dataclass
class Detector:
    """One detector of a comparison.

    Attributes:
        name: its name in the results.
        wrap: `None` for a uniform baseline (the RetinaNet sees the canvas
            resized to the input size), or a function `(retinanet, size) ->
            wrapped model` (it sees the canvas images; e.g. `build_lzu`).
        antialias: bool, the uniform baseline's resize is anti-aliased
            (training and evaluation).
    """

    name: str
    wrap: object = None
    antialias: bool = False


def compare_detectors(config, scenes, train, val, prior, size, log=print):
    """Trains the uniform and the LZU RetinaNet at input `size` and
    evaluates both on `val` in the canvas frame.

    Returns:
        `(models, metrics, detections, seconds)`, each a dict keyed by
        `"uniform"` and `"LZU"` (`seconds` by stage).
    """
    return train_and_score(config, scenes, train, val, size, [
        Detector("uniform"),
        Detector("LZU", lambda retinanet, size: build_lzu(
            retinanet, size, prior, config.trainable_saliency)),
    ], log)


def train_and_score(config, scenes, train, val, size, detectors, log=print,
                    timing=True):
    """Trains every `Detector` at input `size` on `train` (same seed, steps
    and schedule) and evaluates them on `val` in the canvas frame.

    Returns:
        `(models, metrics, detections, seconds)`, each a dict keyed by the
        detectors' names (`seconds` by stage). `metrics` has the COCO
        metrics of `coco_metrics` and, with `timing`, "ms/image" and
        "forward ms/image".
    """
    canvas_data = None
    models, seconds, metrics, detections = {}, {}, {}, {}
    for detector in detectors:
        if detector.wrap is None:
            data = training_data(train, scenes.max_boxes, size,
                                 detector.antialias)
        else:
            canvas_data = canvas_data or training_data(train,
                                                       scenes.max_boxes)
            data = canvas_data
        model = build_retinanet(
            config.num_classes, config.seed, config.filters,
            config.head_filters, min_confidence=config.min_confidence)
        if detector.wrap is not None:
            model = detector.wrap(model, size)
        models[detector.name] = model
        log(f"[demo] training the {detector.name} RetinaNet "
            f"({size[0]}x{size[1]} input)")
        seconds[f"train {detector.name}"] = train_detector(
            model, training_dataset(*data, config.batch_size, config.seed),
            config.steps, config.learning_rate)
    for detector in detectors:
        name, model = detector.name, models[detector.name]
        input_size = size if detector.wrap is None else None
        stamp = time.perf_counter()
        detections[name], per_image = predict_detections(
            model, val["images"], input_size, antialias=detector.antialias)
        metrics[name] = coco_metrics(val, detections[name], scenes.class_names)
        if timing:
            metrics[name]["ms/image"] = 1000.0 * per_image
            metrics[name]["forward ms/image"] = 1000.0 * forward_seconds(
                model, val["images"], input_size,
                antialias=detector.antialias)
        seconds[f"evaluate {name}"] = time.perf_counter() - stamp
    return models, metrics, detections, seconds

# ----------------------------------------------------------------------------
# One comparison with its report (`python -m benchmarks.harness`).


def run_comparison(config, log=print):
    """Trains and scores the uniform / LZU pair at `config.zoomed_size`,
    writes the figures and `report.md` to `config.out`.

    Returns:
        dict with `"metrics"` (`{"uniform": {...}, "LZU": {...}}`: AP,
        AP50, AP_small, ms/image, forward ms/image), `"table"` (markdown),
        `"report"` (path), `"figures"` (paths) and `"seconds"` (wall time
        of each stage).
    """
    from keras_lzu.evaluation import metrics_table

    os.makedirs(config.out, exist_ok=True)
    began = time.perf_counter()
    size = config.zoomed_size
    log(f"[harness] canvas {config.canvas[0]}x{config.canvas[1]}, detectors "
        f"see {size[0]}x{size[1]}; {config.train_images} train / "
        f"{config.val_images} validation images; {config.steps} steps of "
        f"batch {config.batch_size}; seed {config.seed}")
    scenes = make_scenes(config)
    train = load_split(scenes, "train", config.train_images)
    val = load_split(scenes, "validation", config.val_images)
    prior = box_prior(train, config.canvas, config.prior_floor)
    seconds = {"data": time.perf_counter() - began}
    _, metrics, detections, timings = compare_detectors(
        config, scenes, train, val, prior, size, log)
    seconds.update(timings)
    table = metrics_table(metrics, TABLE_COLUMNS)
    log("[harness] validation metrics (canvas frame):\n" + table)
    figures = write_figures(config, val, prior, detections)
    seconds["total"] = time.perf_counter() - began
    report = write_report(config, metrics, figures, seconds, table)
    return {"metrics": metrics, "table": table, "report": report,
            "figures": figures, "seconds": seconds}


def write_figures(config, val, prior, detections, index=0):
    """The saliency and grid, the zoomed image and both models' detections
    on validation image `index` (`keras_lzu.visualize`); `{name: path}`."""
    from keras_lzu import visualize

    image = val["images"][index]
    figures = {
        "saliency": os.path.join(config.out, "saliency_grid.png"),
        "zoomed": os.path.join(config.out, "zoomed.png"),
        "detections": os.path.join(config.out, "detections.png"),
    }
    visualize.save_saliency_figure(figures["saliency"], image, prior,
                                   config.zoomed_size)
    visualize.save_zoomed_image(figures["zoomed"], image, prior,
                                config.zoomed_size)
    visualize.save_detection_figure(
        figures["detections"], image, val["boxes"][index],
        {name: found[index] for name, found in detections.items()})
    return figures


def gains(metrics, keys=("AP", "AP50", "AP_small")):
    """`{key: LZU - uniform}` of the metrics both models have."""
    return {key: metrics["LZU"][key] - metrics["uniform"][key]
            for key in keys
            if None not in (metrics["LZU"][key], metrics["uniform"][key])}


def write_report(config, metrics, figures, seconds, table):
    """Writes `report.md` in `config.out`; returns its path."""
    from keras_lzu.machine import describe_machine

    size = config.zoomed_size
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    lines = [
        "# The compact recipe: LZU vs uniform downsampling",
        "",
        f"Synthetic driving scenes, canvas {config.canvas[0]}x"
        f"{config.canvas[1]}, {config.num_classes} classes ("
        + ("each with its own colour" if config.class_colours else
           "colours drawn from the clutter's palette, so classes are told "
           "apart by shape and small parts")
        + f"), {config.train_images} training and {config.val_images} "
        f"validation images (seed {config.seed}). Both KerasCV RetinaNets "
        f"(same CSPDarkNet backbone {list(config.filters)}, same Adam "
        f"schedule, {config.steps} steps of batch {config.batch_size}) see "
        f"{size[0]}x{size[1]} images, {config.budget:g} of the canvas area: "
        "*uniform* resizes the canvas, *LZU* zooms it through the warp of a "
        + ("KDE prior of the training boxes, trained further with the "
           "detector," if config.trainable_saliency else
           "fixed KDE prior of the training boxes")
        + " and unzooms the pyramid.",
        "",
        "## Validation metrics (COCO, pycocotools, canvas frame)",
        "",
        table,
        "",
        "LZU - uniform: " + ", ".join(f"{k} {v:+.3f}" for k, v in
                                      gains(metrics).items()),
        "",
        "This is one seed: from one seed to the next, the AP of either model "
        "moves by up to 0.01-0.02, so compare seeds "
        "(`benchmarks/accuracy.py --seeds`, every input scale, detection and "
        "segmentation; pooled over seeds in `benchmarks/results.md`).",
        "",
        "ms/image is the wall time of `predict` per image (batch 4) on this "
        "machine: the resize for uniform, the network, and KerasCV's box "
        "decoding with `tf.image.non_max_suppression_padded`, whose CPU time "
        "depends on the model's scores (it stops early once it has found "
        "its 100 boxes), not on LZU. forward ms/image is the network alone "
        "(the resize for uniform; zoom, backbone, unzoom and heads for LZU), "
        "without decoding: the cost LZU adds.",
        "",
        "## Figures",
        "",
        "![saliency prior and warp grid]"
        f"({os.path.basename(figures['saliency'])})",
        "",
        "The KDE prior of the training boxes over a validation image, the "
        "warp grid it makes, the zoomed image and its unzoom.",
        "",
        f"![zoomed image]({os.path.basename(figures['zoomed'])})",
        "",
        f"![detections]({os.path.basename(figures['detections'])})",
        "",
        "Detections of both models on the same validation image (dashed: "
        "ground truth).",
        "",
        "## Run",
        "",
        f"Wall time: {stages}.",
        "",
        describe_machine(),
        "",
    ]
    path = os.path.join(config.out, "report.md")
    _write_atomically(path, "\n".join(lines))
    return path


def _write_atomically(path, text):
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def parse_args(argv=None):
    """The flags of `python -m benchmarks.harness` as an `ExperimentConfig`."""
    defaults = ExperimentConfig()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.harness",
        description="Train the compact uniform and LZU RetinaNets on "
                    "synthetic driving scenes at one input size, evaluate "
                    "them and write a report.")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--canvas", type=int, nargs=2,
                        metavar=("HEIGHT", "WIDTH"), default=defaults.canvas)
    parser.add_argument("--budget", type=float, default=defaults.budget,
                        help="fraction of the canvas area the detectors see")
    parser.add_argument("--train-images", type=int,
                        default=defaults.train_images)
    parser.add_argument("--val-images", type=int, default=defaults.val_images)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--num-classes", type=int,
                        default=defaults.num_classes)
    parser.add_argument("--learning-rate", type=float,
                        default=defaults.learning_rate)
    parser.add_argument("--min-confidence", type=float,
                        default=defaults.min_confidence,
                        help="confidence threshold of the detections")
    parser.add_argument("--far-object-size", type=float, nargs=2,
                        metavar=("LOW", "HIGH"),
                        default=defaults.far_object_size,
                        help="far object heights, px at 1200 px canvas height")
    parser.add_argument("--trainable-saliency", action="store_true",
                        help="train LZU's saliency, starting from the prior")
    parser.add_argument("--prior-floor", type=float,
                        default=defaults.prior_floor,
                        help="uniform floor of the KDE prior relative to its "
                             "peak (larger: a gentler warp)")
    parser.add_argument("--class-colours", default=defaults.class_colours,
                        action=argparse.BooleanOptionalAction,
                        help="colour-code the object classes")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--out", default=defaults.out)
    args = parser.parse_args(argv)
    return ExperimentConfig(
        canvas=tuple(args.canvas), budget=args.budget, steps=args.steps,
        train_images=args.train_images, val_images=args.val_images,
        batch_size=args.batch_size, num_classes=args.num_classes,
        learning_rate=args.learning_rate, seed=args.seed, out=args.out,
        min_confidence=args.min_confidence,
        far_object_size=tuple(args.far_object_size),
        trainable_saliency=args.trainable_saliency,
        prior_floor=args.prior_floor,
        class_colours=args.class_colours)


def main(argv=None):
    import warnings

    # KerasCV models take `{"images": ...}` but accept a tensor, and `fit`
    # ignores `shuffle` for a tf.data dataset: harmless, once per batch.
    warnings.filterwarnings(
        "ignore", message="The structure of `inputs` doesn't match")
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    result = run_comparison(parse_args(argv))
    print("\n" + result["table"])
    print(f"\nTotal wall time: {result['seconds']['total']:.0f} s")
    print(f"Report: {os.path.abspath(result['report'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
