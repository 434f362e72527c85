"""`wrap()`: LZU around existing detectors and segmenters."""

from keras_lzu.models.saving import load_model
from keras_lzu.models.wrap import wrap
