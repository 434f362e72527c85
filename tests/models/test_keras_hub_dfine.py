"""`keras_lzu.wrap` of a KerasHub `DFineObjectDetector`.

The checks every family shares (identity, caller's frame, fit, `.keras`
round trip, export, bad input) are in `test_families.py`; this module
checks what is particular to D-FINE: the one size its backbone takes (here
not square), and its boxes, which KerasHub's D-FINE keeps as normalized
`center_xywh` for its loss and decodes to `yxyx` whatever its
`bounding_box_format`, while the wrapper takes and returns them in
`bounding_box_format` of the caller's frame.
"""

import keras
import numpy as np
import pytest

import keras_lzu
from tests.models import family_checks
from tests.models import keras_hub_builders

pytestmark = pytest.mark.tensorflow_only

# Not square: D-FINE takes any multiple of 32 it was built for.
ANCHOR_SIZE = (64, 96)
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def detector():
    keras.utils.set_random_seed(2)
    return keras_hub_builders.dfine(
        num_classes=NUM_CLASSES, image_size=ANCHOR_SIZE,
        bounding_box_format="xyxy",
    )


@pytest.fixture(scope="module")
def wrapped(detector):
    return keras_lzu.wrap(detector, ANCHOR_SIZE)


def test_an_output_size_other_than_the_anchor_image_size_is_refused(
    detector,
):
    with pytest.raises(
        ValueError,
        match=r"`output_size` must equal the DFineObjectDetector's "
        r"anchor_image_size \(64, 96\).*Received: output_size=\(96, 96\)",
    ):
        keras_lzu.wrap(detector, (96, 96))


def test_box_saliency_is_refused(detector):
    with pytest.raises(
        ValueError, match=r"saliency='boxes' .* not supported for a "
        r"DFineObjectDetector"
    ):
        keras_lzu.wrap(detector, ANCHOR_SIZE, saliency="boxes")


def test_a_non_square_size_gives_the_raw_outputs_of_resized_images(
    detector, wrapped
):
    images = family_checks.images()
    ours = wrapped(images, training=False)
    expected = detector(
        family_checks.resized(images, ANCHOR_SIZE), training=False
    )
    for key in ("logits", "pred_boxes", "enc_topk_logits"):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours[key]),
            keras.ops.convert_to_numpy(expected[key]),
            atol=1e-4, err_msg=key,
        )


def test_decoded_boxes_are_in_the_bounding_box_format_of_the_images(
    wrapped,
):
    """A query's normalized `center_xywh` box comes back as `xyxy` pixels
    of the images it was predicted on, whatever their size."""
    num_queries = 10
    pred_boxes = np.full((1, num_queries, 4), 0.5, "float32")
    pred_boxes[0, 0] = (0.25, 0.75, 0.1, 0.2)
    logits = np.full((1, num_queries, NUM_CLASSES), -5.0, "float32")
    logits[0, 0, 2] = 5.0
    images = np.zeros((1, 100, 200, 3), "float32")
    decoded = wrapped.decode_predictions(
        {"pred_boxes": pred_boxes, "logits": logits}, images
    )
    decoded = keras.tree.map_structure(
        keras.ops.convert_to_numpy, decoded
    )
    # Centre (50, 75), size 20 x 20 in a 200 x 100 image.
    np.testing.assert_allclose(decoded["boxes"][0, 0], (40, 65, 60, 85))
    np.testing.assert_array_equal(decoded["boxes"][0, 1:], -1.0)
    assert decoded["num_detections"][0] == 1
    assert decoded["labels"][0, 0] == 2
    np.testing.assert_allclose(
        decoded["confidence"][0, 0], 1 / (1 + np.exp(-5.0)), rtol=1e-6
    )


def test_labels_reach_the_loss_as_normalized_center_xywh(
    detector, wrapped
):
    """The wrapper's loss on pixel `xyxy` labels of the caller's frame is
    the unwrapped model's loss on the same boxes as normalized
    `center_xywh` (what KerasHub's D-FINE loss reads)."""
    # One image: D-FINE's Hungarian matching runs image by image, eagerly.
    images = family_checks.images(seed=6)[:1]
    height, width = images.shape[1:3]
    boxes = np.array([[[20, 10, 100, 70], [96, 64, 192, 128]]], "float32")
    labels = np.array([[1, 2]], "float32")
    normalized = np.stack(
        [
            (boxes[..., 0] + boxes[..., 2]) / 2 / width,
            (boxes[..., 1] + boxes[..., 3]) / 2 / height,
            (boxes[..., 2] - boxes[..., 0]) / width,
            (boxes[..., 3] - boxes[..., 1]) / height,
        ],
        axis=-1,
    )
    y_pred = wrapped(images, training=False)
    ours = wrapped.compute_loss(
        images, {"boxes": boxes, "labels": labels}, y_pred, None
    )
    expected = detector.compute_loss(
        None, {"boxes": normalized, "labels": labels}, y_pred, None
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours),
        keras.ops.convert_to_numpy(expected),
        rtol=1e-5,
    )
