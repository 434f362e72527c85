"""The `antialias` option of `wrap()`: which side of LZU averages.

A wrapped model resamples twice: the zoom (images into the zoomed layout)
and the unzoom (every feature level back into the uniform layout). Each
either point-samples (one bilinear tap per output pixel) or averages over
each output pixel's footprint (`keras_lzu.ops.zoom(..., antialias=True)`):
an area average where the map compresses, the same bilinear sample where
it magnifies. `antialias` chooses per side:

- `False`: both point-sample (the paper's model);
- `True`: both average;
- `"zoom"`: only the zoom averages (where the warp shrinks the image);
- `"unzoom"`: only the unzoom averages (where the zoom had magnified, so
  the heads see features pooled instead of point-sampled).

`set_antialias` switches a wrapped model, trained or not, to another
choice; the weights do not depend on it.
"""

import numpy as np

from keras_lzu.layers import UnzoomLayer
from keras_lzu.layers import ZoomLayer

# What `wrap()` uses when `antialias` is not given (`None`).
DEFAULT_ANTIALIAS = False
CHOICES = (False, True, "zoom", "unzoom")
# Models saved before the option existed point-sampled on both sides.
SAVED_WITHOUT_OPTION = False
ZOOM_LAYER_NAME = "lzu_zoom"
# The choices by the names of the `lzu` commands' `--antialias` flag.
FLAG_CHOICES = {"off": False, "on": True, "zoom": "zoom", "unzoom": "unzoom"}
UNZOOM_LAYER_PREFIX = "lzu_unzoom_"


def check_antialias(antialias):
    """The `antialias` choice, checked; `None` becomes `DEFAULT_ANTIALIAS`.

    Args:
        antialias: `False`, `True`, `"zoom"`, `"unzoom"` or `None`.

    Returns:
        `False`, `True`, `"zoom"` or `"unzoom"`.

    Raises:
        ValueError: naming `antialias` and the choices.

    Example:

    >>> from keras_lzu.models.antialiasing import check_antialias
    >>> check_antialias("unzoom"), check_antialias(np.bool_(True))
    ('unzoom', True)
    """
    if antialias is None:
        return DEFAULT_ANTIALIAS
    if isinstance(antialias, (bool, np.bool_)):
        return bool(antialias)
    if isinstance(antialias, str) and antialias in ("zoom", "unzoom"):
        return antialias
    raise ValueError(
        "`antialias` must be False (point-sample), True (average over "
        'footprints in the zoom and the unzoom), "zoom" or "unzoom" (that '
        f"side only). Received: antialias={antialias!r}"
    )


def flag_name(antialias):
    """The `--antialias` flag value of a checked choice (`"off"`, `"on"`,
    `"zoom"` or `"unzoom"`)."""
    return {value: name for name, value in FLAG_CHOICES.items()}[antialias]


def zoom_averages(antialias):
    """Whether the zoom averages for a checked `antialias` choice."""
    return antialias in (True, "zoom")


def unzoom_averages(antialias):
    """Whether the unzooms average for a checked `antialias` choice."""
    return antialias in (True, "unzoom")


def set_antialias(model, antialias):
    """Switches the resampling of a wrapped model, keeping its weights.

    Sets the `antialias` of the model's zoom and of each of its unzooms,
    and the model's own `antialias` (its config, hence what `save` and
    `keras_lzu.export` write, and `lzu_metadata`). The model's compiled
    `fit` / `evaluate` / `predict` functions are dropped so that the next
    call traces the new resampling. An exported SavedModel keeps the
    choice it was exported with.

    Args:
        model: a model returned by `keras_lzu.wrap()` (or loaded from one).
        antialias: `False`, `True`, `"zoom"`, `"unzoom"` (see the module
            docstring) or `None` for `DEFAULT_ANTIALIAS`.

    Returns:
        `model`, switched.

    Raises:
        ValueError: for a bad `antialias`, or a model without LZU's zoom.

    Example:

    ```python
    model = keras_lzu.load_model("trained.keras")
    keras_lzu.set_antialias(model, "unzoom")  # features pooled, same weights
    pooled = model.predict(images)
    ```
    """
    antialias = check_antialias(antialias)
    zooms, unzooms = resampling_layers(model)
    if not zooms:
        raise ValueError(
            "set_antialias() needs a model returned by keras_lzu.wrap() "
            f"(with a layer {ZOOM_LAYER_NAME!r}). Received: "
            f"{type(model).__name__} {getattr(model, 'name', '')!r}"
        )
    for layer in zooms:
        layer.antialias = zoom_averages(antialias)
    for layer in unzooms:
        layer.antialias = unzoom_averages(antialias)
    model.antialias = antialias
    for name in ("train_function", "test_function", "predict_function"):
        if hasattr(model, name):
            setattr(model, name, None)
    return model


def resampling_layers(model):
    """`(zooms, unzooms)`: the `ZoomLayer` and `UnzoomLayer`s `wrap()`
    added to `model` (found by their names among its layers)."""
    layers = getattr(model, "layers", [])
    zooms = [
        layer for layer in layers
        if isinstance(layer, ZoomLayer) and layer.name == ZOOM_LAYER_NAME
    ]
    unzooms = [
        layer for layer in layers
        if isinstance(layer, UnzoomLayer)
        and layer.name.startswith(UNZOOM_LAYER_PREFIX)
    ]
    return zooms, unzooms
