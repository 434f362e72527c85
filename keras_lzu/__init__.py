"""keras_lzu: Learning to Zoom and Unzoom (CVPR 2023) for Keras 3.

`import keras_lzu` loads only Keras and the package's own ops and layers;
model adapters import KerasCV / KerasHub, and the serving tools import the
TF Serving stack, only when they are used.
"""

import importlib

from keras_lzu.extras import tensorflow_required

with tensorflow_required(
    "Keras's TensorFlow backend (the default; with KERAS_BACKEND=jax or "
    "KERAS_BACKEND=torch the ops and layers run without TensorFlow)"
):
    from keras_lzu import ops
    from keras_lzu.layers import InvertGrid
    from keras_lzu.layers import SaliencyGrid
    from keras_lzu.layers import UnzoomLayer
    from keras_lzu.layers import ZoomLayer

__version__ = "0.1.0"

_LAZY = {
    "wrap": ("keras_lzu.models", "wrap"),
    "load_model": ("keras_lzu.models", "load_model"),
    "set_antialias": ("keras_lzu.models", "set_antialias"),
    "export": ("keras_lzu.saved_model_export", "export"),
    "saliency_prior_from_boxes": ("keras_lzu.data", "saliency_prior_from_boxes"),
    "plan_warp": ("keras_lzu.planning", "plan_warp"),
    "predict_video": ("keras_lzu.video", "predict_video"),
}


def __getattr__(name):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        with tensorflow_required(f"keras_lzu.{name}"):
            module = importlib.import_module(module_name)
        return getattr(module, attribute)
    raise AttributeError(f"module 'keras_lzu' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
