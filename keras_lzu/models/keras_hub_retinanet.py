"""LZU for KerasHub `RetinaNetObjectDetector`: zoom, then unzoom P3-P7.

Importing this module does not import KerasHub: `matches` recognises the
model by its class name, and the wrapper class (a `RetinaNetObjectDetector`
subclass) is defined on first use. Load a saved wrapped model with
`keras_lzu.load_model`, which defines and registers the class first.

The image converter of the detector's preprocessor is kept without its
resizing: its rescaling still runs in `fit`/`predict`, and the zoom to
`output_size` takes the place of the resize to `image_size`, so the model
sees the caller's full-resolution images.
"""

import functools

import keras
from keras import ops

from keras_lzu.models import antialiasing
from keras_lzu.models import common
from keras_lzu.models import keras_hub_common

CLASS_NAMES = ("RetinaNetObjectDetector",)
WRAPPER_NAME = "LZURetinaNetObjectDetector"
# What `RetinaNetObjectDetector`'s methods and config read, shared with the
# wrapper.
TASK_ATTRIBUTES = (
    "bounding_box_format",
    "use_prediction_head_norm",
    "num_classes",
    "backbone",
    "activation",
    "pre_logits_num_conv_layers",
    "box_head",
    "classification_head",
    "anchor_generator",
    "label_encoder",
    "_prediction_decoder",
)


def matches(model):
    """True for a KerasHub `RetinaNetObjectDetector` not already wrapped."""
    return common.matches_family(model, "keras_hub", CLASS_NAMES)


def stride_multiple(backbone):
    """The multiple of which `output_size` must be for a RetinaNet backbone.

    The feature pyramid merges each level into the one below it by 2x
    upsampling, and the anchor generator places level `l`'s anchors every
    `2**l` pixels, so both sides must be multiples of `2**max_level`.
    """
    return 2 ** int(backbone.max_level)


def stride_reason(backbone):
    """Why `output_size` must be a multiple of `stride_multiple(backbone)`,
    for the error message."""
    level = int(backbone.max_level)
    return (
        f"its anchor generator spaces level P{level}'s anchors "
        f"{2 ** level} pixels apart, which matches that level's feature map "
        f"only when both sides are multiples of {2 ** level}"
    )


@functools.cache
def detector_class():
    """Defines and registers the wrapper class (imports KerasHub)."""
    from keras_hub.models import RetinaNetObjectDetector

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class LZURetinaNetObjectDetector(
        keras_hub_common.KerasHubDetectorMixin, RetinaNetObjectDetector
    ):
        """A KerasHub `RetinaNetObjectDetector` that zooms and unzooms.

        The images (any size) are zoomed to `output_size` through the warp
        of `saliency`; the backbone and its feature pyramid run on the
        zoomed images; each pyramid level is unzoomed to its own size (one
        shared grid inversion); the unchanged heads, anchor generator, label
        encoder, losses and decoder of `detector` then work in the uniform
        layout of `output_size`. Labels and decoded predictions are in the
        caller's image frame and `detector.bounding_box_format`: boxes are
        scaled between the two frames. All layers, hence weights, are shared
        with `detector`.

        `compile`, `fit`, `evaluate`, `predict` and `predict_on_batch` take
        the same arguments as `RetinaNetObjectDetector`'s (labels
        `{"boxes", "labels"}`, predictions `{"boxes", "confidence",
        "labels", "num_detections"}`); `model(images)` returns the raw
        `{"bbox_regression", "cls_logits"}` of the anchors of an
        `output_size` image. The preprocessor is `detector`'s without
        resizing (see the module docstring).

        Example:

        ```python
        detector = keras_hub.models.RetinaNetObjectDetector(
            backbone=backbone, num_classes=8, bounding_box_format="xyxy"
        )
        model = keras_lzu.wrap(detector, output_size=(640, 960))
        model.fit(images, {"boxes": boxes, "labels": labels})
        detections = model.predict(high_res_images)  # caller's frame
        ```

        Args:
            detector: the `RetinaNetObjectDetector` to wrap.
            output_size: `(height, width)` of the zoomed images, multiples
                of `2**backbone.max_level`.
            saliency: a `SaliencyGrid`.
            antialias: `False` (default, `keras_lzu.models.DEFAULT_ANTIALIAS`
                when `None`), `True`, `"zoom"` or `"unzoom"`: which of the
                zoom and the unzooms average over each output pixel's
                footprint instead of point-sampling.
            **kwargs: base `Model` arguments (`name`).

        Call arguments:
            images: `(B, H, W, 3)` preprocessed images of any size; with
                box saliency (`"boxes"`, `"prior+boxes"`) the dict
                `{"images": images, "prior_boxes": (B, N, 4)}`, prior boxes
                as `keras_lzu.models.prior_boxes` describes.

        Returns:
            `{"bbox_regression": (B, A, 4), "cls_logits": (B, A,
            num_classes)}` for the `A` anchors of an `output_size` image.
        """

        wrapped_class = RetinaNetObjectDetector
        wrapped_config_key = "detector"

        def __init__(self, detector, output_size, saliency, antialias=None,
                     **kwargs):
            antialias = antialiasing.check_antialias(antialias)
            output_size = common.check_output_size(
                output_size,
                stride_multiple(detector.backbone),
                "RetinaNetObjectDetector",
                reason=stride_reason(detector.backbone),
            )
            keras_hub_common.check_fixed_input_size(
                detector.backbone, output_size, "RetinaNetObjectDetector"
            )
            graph = common.lzu_graph(
                detector, output_size, saliency, [detector.backbone],
                bounding_box_format=detector.bounding_box_format,
                antialias=antialias,
            )
            kwargs.setdefault("name", f"lzu_{detector.name}")
            super(RetinaNetObjectDetector, self).__init__(
                inputs=graph.inputs,
                outputs=graph.outputs,
                compile=False,
                **kwargs,
            )
            keras_hub_common.adopt_task(
                self, detector, TASK_ATTRIBUTES, output_size, saliency,
                antialias, "detection",
            )

        def wrapped_config(self):
            # KerasHub's config leaves out the prior probability, which it
            # gives to the box head's bias initializer.
            return {
                **RetinaNetObjectDetector.get_config(self),
                "classification_head_prior_probability": (
                    self.box_head.prior_probability
                ),
            }

        def infer_outputs(self, images, prior_boxes=None):
            images = keras_hub_common.rescale_images(self.preprocessor, images)
            return self.decode_image_by_image(
                self.call_on_images(images, prior_boxes), images
            )

        def preprocess_samples(self, x, y=None, sample_weight=None):
            # The preprocessor rescales images; prior boxes pass unchanged
            # (it no longer resizes, so boxes keep their frame).
            if not isinstance(x, dict):
                return super().preprocess_samples(x, y, sample_weight)
            images, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
                super().preprocess_samples(x["images"], y, sample_weight)
            )
            return keras.utils.pack_x_y_sample_weight(
                {**x, "images": images}, y, sample_weight
            )

        def _decode(self, predictions, images):
            """Decoded predictions and their pixel `xyxy` boxes (caller)."""
            # KerasHub's own decoder, in the uniform layout.
            decoded = RetinaNetObjectDetector.decode_predictions(
                self, predictions, self._uniform_images()
            )
            valid = decoded["labels"] >= 0
            boxes = keras_hub_common.rescale_boxes(
                decoded["boxes"], self.bounding_box_format,
                self.output_size, common.image_size(images), valid,
            )
            boxes = ops.where(valid[..., None], boxes, -1.0)
            decoded["boxes"] = ops.where(
                valid[..., None],
                keras_hub_common.convert_boxes(
                    boxes, "xyxy", self.bounding_box_format, images
                ),
                -1.0,
            )
            return decoded, boxes

        def _labels_to_uniform(self, images, y):
            common.check_detection_labels(
                y, "labels", self.bounding_box_format,
                "RetinaNetObjectDetector",
            )
            valid = ops.cast(y["labels"], "float32") >= 0
            boxes = keras_hub_common.rescale_boxes(
                y["boxes"], self.bounding_box_format,
                common.image_size(images), self.output_size, valid,
            )
            boxes = keras_hub_common.convert_boxes(
                boxes, "xyxy", self.bounding_box_format,
                self._uniform_images(),
            )
            boxes = ops.where(valid[..., None], boxes, y["boxes"])
            return {**y, "boxes": boxes}

    return LZURetinaNetObjectDetector


__getattr__ = common.wrapper_class_getattr(
    __name__, WRAPPER_NAME, detector_class
)
