"""What the KerasHub adapters share: preprocessors, fixed input sizes, box
frames and the detectors' decoding.

KerasHub task models resize images in their preprocessor (on the CPU) and
some backbones take one input size only. A wrapped model zooms the images
itself, so it keeps the preprocessor's rescaling without its resizing, and
its `output_size` must be the size a fixed-size backbone takes. KerasHub
detectors take and return boxes in a `bounding_box_format` of Keras's
`keras.utils.bounding_boxes`, which the wrappers move between image frames
(`rescale_boxes`, `convert_boxes`); `KerasHubDetectorMixin` decodes
their predictions in the caller's frame. Nothing here imports KerasHub.
"""

import keras
import numpy as np
from keras import ops

from keras_lzu.models import common


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


def adopt_task(wrapper, task_model, attribute_names, output_size, saliency,
               antialias, task):
    """Ends a KerasHub wrapper's `__init__`: shares `task_model`'s
    attributes, sets the LZU ones, keeps the preprocessor without resizing
    and compiles.

    KerasHub tasks compile in their constructor; the wrapper builds its
    functional model with `compile=False` and compiles (with the task's
    defaults) only here, once the attributes its losses read are set.

    Args:
        wrapper: the `common.WrappedTaskMixin` being initialised.
        task_model: the KerasHub task model it wraps.
        attribute_names, output_size, saliency, antialias, task: as for
            `common.WrappedTaskMixin.adopt_task_attributes`.
    """
    wrapper.adopt_task_attributes(
        task_model, attribute_names, output_size, saliency, antialias, task
    )
    wrapper.preprocessor = preprocessor_without_resizing(
        task_model.preprocessor
    )
    wrapper.compile()


class KerasHubDetectorMixin(common.WrappedDetectorMixin):
    """`WrappedDetectorMixin` for KerasHub detectors: decoding in the
    caller's frame.

    Mixed in before the KerasHub task class. Subclasses implement
    `_decode(predictions, images)`, which returns KerasHub's decoded
    `{"boxes", "confidence", "labels", "num_detections"}` with boxes in
    `bounding_box_format` of the frame of `images`, and those boxes as
    pixel `xyxy` (`-1` rows for padding).
    """

    def decode_predictions(self, predictions, data):
        """Decodes raw outputs into detections in the caller's frame.

        Args:
            predictions: the detector's raw outputs.
            data: the images predicted on, or an `(images, ...)` batch.

        Returns:
            `{"boxes", "confidence", "labels", "num_detections"}` with
            boxes in `bounding_box_format` of the images' frame.
        """
        return self._decode(predictions, common.images_of(data))[0]

    def decode_image_by_image(self, predictions, images):
        """The `infer` dict of the raw `predictions` on `images`.

        KerasHub's non-max suppression needs a static batch size, which a
        serving signature does not have: this decodes image by image.
        """

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

        return ops.map(decode_one, predictions)


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


def rescale_boxes(boxes, bounding_box_format, from_size, to_size,
                  valid=None):
    """Boxes of a `keras.utils.bounding_boxes` format in the frame of size
    `from_size` as pixel `xyxy` boxes in the frame of size `to_size`.

    Args:
        boxes: `(..., 4)` boxes in `bounding_box_format` (relative formats
            are relative to `from_size`).
        bounding_box_format: their format, e.g. `"yxyx"` or
            `"center_xywh"`.
        from_size: `(height, width)` of their frame, ints or scalar
            tensors; `(1, 1)` for boxes in normalized coordinates.
        to_size: `(height, width)` of the target frame.
        valid: optional boolean tensor of `boxes.shape[:-1]`; boxes where it
            is `False` (padding) are returned converted but not scaled.

    Returns:
        float32 pixel `xyxy` boxes of the frame of size `to_size`.
    """
    height, width = from_size
    boxes = keras.utils.bounding_boxes.convert_format(
        ops.cast(boxes, "float32"),
        source=bounding_box_format,
        target="xyxy",
        height=height,
        width=width,
    )
    return common.scale_boxes(boxes, from_size, to_size, valid)


def convert_boxes(boxes, source, target, images):
    """`keras.utils.bounding_boxes.convert_format` of pixel boxes in the
    frame of `images` (whose size relative formats need)."""
    shape = ops.shape(images)
    return keras.utils.bounding_boxes.convert_format(
        boxes, source=source, target=target, height=shape[1], width=shape[2]
    )
