"""`keras_lzu.wrap`: dispatch a model to the adapter of its family.

Each adapter module exposes `matches(model) -> bool` and `WRAPPER_NAME`, the
name of its registered wrapper class, built as
`wrapper_class(model, output_size, saliency_layer, antialias=...)`; the
generic adapter also has `wrap(model, output_size, saliency_layer,
feature_layers, **options)`. Adapters are
imported only for models of their library, so wrapping a KerasHub model never
imports KerasCV and `import keras_lzu` imports neither (`load_model`, in
`keras_lzu.models.saving`, imports those a saved file needs).
"""

import importlib

import numpy as np

from keras_lzu.layers import SaliencyGrid
from keras_lzu.models import antialiasing
from keras_lzu.ops import validation

# (library, adapter module); the generic functional adapter is chosen
# explicitly with `feature_layers=`.
ADAPTERS = (
    ("keras_cv", "keras_lzu.models.keras_cv_retinanet"),
    ("keras_cv", "keras_lzu.models.keras_cv_deeplab"),
    ("keras_cv", "keras_lzu.models.keras_cv_yolov8"),
    ("keras_hub", "keras_lzu.models.keras_hub_retinanet"),
    ("keras_hub", "keras_lzu.models.keras_hub_deeplab"),
    ("keras_hub", "keras_lzu.models.keras_hub_segformer"),
    ("keras_hub", "keras_lzu.models.keras_hub_dfine"),
)
GENERIC_ADAPTER = "keras_lzu.models.generic"
SALIENCY_NAMES = ("fixed", "network", "boxes", "prior+boxes")

SUPPORTED = (
    "keras_cv.models.RetinaNet, keras_cv.models.DeepLabV3Plus, "
    "keras_cv.models.YOLOV8Detector, "
    "keras_hub.models.RetinaNetObjectDetector, "
    "keras_hub.models.DeepLabV3ImageSegmenter, "
    "keras_hub.models.SegFormerImageSegmenter, "
    "keras_hub.models.DFineObjectDetector"
)


def wrap(model, output_size, saliency="fixed", feature_layers=None,
         grid_shape=(31, 51), separable=True, prior=None, antialias=None,
         **options):
    """Returns `model` with LZU: zoom before the backbone, unzoom after it.

    Args:
        model: a KerasCV `RetinaNet`, `DeepLabV3Plus` or
            `YOLOV8Detector`, a KerasHub
            `RetinaNetObjectDetector`, `DeepLabV3ImageSegmenter`,
            `SegFormerImageSegmenter` or `DFineObjectDetector`, or any
            functional model with an image input when `feature_layers` is
            given.
        output_size: `(height, width)` of the zoomed image the backbone sees
            (the compute budget). It must suit the model's strides.
        saliency: `"fixed"` (a learnable dataset-wide saliency, uniform at
            first), a 2-D array (a prior such as
            `keras_lzu.saliency_prior_from_boxes` returns, used to initialise
            the fixed saliency), `"network"`, `"boxes"` (a KDE of prior
            boxes, e.g. the previous frame's detections, over a uniform
            floor), `"prior+boxes"` (the same KDE over the learnable fixed
            saliency initialised from `prior`: FOVEA's combined saliency,
            see `SaliencyGrid`), or a `SaliencyGrid` layer. With
            `"boxes"` and `"prior+boxes"` (detectors only) the wrapped
            model's inputs are `{"images": (B, H, W, 3), "prior_boxes":
            (B, N, 4)}`: pixel boxes of the images' frame in the detector's
            `bounding_box_format`, padded with rows of -1 (see
            `keras_lzu.models.prior_boxes`).
        feature_layers: names of layers of a functional model whose outputs
            (2-D feature maps) are unzoomed; selects the generic adapter.
        grid_shape: `(gh, gw)` control points of the grid.
        separable: bool, separable warp (fast) or general warp.
        prior: optional 2-D non-negative array, the initial fixed saliency
            of `saliency="fixed"` or `"prior+boxes"` (uniform when `None`).
        antialias: which resampling averages over each output pixel's
            footprint (the cell it covers, mapped through the warp) instead
            of taking one bilinear sample: `False` (neither), `True` (the
            zoom where the warp shrinks the image, and the unzooms where
            the zoom had magnified), `"zoom"` or `"unzoom"` (that side
            only). Where a map magnifies, averaging equals bilinear
            sampling. `None` (default) means
            `keras_lzu.models.DEFAULT_ANTIALIAS` (`False`). Saved with the
            model and used by its SavedModel export;
            `keras_lzu.set_antialias` switches it on a trained model.
        **options: adapter-specific options.

    Returns:
        A Keras model that trains, evaluates and predicts like `model`, with
        labels and predictions in the caller's image frame.

    Raises:
        TypeError: if the model belongs to no supported family.
        ValueError: for a bad `output_size`, `saliency` or `antialias`.
    """
    output_size = validation.size_pair(output_size, "output_size")
    antialias = antialiasing.check_antialias(antialias)
    saliency_layer = make_saliency_layer(
        saliency, grid_shape, separable, prior
    )
    if feature_layers is not None:
        adapter = importlib.import_module(GENERIC_ADAPTER)
        return adapter.wrap(
            model, output_size, saliency_layer,
            feature_layers=feature_layers, antialias=antialias, **options,
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
                    "options beyond output_size, saliency, grid_shape, "
                    "separable, prior and antialias. Received: "
                    f"{sorted(options)}"
                )
            wrapper_class = getattr(adapter, adapter.WRAPPER_NAME)
            return wrapper_class(
                model, output_size, saliency_layer, antialias=antialias
            )
    raise TypeError(
        f"keras_lzu.wrap() does not support {type(model).__name__}. "
        f"Supported families: {SUPPORTED}. For any other functional model "
        "with an image input, pass `feature_layers=[...]`, the names of the "
        "layers whose 2-D feature maps should be unzoomed."
    )


def make_saliency_layer(saliency, grid_shape=(31, 51), separable=True,
                        prior=None):
    """The `SaliencyGrid` that `wrap` uses for its `saliency` and `prior`
    arguments."""
    if isinstance(saliency, SaliencyGrid):
        if prior is not None:
            raise ValueError(
                "`prior` cannot be combined with a SaliencyGrid layer as "
                "`saliency`: give the layer its own `prior`."
            )
        return saliency
    if not isinstance(saliency, str):
        if prior is not None:
            raise ValueError(
                "Pass the prior either as `saliency` (a 2-D array) or as "
                "`prior`, not both."
            )
        saliency, prior = "fixed", np.asarray(saliency)
    if saliency not in SALIENCY_NAMES:
        raise ValueError(
            f"`saliency` must be one of {SALIENCY_NAMES}, a 2-D prior array "
            f"or a SaliencyGrid layer. Received: saliency={saliency!r}"
        )
    if prior is not None and saliency not in ("fixed", "prior+boxes"):
        raise ValueError(
            "`prior` initialises the saliency of saliency='fixed' or "
            f"'prior+boxes'; saliency={saliency!r} has none."
        )
    return SaliencyGrid(
        mode=saliency, grid_shape=grid_shape, separable=separable,
        prior=prior, name="saliency_grid",
    )
