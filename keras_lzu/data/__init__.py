"""Input pipelines: COCO-format detection and segmentation data and their
checks, synthetic driving scenes and videos, COCO-VID video files, the
dataset-wide saliency prior and simulated previous-frame detections
(cascaded training of adaptive LZU).

Importing this package imports TensorFlow (for `tf.data`) but never KerasCV.
"""

from keras_lzu.data.coco import BOX_FORMATS
from keras_lzu.data.coco import load_coco_dataset
from keras_lzu.data.coco import read_coco_annotations
from keras_lzu.data.prior import saliency_prior_from_boxes
from keras_lzu.data.previous_detections import simulate_previous_detections
from keras_lzu.data.previous_detections import with_previous_detections
from keras_lzu.data.synthetic import CLASS_NAMES
from keras_lzu.data.synthetic import SyntheticDrivingScenes
from keras_lzu.data.coco_masks import coco_semantic_mask
from keras_lzu.data.coco_checks import CocoFormatError
from keras_lzu.data.coco_checks import check_coco_dataset
from keras_lzu.data.coco_segmentation import load_coco_segmentation_dataset
from keras_lzu.data.coco_video import load_video_dataset
from keras_lzu.data.coco_video import read_video_annotations
from keras_lzu.data.synthetic_video import SyntheticDrivingVideos
