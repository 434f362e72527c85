"""Training LZU detectors and segmenters on COCO-format data (`lzu train`).

`TrainingConfig` holds the settings (the flags of `lzu train`);
`build_model` builds the LZU (or uniform) model of a config; `train` checks
the datasets, builds the model, fits it and writes `model.keras`,
`metrics.json` and optionally a TF Serving export.

Needs KerasHub (or KerasCV with `library="keras_cv"`), pycocotools and
Pillow: `pip install 'keras-lzu[train]'`.
"""

from keras_lzu.training.config import TrainingConfig
from keras_lzu.training.models import BACKBONES
from keras_lzu.training.models import build_base_model
from keras_lzu.training.models import build_model
from keras_lzu.training.models import check_output_size
from keras_lzu.training.models import wrap_for_training
from keras_lzu.training.trainer import Training
from keras_lzu.training.trainer import train
