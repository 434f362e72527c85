"""`keras_lzu.wrap`: dispatch a model to the adapter of its family.

Each adapter module exposes `matches(model) -> bool` and `WRAPPER_NAME`, the
name of its registered wrapper class, built as
`wrapper_class(model, output_size, saliency_layer)`; the generic adapter also
has `wrap(model, output_size, saliency_layer, feature_layers, **options)`. Adapters are
imported only for models of their library, so wrapping a KerasHub model never
imports KerasCV and `import keras_lzu` imports neither (`load_model`, in
`keras_lzu.models.saving`, imports those a saved file needs).
"""

import importlib

import numpy as np

from keras_lzu.layers import SaliencyGrid
from keras_lzu.ops import validation

# (library, adapter module); the generic functional adapter is chosen
# explicitly with `feature_layers=`.
ADAPTERS = (
    ("keras_cv", "keras_lzu.models.keras_cv_retinanet"),
    ("keras_cv", "keras_lzu.models.keras_cv_deeplab"),
    ("keras_hub", "keras_lzu.models.keras_hub_retinanet"),
    ("keras_hub", "keras_lzu.models.keras_hub_deeplab"),
    ("keras_hub", "keras_lzu.models.keras_hub_segformer"),
)
GENERIC_ADAPTER = "keras_lzu.models.generic"

SUPPORTED = (
    "keras_cv.models.RetinaNet, keras_cv.models.DeepLabV3Plus, "
    "keras_hub.models.RetinaNetObjectDetector, "
    "keras_hub.models.DeepLabV3ImageSegmenter, "
    "keras_hub.models.SegFormerImageSegmenter"
)


def wrap(model, output_size, saliency="fixed", feature_layers=None,
         grid_shape=(31, 51), separable=True, **options):
    """Returns `model` with LZU: zoom before the backbone, unzoom after it.

    Args:
        model: a KerasCV `RetinaNet` or `DeepLabV3Plus`, a KerasHub
            `RetinaNetObjectDetector`, `DeepLabV3ImageSegmenter` or
            `SegFormerImageSegmenter`, or any
            functional model with an image input when `feature_layers` is
            given.
        output_size: `(height, width)` of the zoomed image the backbone sees
            (the compute budget). It must suit the model's strides.
        saliency: `"fixed"` (a learnable dataset-wide saliency, uniform at
            first), a 2-D array (a prior such as
            `keras_lzu.saliency_prior_from_boxes` returns, used to initialise
            the fixed saliency), `"network"`, or a `SaliencyGrid` layer.
        feature_layers: names of layers of a functional model whose outputs
            (2-D feature maps) are unzoomed; selects the generic adapter.
        grid_shape: `(gh, gw)` control points of the grid.
        separable: bool, separable warp (fast) or general warp.
        **options: adapter-specific options.

    Returns:
        A Keras model that trains, evaluates and predicts like `model`, with
        labels and predictions in the caller's image frame.

    Raises:
        TypeError: if the model belongs to no supported family.
    """
    output_size = validation.size_pair(output_size, "output_size")
    saliency_layer = make_saliency_layer(saliency, grid_shape, separable)
    if feature_layers is not None:
        adapter = importlib.import_module(GENERIC_ADAPTER)
        return adapter.wrap(
            model, output_size, saliency_layer,
            feature_layers=feature_layers, **options,
        )
    libraries = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    for library, name in ADAPTERS:
        if library not in libraries:
            continue
        adapter = importlib.import_module(name)
        if adapter.matches(model):
            if options:
                raise TypeError(
                    f"keras_lzu.wrap() of a {type(model).__name__} takes no "
                    "options beyond output_size, saliency, grid_shape and "
                    f"separable. Received: {sorted(options)}"
                )
            wrapper_class = getattr(adapter, adapter.WRAPPER_NAME)
            return wrapper_class(model, output_size, saliency_layer)
    raise TypeError(
        f"keras_lzu.wrap() does not support {type(model).__name__}. "
        f"Supported families: {SUPPORTED}. For any other functional model "
        "with an image input, pass `feature_layers=[...]`, the names of the "
        "layers whose 2-D feature maps should be unzoomed."
    )


def make_saliency_layer(saliency, grid_shape=(31, 51), separable=True):
    """The `SaliencyGrid` that `wrap` uses for its `saliency` argument."""
    if isinstance(saliency, SaliencyGrid):
        return saliency
    if isinstance(saliency, str):
        if saliency not in ("fixed", "network"):
            raise ValueError(
                '`saliency` must be "fixed", "network", a 2-D prior array or '
                f"a SaliencyGrid layer. Received: saliency={saliency!r}"
            )
        return SaliencyGrid(
            mode=saliency, grid_shape=grid_shape, separable=separable,
            name="saliency_grid",
        )
    prior = np.asarray(saliency)
    return SaliencyGrid(
        mode="fixed", grid_shape=grid_shape, separable=separable,
        prior=prior, name="saliency_grid",
    )
