"""What `tests/models/test_families.py` checks for each model family.

A `Family` says how to build a small model of the family (the preset's
own backbone class and stage layout at tiny widths, `keras_hub_builders`)
and how to check its wrapped model against an independent reference: the
unwrapped model run on images uniformly resized with `tf.image.resize` to
`OUTPUT_SIZE` (`conftest.uniform_zoom`: bilinear, or area where the default
`antialias` averages). With a uniform saliency the warp is the identity, so
the wrapped model must compute the same thing, with outputs brought to the
caller's frame (boxes scaled, score maps resized).

Adding a family is adding a `Family` to `FAMILIES`: every check of the
issue then runs on it, on every backend the test module runs on that its
library supports (`param` skips the others, saying why).
"""

import dataclasses
from typing import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import keras_cv_builders
from tests.models import keras_hub_builders
from tests.models.conftest import uniform_zoom

OUTPUT_SIZE = (64, 64)
# Larger than the zoomed size, and of another aspect ratio.
IMAGE_SIZE = (128, 192)
NUM_CLASSES = 3
BATCH = 2


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family `keras_lzu.wrap` supports, as the harness sees it.

    Attributes:
        name: the test id.
        task_class: the task class name (`keras_hub.models.*` or
            `keras_cv.models.*`).
        adapter: the adapter module's name under `keras_lzu.models`.
        build: makes the unwrapped model (seeded).
        task: `"detection"` or `"segmentation"`.
        bad_output_size: an `output_size` the family's strides refuse.
        stride: the multiple the error must name.
        bounding_box_format: the detector's format (`None` for segmenters).
        library: the library of the task class.
        class_key: the key of a detector's class ids in its labels and
            decoded predictions.
        compile_options: what the task's `compile` needs besides the
            optimizer.
        tensorflow_only: why the family runs on TensorFlow only, or `None`
            when it runs on every backend.
    """

    name: str
    task_class: str
    adapter: str
    build: Callable
    task: str
    bad_output_size: tuple
    stride: int
    bounding_box_format: str = None
    library: str = "keras_hub"
    class_key: str = "labels"
    compile_options: dict = dataclasses.field(default_factory=dict)
    tensorflow_only: str = None

    def __str__(self):
        return self.name


def param(family):
    """`family` as a pytest parameter, skipped on the backends its library
    does not run on."""
    marks = ()
    if family.tensorflow_only:
        marks = pytest.mark.skipif(
            keras.backend.backend() != "tensorflow",
            reason=family.tensorflow_only,
        )
    return pytest.param(family, marks=marks, id=family.name)


def resized(images, size=OUTPUT_SIZE):
    """`images` (or score maps) bilinearly resized, as NumPy."""
    return tf.image.resize(np.asarray(images), size).numpy()


def zoomed(images):
    """`images` as a wrapped model with a uniform saliency zooms them."""
    return np.asarray(uniform_zoom(np.asarray(images), OUTPUT_SIZE))


def images(seed=0, pixels=False):
    """`(BATCH, *IMAGE_SIZE, 3)` float32 noise images, in 0..1, or whole
    pixel values 0..255 (what a uint8 serving request holds)."""
    rng = np.random.default_rng(seed)
    if pixels:
        return rng.integers(0, 256, (BATCH, *IMAGE_SIZE, 3)).astype("float32")
    return rng.uniform(0, 1, (BATCH, *IMAGE_SIZE, 3)).astype("float32")


def training_batch(family):
    """Images (0..1) with one bright rectangle each, and labels a model
    can learn in a few steps: the rectangle's xyxy box (class 1), or masks
    of class 1 on it and 0 elsewhere."""
    rng = np.random.default_rng(1)
    height, width = IMAGE_SIZE
    x = rng.uniform(0, 0.2, (BATCH, height, width, 3)).astype("float32")
    boxes = np.zeros((BATCH, 1, 4), "float32")
    masks = np.zeros((BATCH, height, width), "int32")
    for b in range(BATCH):
        y0 = int(rng.integers(0, height // 2))
        x0 = int(rng.integers(0, width // 2))
        y1, x1 = y0 + height // 2, x0 + width // 2
        x[b, y0:y1, x0:x1] = 0.9
        masks[b, y0:y1, x0:x1] = 1
        boxes[b, 0] = (x0, y0, x1, y1)
    if family.task == "detection":
        classes = np.ones((BATCH, 1), "float32")
        return x, {"boxes": boxes, family.class_key: classes}
    return x, keras.utils.to_categorical(masks, NUM_CLASSES).astype("float32")


def raw_reference(family, base, x):
    """The unwrapped model's raw outputs on uniformly resized `x`, with
    score maps resized back to `x`'s size (detectors' raw outputs are per
    anchor of the `OUTPUT_SIZE` image, in no image frame)."""
    outputs = base(zoomed(x), training=False)
    if family.task == "detection":
        return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)
    return resized(keras.ops.convert_to_numpy(outputs), x.shape[1:3])


def check_predictions_in_callers_frame(family, base, wrapped, x):
    """`wrapped.predict(x)` equals the unwrapped model's predictions on the
    resized images, mapped to `x`'s frame."""
    ours = wrapped.predict(x, verbose=0)
    if family.task == "segmentation":
        assert ours.shape == (BATCH, *IMAGE_SIZE, NUM_CLASSES)
        np.testing.assert_allclose(
            ours, raw_reference(family, base, x), atol=1e-4
        )
        return
    reference = base.predict(zoomed(x), verbose=0)
    np.testing.assert_array_equal(
        ours["num_detections"], reference["num_detections"]
    )
    assert np.all(ours["num_detections"] > 0)
    scale_xyxy = np.array(
        [IMAGE_SIZE[1] / OUTPUT_SIZE[1], IMAGE_SIZE[0] / OUTPUT_SIZE[0]] * 2,
        "float32",
    )
    reference_boxes = as_xyxy(reference["boxes"], family.bounding_box_format)
    our_boxes = as_xyxy(ours["boxes"], family.bounding_box_format)
    for b, count in enumerate(reference["num_detections"]):
        # Near-equal scores may swap places: match boxes as sets.
        expected = reference_boxes[b, :count] * scale_xyxy
        found = our_boxes[b, :count]
        distance = np.abs(found[:, None] - expected[None]).max(axis=-1)
        np.testing.assert_array_less(distance.min(axis=1), 1e-2)
        np.testing.assert_allclose(
            np.sort(ours["confidence"][b, :count]),
            np.sort(reference["confidence"][b, :count]),
            atol=1e-4,
        )
    padding = (
        np.arange(ours["boxes"].shape[1])[None]
        >= ours["num_detections"][:, None]
    )
    np.testing.assert_array_equal(ours["boxes"][padding], -1.0)


def as_xyxy(boxes, bounding_box_format):
    """Pixel boxes of format `"xyxy"` or `"yxyx"` as `"xyxy"` (padding
    rows of -1 stay -1)."""
    assert bounding_box_format in ("xyxy", "yxyx"), bounding_box_format
    if bounding_box_format == "yxyx":
        return boxes[..., [1, 0, 3, 2]]
    return boxes


def served_from_predict(family, model, x):
    """What the `serving_default` signature must return for `x`, from
    `model.predict` (detectors: the same boxes as pixel xyxy, renamed
    keys)."""
    predicted = model.predict(x, verbose=0)
    if family.task == "segmentation":
        return {"masks": np.argmax(predicted, axis=-1).astype("int32")}
    return {
        "boxes": as_xyxy(predicted["boxes"], family.bounding_box_format),
        "scores": predicted["confidence"],
        "classes": predicted[family.class_key].astype("int32"),
        "num_detections": predicted["num_detections"].astype("int32"),
    }


def build_retinanet():
    keras.utils.set_random_seed(7)
    return keras_hub_builders.retinanet(num_classes=NUM_CLASSES)


def build_deeplab():
    keras.utils.set_random_seed(5)
    return keras_hub_builders.deeplab(num_classes=NUM_CLASSES)


def build_yolov8():
    keras.utils.set_random_seed(11)
    return keras_cv_builders.yolov8(num_classes=NUM_CLASSES)


def build_segformer():
    keras.utils.set_random_seed(3)
    return keras_hub_builders.segformer(
        num_classes=NUM_CLASSES, size=OUTPUT_SIZE[0]
    )


def build_dfine():
    # With uniform saliency the grid is the identity to float32 rounding
    # only (the zoomed noise images differ from `tf.image.resize`'s by up
    # to 6e-5). An untrained D-FINE doubles that in its logits, and its
    # top-k query selection jumps where two encoder scores nearly tie: of
    # seeds 1-8, 3 exceed 1e-4 and 1 swaps a query on JAX. This seed does
    # neither on TensorFlow (4e-5) or JAX (1.4e-5).
    keras.utils.set_random_seed(5)
    return keras_hub_builders.dfine(
        num_classes=NUM_CLASSES, image_size=OUTPUT_SIZE
    )


FAMILIES = (
    Family(
        name="keras_hub_retinanet",
        task_class="RetinaNetObjectDetector",
        adapter="keras_hub_retinanet",
        build=build_retinanet,
        task="detection",
        bad_output_size=(64, 80),
        stride=32,
        bounding_box_format="xyxy",
    ),
    Family(
        name="keras_hub_deeplab",
        task_class="DeepLabV3ImageSegmenter",
        adapter="keras_hub_deeplab",
        build=build_deeplab,
        task="segmentation",
        bad_output_size=(48, 64),
        stride=32,
    ),
    Family(
        name="keras_hub_segformer",
        task_class="SegFormerImageSegmenter",
        adapter="keras_hub_segformer",
        build=build_segformer,
        task="segmentation",
        bad_output_size=(48, 48),
        stride=32,
    ),
    Family(
        name="keras_cv_yolov8",
        task_class="YOLOV8Detector",
        adapter="keras_cv_yolov8",
        build=build_yolov8,
        task="detection",
        bad_output_size=(64, 80),
        stride=32,
        bounding_box_format="xyxy",
        library="keras_cv",
        class_key="classes",
        compile_options={
            "box_loss": "ciou",
            "classification_loss": "binary_crossentropy",
        },
        tensorflow_only="KerasCV is TensorFlow-only in this setup",
    ),
    Family(
        name="keras_hub_dfine",
        task_class="DFineObjectDetector",
        adapter="keras_hub_dfine",
        build=build_dfine,
        task="detection",
        bad_output_size=(64, 80),
        stride=32,
        bounding_box_format="yxyx",
    ),
)
