"""`wrap()`: LZU around existing detectors and segmenters."""

from keras_lzu.models.antialiasing import DEFAULT_ANTIALIAS
from keras_lzu.models.antialiasing import set_antialias
from keras_lzu.models.dispatch import wrap
from keras_lzu.models.saving import load_model
