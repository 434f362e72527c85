"""Adaptive LZU over a video stream: each response's detections become the
next request's `prior_boxes`.

The server stays stateless: the `serving_with_boxes` signature (exported by
`keras_lzu.export` for detectors wrapped with `saliency="boxes"` or
`"prior+boxes"`) takes the images and the boxes to zoom on; the client keeps
the boxes of the last response and sends them with the next frame.
"""

import numpy as np

from keras_lzu.serving import signatures

SERVING_WITH_BOXES = "serving_with_boxes"
PADDING_VALUE = -1.0


def prior_boxes_from_outputs(outputs, score_threshold=0.5, max_boxes=100):
    """The detections of a response as the `prior_boxes` of the next request.

    Args:
        outputs: a detection response with a batch axis: `boxes` `(B, N, 4)`
            pixel xyxy, `scores` `(B, N)` and `num_detections` `(B,)`.
        score_threshold: detections scoring below it are left out.
        max_boxes: int >= 1, the rows of the result: the first `max_boxes`
            kept detections (in the response's order), then rows of -1.

    Returns:
        float32 `(B, max_boxes, 4)`.
    """
    max_boxes = _positive_int(max_boxes, "max_boxes")
    boxes = np.asarray(outputs["boxes"], "float32")
    scores = np.asarray(outputs["scores"], "float32")
    counts = np.asarray(outputs["num_detections"]).reshape(-1)
    prior = np.full((boxes.shape[0], max_boxes, 4), PADDING_VALUE, "float32")
    for b, count in enumerate(counts):
        kept = boxes[b, :count][scores[b, :count] >= score_threshold]
        kept = kept[np.all(np.isfinite(kept), axis=-1)][:max_boxes]
        prior[b, : len(kept)] = kept
    return prior


class DetectionStream:
    """Sends frames one by one, each with the previous frame's detections.

    Works with any client that has `predict_tensors(inputs, signature_name)`
    (`GrpcPredictionClient`, `RestPredictionClient`). The first frame (and
    the first after `reset()`) goes with padding only, so the model uses
    its fixed prior (or a uniform grid).

    Example:

    ```python
    with GrpcPredictionClient("127.0.0.1:8500", "lzu") as client:
        stream = DetectionStream(client, score_threshold=0.5)
        for frame in frames:  # uint8 (H, W, 3), one video
            detections = stream.predict(frame)
    ```

    Args:
        client: the prediction client.
        score_threshold: detections scoring below it are not carried.
        max_prior_boxes: rows of `prior_boxes` sent (at most this many
            detections are carried).
        signature_name: the signature taking `images` and `prior_boxes`.

    Attributes:
        prior_boxes: float32 `(B, max_prior_boxes, 4)` sent with the next
            frame, or `None` before the first.
    """

    def __init__(self, client, score_threshold=0.5, max_prior_boxes=100,
                 signature_name=SERVING_WITH_BOXES):
        self.client = client
        self.score_threshold = float(score_threshold)
        self.max_prior_boxes = _positive_int(
            max_prior_boxes, "max_prior_boxes"
        )
        self.signature_name = signature_name
        self.prior_boxes = None
        self._frame_shape = None

    def predict(self, images):
        """Runs the model on the next frame (or batch of frames, one per
        independent stream).

        Args:
            images: uint8 `(H, W, 3)` or `(B, H, W, 3)`, the same shape as
                the previous frame's.

        Returns:
            The response `{output name: np.ndarray}`, without the batch axis
            for a single `(H, W, 3)` frame.

        Raises:
            ValueError: if the frame's shape differs from the previous one
                (the carried boxes are in the previous frame's pixels): call
                `reset()` first.
        """
        batch, single = signatures.image_batch(images)
        if self.prior_boxes is None:
            self.prior_boxes = np.full(
                (batch.shape[0], self.max_prior_boxes, 4), PADDING_VALUE,
                "float32",
            )
        elif batch.shape[:3] != self._frame_shape:
            raise ValueError(
                f"`images` of shape {batch.shape[:3]} (batch, height, width) "
                f"follow frames of shape {self._frame_shape}: the carried "
                "prior boxes are in the previous frames' pixels. Call reset() "
                "to start a new stream."
            )
        outputs = self.client.predict_tensors(
            {"images": batch, "prior_boxes": self.prior_boxes},
            signature_name=self.signature_name,
        )
        self._frame_shape = batch.shape[:3]
        self.prior_boxes = prior_boxes_from_outputs(
            outputs, self.score_threshold, self.max_prior_boxes
        )
        return signatures.unbatch(outputs, single)

    def reset(self):
        """Forgets the carried boxes: the next frame starts a new stream."""
        self.prior_boxes = None
        self._frame_shape = None


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {value!r}"
        )
    return int(value)
