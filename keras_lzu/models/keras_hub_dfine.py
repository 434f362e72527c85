"""LZU for KerasHub `DFineObjectDetector`: unzoom HGNetV2's levels.

Importing this module does not import KerasHub: `matches` recognises the
model by its class name, and the wrapper class (a `DFineObjectDetector`
subclass) is defined on first use. Load a saved wrapped model with
`keras_lzu.load_model`, which defines and registers the class first.

What sizes a D-FINE takes: its `DFineBackbone` is built for one image size,
`anchor_image_size` (640 x 640 for every preset). The decoder's deformable
attention splits the flattened encoder features into levels by the sizes
that image gives (`anchor_image_size // feat_strides`, fixed when the model
is built), and the hybrid encoder merges its levels by 2x up- and
downsampling, so `output_size` must be `anchor_image_size`, and that a
multiple of the largest feature stride (32). The caller's images may have
any size and aspect ratio.

Boxes: KerasHub's `DFineObjectDetector` predicts normalized `center_xywh`
boxes. Its `compute_loss` reads the label boxes in that form whatever its
`bounding_box_format`, and its `decode_predictions` returns `yxyx` pixel
boxes whatever its `bounding_box_format`. The wrapper takes label boxes and
returns decoded boxes in `bounding_box_format`, in pixels of the caller's
frame (as the other wrapped detectors do), and converts them for the loss
and the decoder itself.
"""

import functools

import keras
from keras import ops

from keras_lzu import keras_internals
from keras_lzu.models import antialiasing
from keras_lzu.models import common
from keras_lzu.models import keras_hub_common

CLASS_NAMES = ("DFineObjectDetector",)
WRAPPER_NAME = "LZUDFineObjectDetector"
FAMILY = "DFineObjectDetector"
# D-FINE's raw outputs that its decoder reads.
DECODED_OUTPUTS = ("logits", "pred_boxes")
# What `DFineObjectDetector`'s methods and config read, shared with the
# wrapper.
TASK_ATTRIBUTES = (
    "backbone",
    "num_classes",
    "bounding_box_format",
    "matcher_class_cost",
    "matcher_bbox_cost",
    "matcher_ciou_cost",
    "use_focal_loss",
    "matcher_alpha",
    "matcher_gamma",
    "weight_dict",
    "ddf_temperature",
    "activation",
    "_prediction_decoder",
)


def matches(model):
    """True for a KerasHub `DFineObjectDetector` not already wrapped."""
    return common.matches_family(model, "keras_hub", CLASS_NAMES)


def check_output_size(backbone, output_size):
    """Checks `output_size` against what a D-FINE backbone takes.

    Args:
        backbone: the detector's `DFineBackbone`.
        output_size: `(height, width)` of the zoomed images.

    Returns:
        `output_size` as a tuple of two ints.

    Raises:
        ValueError: naming `output_size` when it is not a multiple of the
            largest of `feat_strides`, or not the backbone's
            `anchor_image_size` (and static `image_shape`, if any).
    """
    output_size = common.check_output_size(
        output_size, max(int(s) for s in backbone.feat_strides), FAMILY
    )
    keras_hub_common.check_fixed_input_size(backbone, output_size, FAMILY)
    anchor_size = tuple(int(side) for side in backbone.anchor_image_size)
    if output_size != anchor_size:
        raise ValueError(
            f"`output_size` must equal the {FAMILY}'s anchor_image_size "
            f"{anchor_size}: its decoder's deformable attention splits the "
            "encoder features into levels of the sizes that image size "
            "gives, fixed when the model is built. Received: output_size="
            f"{output_size}"
        )
    return output_size


def lzu_detector_graph(detector, output_size, saliency, antialias):
    """Rebuilds a `DFineObjectDetector` with LZU around its HGNetV2.

    The `DFineBackbone`'s graph is re-run on zoomed images with its feature
    maps (the HGNetV2 levels that feed the hybrid encoder) unzoomed
    (`common.lzu_graph`); the detector's own graph, which selects its
    outputs from the backbone's, then runs on the result. All layers are
    the detector's own.

    Returns:
        The `common.LZUGraph` of the new tensors.
    """
    backbone = detector.backbone
    graph = common.lzu_graph(
        backbone, output_size, saliency, [backbone.backbone],
        antialias=antialias,
    )

    def operation_fn(operation):
        if operation is backbone:
            return lambda *args, **kwargs: graph.outputs
        return operation

    outputs = keras_internals.run_through_graph(
        detector, [graph.images], operation_fn
    )
    return graph._replace(outputs=outputs)


@functools.cache
def detector_class():
    """Defines and registers the wrapper class (imports KerasHub)."""
    from keras_hub.models import DFineObjectDetector

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class LZUDFineObjectDetector(
        keras_hub_common.KerasHubDetectorMixin, DFineObjectDetector
    ):
        """A KerasHub `DFineObjectDetector` that zooms and unzooms.

        The images (any size) are zoomed to `output_size` through the warp
        of `saliency`; the HGNetV2 backbone runs on the zoomed images; each
        of its levels that feeds the hybrid encoder is unzoomed to its own
        size (one shared grid inversion). The unchanged hybrid encoder, the
        decoder's query selection and reference points, the Hungarian
        matching and the losses then work in the uniform layout of
        `output_size`, where D-FINE's normalized boxes are those of the
        caller's frame. All layers, hence weights, are shared with
        `detector`; the preprocessor is `detector`'s without resizing.

        `compile`, `fit`, `evaluate`, `predict` and `predict_on_batch` take
        the same arguments as `DFineObjectDetector`'s. Labels are
        `{"boxes": (B, N, 4), "labels": (B, N)}` with boxes in
        `bounding_box_format`, in pixels of the caller's frame; decoded
        predictions `{"boxes", "confidence", "labels", "num_detections"}`
        likewise (see the module docstring for how KerasHub's own D-FINE
        differs). `model(images)` returns D-FINE's raw outputs
        (`"logits"`, normalized `center_xywh` `"pred_boxes"`, and the
        intermediate ones its loss reads).

        Example:

        ```python
        detector = keras_hub.models.DFineObjectDetector.from_preset(
            "dfine_nano_coco"
        )
        model = keras_lzu.wrap(detector, output_size=(640, 640))
        model.fit(images, {"boxes": boxes, "labels": labels})  # yxyx pixels
        detections = model.predict(high_res_images)  # caller's frame
        ```

        Args:
            detector: the `DFineObjectDetector` to wrap.
            output_size: `(height, width)` of the zoomed images: the
                backbone's `anchor_image_size` (a multiple of 32).
            saliency: a `SaliencyGrid` (mode `"fixed"` or `"network"`).
            antialias: `False` (default, `keras_lzu.models.DEFAULT_ANTIALIAS`
                when `None`), `True`, `"zoom"` or `"unzoom"`: which of the
                zoom and the unzooms average over each output pixel's
                footprint instead of point-sampling.
            **kwargs: base `Model` arguments (`name`).

        Call arguments:
            images: `(B, H, W, 3)` preprocessed images of any size.

        Returns:
            D-FINE's raw outputs, with `"logits": (B, num_queries,
            num_classes)` and `"pred_boxes": (B, num_queries, 4)`.
        """

        wrapped_class = DFineObjectDetector
        wrapped_config_key = "detector"

        def __init__(self, detector, output_size, saliency, antialias=None,
                     **kwargs):
            antialias = antialiasing.check_antialias(antialias)
            output_size = check_output_size(detector.backbone, output_size)
            if common.takes_prior_boxes(saliency):
                raise ValueError(
                    f"saliency={saliency.mode!r} (from prior boxes) is not "
                    f"supported for a {FAMILY}. Use saliency='fixed' or "
                    "'network'."
                )
            graph = lzu_detector_graph(
                detector, output_size, saliency, antialias
            )
            kwargs.setdefault("name", f"lzu_{detector.name}")
            super(DFineObjectDetector, self).__init__(
                inputs=graph.inputs,
                outputs=graph.outputs,
                compile=False,
                **kwargs,
            )
            keras_hub_common.adopt_task(
                self, detector, TASK_ATTRIBUTES, output_size, saliency,
                antialias, "detection",
            )

        def infer_outputs(self, images):
            images = keras_hub_common.rescale_images(self.preprocessor, images)
            outputs = self.call_on_images(images)
            return self.decode_image_by_image(
                {key: outputs[key] for key in DECODED_OUTPUTS}, images
            )

        def _decode(self, predictions, images):
            """Decoded predictions and their pixel `xyxy` boxes (caller)."""
            boxes = keras_hub_common.rescale_boxes(
                predictions["pred_boxes"], "center_xywh", (1.0, 1.0),
                common.image_size(images),
            )
            decoded = self.prediction_decoder(
                keras_hub_common.convert_boxes(
                    boxes, "xyxy", self.bounding_box_format, images
                ),
                ops.cast(predictions["logits"], "float32"),
                images=images,
            )
            valid = decoded["labels"] >= 0
            boxes = ops.where(
                valid[..., None],
                keras_hub_common.convert_boxes(
                    decoded["boxes"], self.bounding_box_format, "xyxy",
                    images,
                ),
                -1.0,
            )
            return decoded, boxes

        def _labels_to_uniform(self, images, y):
            # D-FINE's loss reads normalized center_xywh boxes: the same in
            # the caller's frame and the uniform layout.
            common.check_detection_labels(
                y, "labels", self.bounding_box_format, FAMILY
            )
            valid = ops.cast(y["labels"], "float32") >= 0
            boxes = keras_hub_common.rescale_boxes(
                y["boxes"], self.bounding_box_format,
                common.image_size(images), (1.0, 1.0), valid,
            )
            boxes = keras.utils.bounding_boxes.convert_format(
                boxes, source="xyxy", target="center_xywh"
            )
            boxes = ops.where(
                valid[..., None], boxes, ops.cast(y["boxes"], "float32")
            )
            return {**y, "boxes": boxes}

    return LZUDFineObjectDetector


__getattr__ = common.wrapper_class_getattr(
    __name__, WRAPPER_NAME, detector_class
)
