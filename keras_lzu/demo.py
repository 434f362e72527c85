"""`make demo`: LZU against uniform downsampling, end to end, on 2 CPU cores.

The demo (`lzu demo`, `python -m keras_lzu.cli demo`):

1. generates the synthetic driving benchmark (`SyntheticDrivingScenes`:
   high-resolution canvases with small objects packed near the horizon),
   a seeded train / validation split;
2. trains two KerasCV RetinaNets with the same small backbone, steps,
   optimizer and zoomed input size (`--budget` of the canvas area):
   **uniform** (images resized with `tf.image.resize`, boxes scaled) and
   **LZU** (`keras_lzu.wrap` with the fixed KDE prior of the training boxes,
   `saliency_prior_from_boxes`);
3. evaluates both on the validation split with COCO AP, AP50 and AP_small
   (pycocotools) in the canvas frame, and times `predict` per image;
4. exports the LZU model (`keras_lzu.export`), serves it with
   `LocalModelServer` on loopback, queries validation images with
   `GrpcPredictionClient` and checks the answers against `model.infer`;
5. writes `report.md` and PNGs to `--out` and prints the metrics table.

Every figure comes from the run. The building blocks (`make_scenes`,
`load_split`, `build_retinanet`, `train_detector`, `predict_detections`,
`coco_metrics`, `draw_detections`, ...) are reused by
`benchmarks/accuracy.py` and `tests/test_demo.py`.
"""

import argparse
import dataclasses
import functools
import math
import os
import sys
import tempfile
import time

import numpy as np

from keras_lzu.machine import describe_machine

DEFAULT_OUT = "demo_out"
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
# Floor of the KDE prior relative to its peak. At 0.01 the warp samples the
# horizon band about 3.3x as densely (in y) as a uniform resize and the
# bottom rows about 0.6x; larger floors warp less (0.1: 1.9x, 0.3: 1.45x).
PRIOR_FLOOR = 0.01


@dataclasses.dataclass
class DemoConfig:
    """Everything that sets the size of a demo run.

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
        out: output directory of the report and the figures.
        filters: backbone widths of the four ResNet stages.
        head_filters: width of the feature pyramid and the heads.
        serving_images: validation images sent through gRPC.
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
    serving_images: int = 4
    min_confidence: float = 0.05
    far_object_size: tuple = FAR_OBJECT_SIZE
    trainable_saliency: bool = False
    prior_floor: float = PRIOR_FLOOR
    class_colours: bool = CLASS_COLOURS

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


def resize_images(images, size, batch_size=16):
    """Bilinear `tf.image.resize` of uint8 images; returns float32."""
    import tensorflow as tf

    parts = [
        tf.image.resize(
            tf.cast(images[i:i + batch_size], "float32"), size,
            method="bilinear", antialias=False,
        ).numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts)


def training_data(train, max_boxes, input_size=None):
    """`(uint8 images, dense labels)` of `train`: the canvas images for LZU,
    or images and boxes resized to `input_size` for the uniform baseline."""
    canvas = train["images"].shape[1:3]
    if input_size is None or tuple(input_size) == tuple(canvas):
        return train["images"], dense_labels(train["boxes"], train["classes"],
                                             max_boxes)
    scale = (input_size[0] / canvas[0], input_size[1] / canvas[1])
    images = resize_images(train["images"], input_size)
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


def __getattr__(name):
    # `keras_lzu.load_model` finds the classes a saved file names here.
    if name == "CompactFeaturePyramid":
        return compact_pyramid_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def compact_pyramid_class():
    """A KerasCV `FeaturePyramid` with `filters` channels instead of 256
    (defined on first use: it subclasses a KerasCV class)."""
    from keras_cv.models.retinanet import FeaturePyramid

    import keras

    @keras.saving.register_keras_serializable(package="keras_lzu_demo")
    class CompactFeaturePyramid(FeaturePyramid):
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

    return CompactFeaturePyramid


def compact_head(output_filters, filters, bias_initializer, name):
    """A RetinaNet head: two 3x3 convolutions of `filters`, then the
    prediction convolution (KerasCV's has three of 256)."""
    import keras

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
    import keras
    import keras_cv

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
        feature_pyramid=compact_pyramid_class()(filters=head_filters),
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


def build_lzu(retinanet, output_size, prior, trainable_saliency=False):
    """`keras_lzu.wrap(retinanet)` with the fixed saliency `prior`."""
    import keras_lzu

    model = keras_lzu.wrap(retinanet, output_size=output_size, saliency=prior)
    model.saliency_layer.trainable = bool(trainable_saliency)
    return model


def compile_detector(model, steps, learning_rate):
    """Adam with a cosine decay, focal + smooth-L1 losses (the same for
    both detectors)."""
    import keras

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


def predict_detections(model, images, input_size=None, batch_size=4):
    """Runs `model.predict` and returns detections in the canvas frame.

    Args:
        model: a KerasCV RetinaNet (pixel xyxy) or its LZU wrapper.
        images: uint8 `(N, H, W, 3)` canvas images.
        input_size: `(h, w)` to resize the images to first (the uniform
            baseline); `None` to give the canvas images as they are (LZU).
        batch_size: images per predict batch.

    Returns:
        `(detections, seconds_per_image)`: a list of dicts `{"boxes" (n, 4)
        pixel xyxy, "scores" (n,), "classes" (n,)}` and the wall time of
        `predict` (and the resize) per image, after a warm-up batch.
    """
    model.predict(prepare_images(images[:batch_size], input_size), verbose=0)
    began = time.perf_counter()
    outputs = model.predict(
        prepare_images(images, input_size), batch_size=batch_size, verbose=0
    )
    seconds = (time.perf_counter() - began) / len(images)
    scale = (1.0, 1.0)
    if input_size is not None:
        scale = (images.shape[1] / input_size[0],
                 images.shape[2] / input_size[1])
    return detections_from_outputs(outputs, scale), seconds


def forward_seconds(model, images, input_size=None, batch_size=4):
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
    _block(forward(prepare_images(batches[0], input_size)))
    began = time.perf_counter()
    for batch in batches:
        _block(forward(prepare_images(batch, input_size)))
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


def prepare_images(images, input_size):
    """float32 images, resized to `input_size` first unless it is None."""
    if input_size is None:
        return images.astype("float32")
    return resize_images(images, input_size)


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


def metrics_table(rows, columns=("AP", "AP50", "AP_small", "ms/image",
                                 "forward ms/image")):
    """A markdown table of `{name: {column: value}}` rows."""
    lines = ["| model | " + " | ".join(columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for name, values in rows.items():
        cells = []
        for column in columns:
            value = values.get(column, "")
            cells.append("n/a" if value is None else
                         f"{value:.3f}" if isinstance(value, float) and
                         not column.endswith("ms/image") else
                         f"{value:.1f}" if isinstance(value, float) else
                         str(value))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# Serving.


def serving_check(model, images, work_dir, atol=1e-2):
    """Exports `model`, serves it on loopback and compares gRPC answers with
    `model.infer` on the same images.

    Returns:
        dict with `"ok"` (bool), `"max_box_diff"`, `"max_score_diff"`,
        `"same_counts"`, `"images"` and `"target"`.
    """
    from keras_lzu import saved_model_export
    from keras_lzu.serving import GrpcPredictionClient
    from keras_lzu.serving import LocalModelServer

    export_dir = os.path.join(work_dir, "lzu_savedmodel")
    saved_model_export.export(model, export_dir)
    expected = {k: np.asarray(v) for k, v in
                model.infer(images.astype("float32")).items()}
    server = LocalModelServer(export_dir, model_name="lzu", port=0).start()
    try:
        with GrpcPredictionClient(server.target, "lzu", timeout=120) as client:
            answers = client.predict(images)
    finally:
        server.stop(grace=1.0)
    same_counts = bool(np.array_equal(answers["num_detections"],
                                      expected["num_detections"]))
    box_diff = score_diff = 0.0
    for i, n in enumerate(expected["num_detections"]):
        n = int(n)
        if n and same_counts:
            got = {k: answers[k][i, :n] for k in ("boxes", "scores", "classes")}
            want = {k: expected[k][i, :n] for k in got}
            score_diff = max(score_diff, float(np.abs(
                np.sort(got["scores"]) - np.sort(want["scores"])).max()))
            box_diff = max(box_diff, _unordered_box_diff(got, want, atol),
                           _unordered_box_diff(want, got, atol))
    ok = same_counts and box_diff <= atol and score_diff <= atol
    return {"ok": ok, "max_box_diff": box_diff, "max_score_diff": score_diff,
            "same_counts": same_counts, "images": len(images),
            "target": server.target, "detections": int(
                np.sum(expected["num_detections"]))}


def _unordered_box_diff(a, b, score_atol):
    """Largest distance from a detection in `a` to its closest match in `b`.

    A match has the same class and a score within `score_atol`. Non-max
    suppression may order detections of equal scores differently in two
    graphs, so detections are compared as sets, not position by position.
    """
    worst = 0.0
    for box, score, cls in zip(a["boxes"], a["scores"], a["classes"]):
        candidates = ((b["classes"] == cls)
                      & (np.abs(b["scores"] - score) <= score_atol))
        if not candidates.any():
            return float("inf")
        worst = max(worst, float(np.abs(b["boxes"][candidates] - box)
                                 .max(axis=-1).min()))
    return worst


# ----------------------------------------------------------------------------
# Figures.


def draw_detections(axis, image, detections, ground_truth=None, title="",
                    min_score=0.3, class_names=None):
    """Draws an image, its ground-truth boxes (thin white) and detections
    above `min_score` (coloured, with scores) on a matplotlib axis."""
    import matplotlib.patches as patches

    axis.imshow(image)
    if ground_truth is not None:
        for box in ground_truth:
            axis.add_patch(patches.Rectangle(
                (box[0], box[1]), box[2] - box[0], box[3] - box[1],
                fill=False, edgecolor="white", lw=0.6, ls="--"))
    colours = ("lime", "cyan", "magenta", "orange", "yellow")
    shown = 0
    for box, score, label in zip(detections["boxes"], detections["scores"],
                                 detections["classes"]):
        if score < min_score:
            continue
        shown += 1
        colour = colours[int(label) % len(colours)]
        axis.add_patch(patches.Rectangle(
            (box[0], box[1]), box[2] - box[0], box[3] - box[1],
            fill=False, edgecolor=colour, lw=1.0))
        axis.text(box[0], box[1] - 2, f"{score:.2f}", color=colour,
                  fontsize=5)
    axis.set_title(f"{title} ({shown} detections >= {min_score})", fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])


def save_detection_figure(path, image, ground_truth, detections_by_model,
                          min_score=0.3):
    """Detections of several models side by side on the same image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(detections_by_model)
    figure, axes = plt.subplots(1, count, figsize=(8 * count, 5.4))
    for axis, (name, detections) in zip(np.atleast_1d(axes),
                                        detections_by_model.items()):
        draw_detections(axis, image, detections, ground_truth, name, min_score)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def save_saliency_figure(path, image, prior, output_size):
    """The prior over the image with the warp grid, and the zoomed image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_lzu import visualize

    figure = visualize.plot_lzu(image, prior, output_size)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def save_zoomed_image(path, image, prior, output_size):
    """The zoomed image alone, at its own resolution."""
    from PIL import Image

    from keras_lzu import visualize

    _, zoomed, _ = visualize.lzu_views(image, prior, output_size)
    Image.fromarray(np.clip(zoomed, 0, 255).astype("uint8")).save(path)


# ----------------------------------------------------------------------------
# The demo.


def run_demo(config, log=print):
    """Runs the whole demo and writes its report; returns a result dict.

    The dict has `"metrics"` (`{"uniform": {...}, "LZU": {...}}` with AP,
    AP50, AP_small, ms/image and forward ms/image), `"serving"` (see `serving_check`),
    `"table"` (markdown), `"report"` (path), `"figures"` (paths),
    `"seconds"` (wall time of each stage) and `"zoomed_size"`.
    """
    os.makedirs(config.out, exist_ok=True)
    seconds = {}
    began = time.perf_counter()
    size = config.zoomed_size
    log(f"[demo] canvas {config.canvas[0]}x{config.canvas[1]}, detectors see "
        f"{size[0]}x{size[1]} ({size[0] * size[1] / np.prod(config.canvas):.2f}"
        f" of the pixels); {config.train_images} train / {config.val_images} "
        f"validation images; {config.steps} steps of batch "
        f"{config.batch_size}; seed {config.seed}")

    scenes = make_scenes(config)
    train = load_split(scenes, "train", config.train_images)
    val = load_split(scenes, "validation", config.val_images)
    prior = box_prior(train, config.canvas, config.prior_floor)
    seconds["data"] = time.perf_counter() - began
    log(f"[demo] generated the data in {seconds['data']:.0f} s; "
        f"{sum(map(len, train['boxes']))} training boxes")

    models, metrics, detections, timings = compare_detectors(
        config, scenes, train, val, prior, size, log)
    seconds.update(timings)
    table = metrics_table(metrics)
    log("[demo] validation metrics (canvas frame):\n" + table)

    stamp = time.perf_counter()
    with tempfile.TemporaryDirectory() as work_dir:
        serving = serving_check(models["LZU"],
                                val["images"][:config.serving_images],
                                work_dir)
    seconds["serving"] = time.perf_counter() - stamp
    log(f"[demo] gRPC check on {serving['target']}: {serving['images']} "
        f"images, {serving['detections']} detections, max |box diff| "
        f"{serving['max_box_diff']:.2e} px, max |score diff| "
        f"{serving['max_score_diff']:.2e}: "
        f"{'OK' if serving['ok'] else 'MISMATCH'}")

    figures = write_figures(config, val, prior, detections)
    seconds["total"] = time.perf_counter() - began
    report = write_report(config, metrics, serving, figures, seconds, table)
    return {"metrics": metrics, "serving": serving, "table": table,
            "report": report, "figures": figures, "seconds": seconds,
            "zoomed_size": size}


def compare_detectors(config, scenes, train, val, prior, size, log=print):
    """Trains the uniform and the LZU RetinaNet at input `size` and
    evaluates both on `val` in the canvas frame.

    Returns:
        `(models, metrics, detections, seconds)`, each a dict keyed by
        `"uniform"` and `"LZU"` (`seconds` by stage).
    """
    datasets = {
        "uniform": training_dataset(
            *training_data(train, scenes.max_boxes, size),
            config.batch_size, config.seed),
        "LZU": training_dataset(*training_data(train, scenes.max_boxes),
                                config.batch_size, config.seed),
    }

    def detector():
        return build_retinanet(
            config.num_classes, config.seed, config.filters,
            config.head_filters, min_confidence=config.min_confidence)

    models = {"uniform": detector(),
              "LZU": build_lzu(detector(), size, prior,
                               config.trainable_saliency)}
    seconds, metrics, detections = {}, {}, {}
    for name, model in models.items():
        log(f"[demo] training the {name} RetinaNet "
            f"({size[0]}x{size[1]} input)")
        seconds[f"train {name}"] = train_detector(
            model, datasets[name], config.steps, config.learning_rate)
    for name, model in models.items():
        stamp = time.perf_counter()
        detections[name], per_image = predict_detections(
            model, val["images"], size if name == "uniform" else None)
        metrics[name] = coco_metrics(val, detections[name], scenes.class_names)
        metrics[name]["ms/image"] = 1000.0 * per_image
        metrics[name]["forward ms/image"] = 1000.0 * forward_seconds(
            model, val["images"], size if name == "uniform" else None)
        seconds[f"evaluate {name}"] = time.perf_counter() - stamp
    return models, metrics, detections, seconds


def write_figures(config, val, prior, detections, index=0):
    """Writes the demo's PNGs; returns `{name: path}`."""
    image = val["images"][index]
    size = config.zoomed_size
    figures = {
        "saliency": os.path.join(config.out, "saliency_grid.png"),
        "zoomed": os.path.join(config.out, "zoomed.png"),
        "detections": os.path.join(config.out, "detections.png"),
    }
    save_saliency_figure(figures["saliency"], image, prior, size)
    save_zoomed_image(figures["zoomed"], image, prior, size)
    save_detection_figure(
        figures["detections"], image, val["boxes"][index],
        {name: d[index] for name, d in detections.items()})
    return figures


def write_report(config, metrics, serving, figures, seconds, table):
    """Writes `report.md` in `config.out`; returns its path."""
    size = config.zoomed_size
    gain = {k: metrics["LZU"][k] - metrics["uniform"][k]
            for k in ("AP", "AP50", "AP_small")
            if None not in (metrics["LZU"][k], metrics["uniform"][k])}
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    lines = [
        "# keras_lzu demo: LZU vs uniform downsampling",
        "",
        f"Synthetic driving scenes, canvas {config.canvas[0]}x"
        f"{config.canvas[1]}, {config.num_classes} classes ("
        + ("each with its own colour" if config.class_colours else
           "colours drawn from the clutter's palette, so classes are told "
           "apart by shape and small parts")
        + f"), {config.train_images} training and {config.val_images} "
        "validation "
        f"images (seed {config.seed}). Both KerasCV RetinaNets (same "
        f"CSPDarkNet backbone {list(config.filters)}, same Adam schedule, "
        f"{config.steps} steps of batch {config.batch_size}) see "
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
                                      gain.items()),
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
        "## Serving",
        "",
        f"Exported with `keras_lzu.export`, served by `LocalModelServer` on "
        f"{serving['target']}; {serving['images']} validation images over "
        f"gRPC: {serving['detections']} detections, max |box diff| "
        f"{serving['max_box_diff']:.2e} px, max |score diff| "
        f"{serving['max_score_diff']:.2e} against `model.infer`: "
        f"**{'OK' if serving['ok'] else 'MISMATCH'}**.",
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
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def parse_args(argv=None):
    """The demo's flags as a `DemoConfig`."""
    defaults = DemoConfig()
    parser = argparse.ArgumentParser(
        prog="lzu demo",
        description="Train uniform and LZU RetinaNets on synthetic driving "
                    "scenes, evaluate, serve, and write a report.")
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
    return DemoConfig(
        canvas=tuple(args.canvas), budget=args.budget, steps=args.steps,
        train_images=args.train_images, val_images=args.val_images,
        batch_size=args.batch_size, num_classes=args.num_classes,
        learning_rate=args.learning_rate, seed=args.seed, out=args.out,
        min_confidence=args.min_confidence,
        far_object_size=tuple(args.far_object_size),
        trainable_saliency=args.trainable_saliency,
        prior_floor=args.prior_floor,
        class_colours=args.class_colours)


def quiet_known_warnings():
    """Hides two harmless Keras warnings that every batch would repeat:
    KerasCV models take `{"images": ...}` inputs but accept a tensor, and
    `fit` ignores `shuffle` for a (shuffled) tf.data dataset."""
    import warnings

    warnings.filterwarnings(
        "ignore", message="The structure of `inputs` doesn't match")
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")


# What the demo imports besides TensorFlow and Keras; the `demo` extra
# installs all of them.
DEMO_REQUIREMENTS = ("keras_cv", "matplotlib", "PIL", "pycocotools.cocoeval",
                     "grpc", "tensorflow_serving.apis")


def check_requirements():
    """Raises `keras_lzu.extras.MissingExtraError` naming the `demo` extra
    if a package the demo needs is missing, before any work."""
    from keras_lzu.extras import import_optional

    for module in DEMO_REQUIREMENTS:
        import_optional(module, "demo", "lzu demo")


def demo_main(argv=None):
    """`lzu demo [--steps N] [--canvas H W] [--budget F] ...`."""
    config = parse_args(argv)
    check_requirements()
    quiet_known_warnings()
    result = run_demo(config)
    print("\n" + result["table"])
    print(f"\ngRPC answers equal in-process predictions: "
          f"{result['serving']['ok']}")
    print(f"Total wall time: {result['seconds']['total']:.0f} s")
    print(f"Report: {os.path.abspath(result['report'])}")
    return 0 if result["serving"]["ok"] else 1
