"""The `prior_boxes` input of detectors wrapped with box saliency.

`keras_lzu.wrap(detector, output_size, saliency="boxes")` (or
`"prior+boxes"`) makes a model with inputs `{"images": (B, H, W, C),
"prior_boxes": (B, N, 4)}`. The prior boxes (e.g. the previous frame's
detections) are in the caller's frame: pixel boxes of the images (relative
ones for a `rel_*` format), in the detector's `bounding_box_format`. The
contract, checked by `PriorBoxesToSaliency` before any grid is made:

* rows whose four values are all -1 are padding and carry no saliency; a
  batch of padding only gives the grid of the fixed prior (or the uniform
  grid);
* boxes reaching outside the image are clipped to it (an object leaving the
  frame); a box wholly outside then has no area and carries no saliency,
  like a box of zero width or height;
* NaN or infinite values, and inverted corners (a right edge left of the
  left edge, or a bottom above the top), raise a `ValueError` naming
  `prior_boxes` where the values are known (eager calls) and fail the step
  with an `InvalidArgumentError` carrying the same message in a TensorFlow
  graph (`fit`, `predict`, a SavedModel). XLA and JAX `jit` cannot check
  values: there such rows are ignored like padding, so the grid is never
  NaN;
* a rank other than 3 or a last dimension other than 4 raises a
  `ValueError` naming `prior_boxes` before the model runs.
"""

import keras
from keras import ops

from keras_lzu.ops import validation

PRIOR_BOXES = "prior_boxes"
IMAGES = "images"
PADDING_VALUE = -1.0


def check_prior_boxes_shape(prior_boxes):
    """Raises a `ValueError` naming `prior_boxes` unless its static shape
    is `(batch, num_boxes, 4)`."""
    shape = getattr(prior_boxes, "shape", None)
    if shape is None or len(shape) != 3 or (
        shape[-1] is not None and shape[-1] != 4
    ):
        raise ValueError(
            "`prior_boxes` must have shape (batch, num_boxes, 4): one row "
            "per box, padded with rows of -1. Received: prior_boxes.shape="
            f"{None if shape is None else tuple(shape)}"
        )


def padding_prior_boxes(images):
    """Prior boxes `(B, 1, 4)` of padding only, for a batch of `images`:
    the input that gives the grid of the fixed prior (or the uniform one)."""
    batch = ops.shape(images)[0]
    return ops.full((batch, 1, 4), PADDING_VALUE, "float32")


def from_pixel_xyxy(prior_boxes, bounding_box_format, images):
    """Pixel `xyxy` prior boxes (padded with -1 rows) in
    `bounding_box_format`, padding rows kept as -1."""
    if bounding_box_format == "xyxy":
        return prior_boxes
    shape = ops.shape(images)
    padding = ops.all(prior_boxes == PADDING_VALUE, axis=-1, keepdims=True)
    converted = keras.utils.bounding_boxes.convert_format(
        prior_boxes, source="xyxy", target=bounding_box_format,
        height=ops.cast(shape[1], "float32"),
        width=ops.cast(shape[2], "float32"),
    )
    return ops.where(padding, PADDING_VALUE, converted)


@keras.saving.register_keras_serializable(package="keras_lzu")
class PriorBoxesToSaliency(keras.layers.Layer):
    """Checks prior boxes and makes them the boxes of `SaliencyGrid`.

    Turns caller-frame boxes in `bounding_box_format` into the normalized
    `xyxy` boxes in `[0, 1]` that `SaliencyGrid(mode="boxes")` takes,
    following the contract of the module docstring (padding, clipping,
    errors). Runs in float32.

    Example:

    >>> from keras_lzu.models.prior_boxes import PriorBoxesToSaliency
    >>> layer = PriorBoxesToSaliency("xywh")
    >>> boxes = np.array([[[10, 0, 30, 20], [-1, -1, -1, -1]]], "float32")
    >>> images = np.zeros((1, 40, 80, 3), "float32")
    >>> print(keras.ops.convert_to_numpy(layer([boxes, images])))
    [[[ 0.125  0.     0.5    0.5  ]
      [-1.    -1.    -1.    -1.   ]]]

    Args:
        bounding_box_format: the format of the prior boxes (a KerasCV /
            Keras box format such as `"xyxy"` or `"center_xywh"`).
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `[prior_boxes, images]`: boxes `(B, N, 4)` and the images
            `(B, H, W, C)` they belong to.

    Returns:
        float32 `(B, N, 4)` normalized `xyxy` boxes, -1 rows for padding.
    """

    def __init__(self, bounding_box_format="xyxy", **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.bounding_box_format = bounding_box_format

    def call(self, inputs):
        prior_boxes, images = inputs
        check_prior_boxes_shape(prior_boxes)
        boxes = ops.cast(prior_boxes, "float32")
        where = (
            "`prior_boxes` (boxes in bounding_box_format="
            f"{self.bounding_box_format!r} of the images' frame, padded "
            "with rows of -1)"
        )
        boxes = validation.check_values(
            boxes, ops.isfinite, f"{where} must hold finite values."
        )
        finite = ops.all(ops.isfinite(boxes), axis=-1, keepdims=True)
        padding = ops.all(boxes == PADDING_VALUE, axis=-1, keepdims=True)
        shape = ops.shape(images)
        height = ops.cast(shape[1], "float32")
        width = ops.cast(shape[2], "float32")
        xyxy = ops.where(finite & ~padding, boxes, 0.0)
        if self.bounding_box_format != "xyxy":
            xyxy = keras.utils.bounding_boxes.convert_format(
                xyxy, source=self.bounding_box_format, target="xyxy",
                height=height, width=width,
            )
        extents = ops.where(padding, 0.0, xyxy[..., 2:] - xyxy[..., :2])
        extents = validation.check_values(
            extents, lambda v: v >= 0,
            f"{where} must not have inverted corners: x2 >= x1 and y2 >= y1 "
            "in xyxy (the negative widths or heights are shown).",
        )
        valid = finite & ~padding & ops.all(extents >= 0, axis=-1,
                                            keepdims=True)
        size = ops.stack([width, height, width, height])
        normalized = ops.clip(xyxy / size, 0.0, 1.0)
        return ops.where(valid, normalized, PADDING_VALUE)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"bounding_box_format": self.bounding_box_format})
        return config
