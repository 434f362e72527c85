"""What the KerasCV detector adapters share: boxes in the caller's frame.

A wrapped KerasCV detector (`RetinaNet`, `YOLOV8Detector`) runs its heads,
anchors, label encoder, losses and decoder in the uniform layout of
`output_size`, while its labels and decoded predictions are in the caller's
image frame. `KerasCVDetectorMixin` maps the boxes between the two, in the
detector's `bounding_box_format`, with KerasCV's own format conversions.
Importing this module imports KerasCV.
"""

from keras import ops
from keras_cv import bounding_box

from keras_lzu.models import common


class KerasCVDetectorMixin(common.WrappedDetectorMixin):
    """`WrappedDetectorMixin` for KerasCV detectors.

    Mixed in before the KerasCV task class, whose `decode_predictions(
    predictions, images)` decodes raw outputs into KerasCV's `{"boxes",
    "confidence", "classes", "num_detections"}` for images of the size of
    `images` (here the uniform layout). Labels are KerasCV's `{"boxes",
    "classes"}` (dense or ragged).

    Attributes:
        family: the detector's class name, for error messages.
    """

    family = None

    def decode_predictions(self, predictions, images):
        """Decodes raw outputs into boxes in the frame of `images`.

        Args:
            predictions: the detector's raw outputs.
            images: the images (or the batch) that were predicted on.

        Returns:
            KerasCV's `{"boxes", "confidence", "classes",
            "num_detections"}` with boxes in `bounding_box_format`.
        """
        return self._decode(predictions, common.images_of(images))[0]

    def infer_outputs(self, images, prior_boxes=None):
        decoded, boxes = self._decode(
            self.call_on_images(images, prior_boxes), images
        )
        return common.detection_outputs(
            boxes,
            decoded["confidence"],
            decoded["classes"],
            decoded["num_detections"],
        )

    def _decode(self, predictions, images):
        """Decoded predictions and their pixel `xyxy` boxes, caller frame."""
        predictions = {
            key: ops.cast(value, "float32")
            for key, value in predictions.items()
        }
        uniform = self._uniform_images()
        decoded = super().decode_predictions(predictions, uniform)
        boxes = bounding_box.convert_format(
            decoded["boxes"], source=self.bounding_box_format,
            target="xyxy", images=uniform,
        )
        valid = decoded["classes"] >= 0
        boxes = common.scale_boxes(
            boxes, self.output_size, common.image_size(images), valid
        )
        decoded["boxes"] = ops.where(
            valid[..., None],
            bounding_box.convert_format(
                boxes, source="xyxy", target=self.bounding_box_format,
                images=images,
            ),
            decoded["boxes"],
        )
        return decoded, boxes

    def _labels_to_uniform(self, images, y):
        y = dense_labels(y, self.bounding_box_format, self.family)
        boxes = bounding_box.convert_format(
            y["boxes"], source=self.bounding_box_format, target="xyxy",
            images=images,
        )
        boxes = common.scale_boxes(
            boxes, common.image_size(images), self.output_size
        )
        boxes = bounding_box.convert_format(
            boxes, source="xyxy", target=self.bounding_box_format,
            images=self._uniform_images(),
        )
        valid = ops.reshape(y["classes"], ops.shape(boxes)[:2]) >= 0
        y["boxes"] = ops.where(valid[..., None], boxes, y["boxes"])
        return y


def dense_labels(y, bounding_box_format, family):
    """KerasCV detection labels `{"boxes", "classes"}` as dense tensors,
    with float32 boxes.

    Args:
        y: the labels, dense or ragged.
        bounding_box_format: the detector's format, for the error message.
        family: the detector's class name, for the error message.

    Raises:
        ValueError: naming what the labels must be.
    """
    common.check_detection_labels(y, "classes", bounding_box_format, family)
    y = bounding_box.to_dense(dict(y))
    boxes = ops.cast(y["boxes"], "float32")
    if len(boxes.shape) != 3 or boxes.shape[-1] != 4:
        raise ValueError(
            f"{family} label boxes must have shape (batch, num_boxes, 4). "
            f"Received: boxes.shape={tuple(boxes.shape)}"
        )
    return {**y, "boxes": boxes}
