"""Tiny KerasCV models for the family harness (no presets, no downloads)."""

import keras
import numpy as np


def yolov8(num_classes=3, bounding_box_format="xyxy",
           class_logit_scale=3000.0):
    """A YOLOV8Detector with the `yolo_v8_xs_backbone` layout at tiny widths.

    Like the preset (a stem, four C2f stacks, SPPF, levels P3-P5 of strides
    8-32), with 8 to 32 channels, one block per stack and FPN depth 1. The
    final class convolutions are scaled by `class_logit_scale`, so that an
    untrained model's scores spread over (0, 1) as a trained one's do,
    instead of all lying within 1e-4 of 0.5 (where the top detections would
    be decided by rounding). Its decoder keeps at most 10 boxes.
    """
    import keras_cv

    backbone = keras_cv.models.YOLOV8Backbone(
        stackwise_channels=[8, 16, 24, 32],
        stackwise_depth=[1, 1, 1, 1],
        include_rescaling=False,
    )
    detector = keras_cv.models.YOLOV8Detector(
        backbone=backbone,
        num_classes=num_classes,
        bounding_box_format=bounding_box_format,
        fpn_depth=1,
        prediction_decoder=keras_cv.layers.NonMaxSuppression(
            bounding_box_format=bounding_box_format,
            from_logits=False,
            confidence_threshold=0.2,
            iou_threshold=0.7,
            max_detections=10,
            # KerasCV's NMS compares float16 scores with float32 thresholds.
            dtype="float32",
        ),
    )
    for level in (1, 2, 3):
        layer = detector.get_layer(f"yolo_v8_head_{level}_class_3_conv")
        layer.kernel.assign(
            keras.ops.convert_to_numpy(layer.kernel) * np.float32(
                class_logit_scale
            )
        )
    return detector
