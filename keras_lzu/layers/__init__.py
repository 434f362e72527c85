"""Keras layers over `keras_lzu.ops`.

The docstring examples assume `import numpy as np, keras, keras_lzu`; they
run as tests (tests/layers/test_layers_docstring_examples.py).
"""

from keras_lzu.layers.invert_grid import InvertGrid
from keras_lzu.layers.saliency_grid import SaliencyGrid
from keras_lzu.layers.unzoom_layer import UnzoomLayer
from keras_lzu.layers.zoom_layer import ZoomLayer
