"""Evaluation: COCO box AP (pycocotools) and semantic segmentation mIoU.

One implementation, used by `lzu evaluate` (`evaluate_on_coco`), `lzu demo`
and the benchmarks.
Needs pycocotools: `pip install 'keras-lzu[eval]'`.
"""

from keras_lzu.extras import import_optional

import_optional("pycocotools.cocoeval", "eval", "keras_lzu.evaluation")

from keras_lzu.evaluation.detection import coco_detection_metrics  # noqa: E402
from keras_lzu.evaluation.detection import detections_to_coco  # noqa: E402
from keras_lzu.evaluation.segmentation import SegmentationMetrics  # noqa: E402
from keras_lzu.evaluation.coco_model import evaluate_on_coco  # noqa: E402
from keras_lzu.evaluation.tables import metrics_table  # noqa: E402
