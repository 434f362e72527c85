"""`wrap()`: LZU around existing detectors and segmenters."""

from keras_lzu.models.dispatch import load_model
from keras_lzu.models.dispatch import wrap
