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
import numpy as np
from keras import ops

from keras_lzu.models import common
from keras_lzu.models.dispatch import class_in_family

CLASS_NAMES = ("RetinaNetObjectDetector",)
WRAPPER_NAME = "LZURetinaNetObjectDetector"


def matches(model):
    """True for a KerasHub `RetinaNetObjectDetector` not already wrapped."""
    return class_in_family(model, "keras_hub", CLASS_NAMES) and not (
        isinstance(model, common.LZUModelMixin)
    )


def __getattr__(name):
    if name == WRAPPER_NAME:
        return detector_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stride_multiple(backbone):
    """The multiple of which `output_size` must be for a RetinaNet backbone.

    The feature pyramid merges each level into the one below it by 2x
    upsampling, and the anchor generator places level `l`'s anchors every
    `2**l` pixels, so both sides must be multiples of `2**max_level`.
    """
    return 2 ** int(backbone.max_level)


def preprocessor_without_resizing(preprocessor):
    """A copy of a KerasHub preprocessor whose image converter only rescales.

    Args:
        preprocessor: a KerasHub `Preprocessor` (or `None`).

    Returns:
        `None`, or a new preprocessor of the same config except that its
        image converter (if any) has `image_size=None` and it resizes no
        segmentation masks: the wrapped model zooms the images itself and
        keeps labels in the caller's frame.
    """
    if preprocessor is None:
        return None
    preprocessor = keras.layers.deserialize(
        keras.layers.serialize(preprocessor)
    )
    converter = getattr(preprocessor, "image_converter", None)
    if converter is not None:
        converter.image_size = None
    if getattr(preprocessor, "resize_output_mask", False):
        preprocessor.resize_output_mask = False
    return preprocessor


def rescale_images(preprocessor, images):
    """Applies what a resize-free preprocessor does to images, on device.

    KerasHub preprocessors run on the CPU (`tf.device("cpu")`); serving
    calls this instead, with the image converter's `scale` and `offset`.

    Args:
        preprocessor: the wrapped model's preprocessor (or `None`).
        images: float32 `(B, H, W, C)` images.

    Returns:
        The images as the model's `fit`/`predict` would feed them to it.
    """
    converter = getattr(preprocessor, "image_converter", None)
    if converter is None:
        return images if preprocessor is None else preprocessor(images)
    if converter.scale is not None:
        images = images * np.asarray(converter.scale, "float32")
    if converter.offset is not None:
        images = images + np.asarray(converter.offset, "float32")
    return images


def check_fixed_input_size(backbone, output_size, family):
    """Raises unless `output_size` suits a backbone of fixed input size.

    Args:
        backbone: a KerasHub backbone with an `image_shape` attribute.
        output_size: `(height, width)` of the zoomed images.
        family: the task's class name, for the error message.
    """
    image_shape = getattr(backbone, "image_shape", None) or (None, None)
    spatial = tuple(image_shape[:2])
    if spatial != (None, None) and spatial != tuple(output_size):
        raise ValueError(
            f"The {family}'s backbone has a fixed input size {spatial}, so "
            f"`output_size` must equal it. Received: output_size="
            f"{tuple(output_size)}"
        )


@functools.cache
def detector_class():
    """Defines and registers the wrapper class (imports KerasHub)."""
    from keras_hub.models import RetinaNetObjectDetector

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class LZURetinaNetObjectDetector(
        common.WrappedTaskMixin, RetinaNetObjectDetector
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
            saliency: a `SaliencyGrid` (mode `"fixed"` or `"network"`).
            **kwargs: base `Model` arguments (`name`).

        Call arguments:
            images: `(B, H, W, 3)` preprocessed images of any size.

        Returns:
            `{"bbox_regression": (B, A, 4), "cls_logits": (B, A,
            num_classes)}` for the `A` anchors of an `output_size` image.
        """

        wrapped_class = RetinaNetObjectDetector
        wrapped_config_key = "detector"

        def __init__(self, detector, output_size, saliency, **kwargs):
            output_size = common.check_output_size(
                output_size,
                stride_multiple(detector.backbone),
                "RetinaNetObjectDetector",
            )
            check_fixed_input_size(
                detector.backbone, output_size, "RetinaNetObjectDetector"
            )
            graph = common.lzu_graph(
                detector, output_size, saliency, [detector.backbone]
            )
            kwargs.setdefault("name", f"lzu_{detector.name}")
            super(RetinaNetObjectDetector, self).__init__(
                inputs=graph.inputs,
                outputs=graph.outputs,
                compile=False,
                **kwargs,
            )
            for name in (
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
            ):
                setattr(self, name, getattr(detector, name))
            self.preprocessor = preprocessor_without_resizing(
                detector.preprocessor
            )
            self.output_size = output_size
            self.saliency_layer = saliency
            self.lzu_task = "detection"
            self.compile()

        def wrapped_config(self):
            # KerasHub's config leaves out the prior probability, which it
            # gives to the box head's bias initializer.
            return {
                **RetinaNetObjectDetector.get_config(self),
                "classification_head_prior_probability": (
                    self.box_head.prior_probability
                ),
            }

        def compute_loss(self, x, y, y_pred, sample_weight, **kwargs):
            common.check_images(x)
            y = self._labels_to_uniform(x, y)
            return super().compute_loss(
                self._uniform_images(), y, y_pred, sample_weight, **kwargs
            )

        def decode_predictions(self, predictions, data):
            """Decodes raw outputs into detections in the caller's frame.

            Args:
                predictions: `{"bbox_regression", "cls_logits"}`.
                data: the images predicted on, or an `(images, ...)` batch.

            Returns:
                `{"boxes", "confidence", "labels", "num_detections"}` with
                boxes in `bounding_box_format` of the images' frame.
            """
            return self._decode(predictions, common.images_of(data))[0]

        def infer_outputs(self, images):
            images = rescale_images(self.preprocessor, images)

            # KerasHub's non-max suppression needs a static batch size, which
            # a serving signature does not have: decode image by image.
            def decode_one(predictions):
                predictions = {k: v[None] for k, v in predictions.items()}
                decoded, boxes = self._decode(predictions, images)
                outputs = common.detection_outputs(
                    boxes,
                    decoded["confidence"],
                    decoded["labels"],
                    decoded["num_detections"],
                )
                return {key: value[0] for key, value in outputs.items()}

            return ops.map(decode_one, self.call_on_images(images))

        def _decode(self, predictions, images):
            """Decoded predictions and their pixel `xyxy` boxes (caller)."""
            uniform = self._uniform_images()
            decoded = super().decode_predictions(predictions, uniform)
            valid = decoded["labels"] >= 0
            boxes = _rescale_boxes(
                decoded["boxes"], self.bounding_box_format,
                self.output_size, common.image_size(images), valid,
            )
            boxes = ops.where(valid[..., None], boxes, -1.0)
            decoded["boxes"] = ops.where(
                valid[..., None],
                _convert(boxes, "xyxy", self.bounding_box_format, images),
                -1.0,
            )
            return decoded, boxes

        def _labels_to_uniform(self, images, y):
            if not isinstance(y, dict) or not {"boxes", "labels"} <= set(y):
                raise ValueError(
                    "RetinaNetObjectDetector labels must be a dict "
                    "{'boxes': (batch, num_boxes, 4) in bounding_box_format="
                    f"{self.bounding_box_format!r} of the caller's image "
                    "frame, 'labels': (batch, num_boxes)}. Received: "
                    f"{sorted(y) if isinstance(y, dict) else y!r}"
                )
            valid = ops.cast(y["labels"], "float32") >= 0
            boxes = _rescale_boxes(
                y["boxes"], self.bounding_box_format,
                common.image_size(images), self.output_size, valid,
            )
            boxes = _convert(
                boxes, "xyxy", self.bounding_box_format,
                self._uniform_images(),
            )
            boxes = ops.where(valid[..., None], boxes, y["boxes"])
            return {**y, "boxes": boxes}

        def _uniform_images(self):
            """A stand-in batch with the uniform layout's shape: KerasHub's
            anchors and label encoder read image sizes off an image tensor."""
            return ops.zeros((1, *self.output_size, 1))

    return LZURetinaNetObjectDetector


def _rescale_boxes(boxes, bounding_box_format, from_size, to_size, valid):
    """Boxes of `bounding_box_format` in the frame of size `from_size` as
    pixel `xyxy` in the frame of size `to_size`."""
    height, width = from_size
    boxes = keras.utils.bounding_boxes.convert_format(
        ops.cast(boxes, "float32"),
        source=bounding_box_format,
        target="xyxy",
        height=height,
        width=width,
    )
    return common.scale_boxes(boxes, from_size, to_size, valid)


def _convert(boxes, source, target, images):
    shape = ops.shape(images)
    return keras.utils.bounding_boxes.convert_format(
        boxes, source=source, target=target, height=shape[1], width=shape[2]
    )
