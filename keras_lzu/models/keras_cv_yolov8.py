"""LZU for KerasCV `YOLOV8Detector`: zoom, then unzoom P3-P5 before the neck.

`YOLOV8Detector` is a functional model: a feature extractor (the backbone
cut at its P3, P4 and P5 outputs, a nested model with a dict output), then
the path-aggregation FPN and the anchor-free head. The wrapper re-runs that
graph with the same layers on zoomed images and unzooms the extractor's
three levels (one shared grid inversion), so the FPN, the head, the anchor
points, the task-aligned assigner, the losses and the decoder work
unchanged in the uniform layout of `output_size`.

Importing this module does not import KerasCV: `matches` recognises the
model by its class name, and the wrapper class (a `YOLOV8Detector`
subclass) is defined on first use. Load a saved wrapped model with
`keras_lzu.load_model`, which defines and registers the class first.
"""

import functools

import keras

from keras_lzu.models import antialiasing
from keras_lzu.models import common

CLASS_NAMES = ("YOLOV8Detector",)
WRAPPER_NAME = "LZUYOLOV8Detector"
# The FPN upsamples P5 (stride 32) onto P4 and P3 by repeating pixels, and
# the anchor points of each level lie every `stride` pixels.
STRIDE_MULTIPLE = 32
# What `YOLOV8Detector`'s methods and config read, shared with the wrapper.
TASK_ATTRIBUTES = (
    "bounding_box_format",
    "_prediction_decoder",
    "backbone",
    "fpn_depth",
    "num_classes",
    "label_encoder",
)


def matches(model):
    """True for a KerasCV `YOLOV8Detector` that is not already wrapped."""
    return common.matches_family(model, "keras_cv", CLASS_NAMES)


def feature_extractor(detector):
    """The nested model of `detector` that outputs `{"P3", "P4", "P5"}`:
    the backbone's levels, which the FPN takes."""
    return common.dict_output_submodel(
        detector,
        "a YOLOV8Detector runs its backbone as a nested model returning the "
        "levels {'P3', 'P4', 'P5'} that its FPN takes.",
    )


@functools.cache
def detector_class():
    """Defines and registers the wrapper class (imports KerasCV)."""
    from keras_cv.models import YOLOV8Detector

    from keras_lzu.models import keras_cv_detection

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class LZUYOLOV8Detector(
        keras_cv_detection.KerasCVDetectorMixin, YOLOV8Detector
    ):
        """A KerasCV `YOLOV8Detector` that zooms its input and unzooms P3-P5.

        The images (any size) are zoomed to `output_size` through the warp
        of `saliency`; the backbone runs on the zoomed images; its P3, P4
        and P5 feature maps are unzoomed to their own sizes (one shared grid
        inversion); the unchanged FPN, head, anchor points, label encoder
        (task-aligned assigner), losses and decoder of `detector` then work
        in the uniform layout of `output_size`. Labels (`{"boxes",
        "classes"}`) and decoded predictions are in the caller's image frame
        and `detector.bounding_box_format`: boxes are scaled between the two
        frames. All layers, hence weights, are shared with `detector`.

        `compile` (with `box_loss` and `classification_loss`), `fit`,
        `evaluate`, `predict` and `predict_on_batch` take the same arguments
        as `YOLOV8Detector`'s; `model(images)` returns the raw `{"boxes",
        "classes"}` of the anchor points of an `output_size` image.

        Example:

        ```python
        detector = keras_cv.models.YOLOV8Detector(
            num_classes=8, bounding_box_format="xyxy", fpn_depth=1,
            backbone=keras_cv.models.YOLOV8Backbone(
                stackwise_channels=[32, 64, 128, 256],
                stackwise_depth=[1, 2, 2, 1], include_rescaling=True,
            ),
        )
        model = keras_lzu.wrap(detector, output_size=(640, 960))
        model.compile(
            optimizer="adam", box_loss="ciou",
            classification_loss="binary_crossentropy",
        )
        model.fit(train_ds, epochs=10)  # (images, {"boxes", "classes"})
        detections = model.predict(high_res_images)  # caller's frame
        ```

        Args:
            detector: the KerasCV `YOLOV8Detector` to wrap.
            output_size: `(height, width)` of the zoomed images, multiples
                of 32.
            saliency: a `SaliencyGrid`.
            antialias: `False` (default, `keras_lzu.models.DEFAULT_ANTIALIAS`
                when `None`), `True`, `"zoom"` or `"unzoom"`: which of the
                zoom and the unzooms average over each output pixel's
                footprint instead of point-sampling.
            **kwargs: base `Model` arguments (`name`).

        Call arguments:
            images: `(B, H, W, 3)` images of any size; with box saliency
                (`"boxes"`, `"prior+boxes"`) the dict `{"images": images,
                "prior_boxes": (B, N, 4)}`, prior boxes as
                `keras_lzu.models.prior_boxes` describes.

        Returns:
            `{"boxes": (B, A, 64), "classes": (B, A, num_classes)}` for the
            `A` anchor points of an `output_size` image.
        """

        wrapped_class = YOLOV8Detector
        wrapped_config_key = "detector"
        family = "YOLOV8Detector"

        def __init__(self, detector, output_size, saliency, antialias=None,
                     **kwargs):
            antialias = antialiasing.check_antialias(antialias)
            output_size = common.check_output_size(
                output_size, STRIDE_MULTIPLE, "YOLOV8Detector"
            )
            graph = common.lzu_graph(
                detector, output_size, saliency,
                [feature_extractor(detector)],
                bounding_box_format=detector.bounding_box_format,
                antialias=antialias,
            )
            kwargs.setdefault("name", f"lzu_{detector.name}")
            super(YOLOV8Detector, self).__init__(
                inputs=graph.inputs, outputs=graph.outputs, **kwargs
            )
            self.adopt_task_attributes(
                detector, TASK_ATTRIBUTES, output_size, saliency, antialias,
                "detection",
            )

    return LZUYOLOV8Detector


__getattr__ = common.wrapper_class_getattr(
    __name__, WRAPPER_NAME, detector_class
)
