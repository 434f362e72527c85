"""Saving and loading the models the package builds.

A `.keras` file holds a model's config and weights; loading calls
`from_config` and then loads the weights into the rebuilt model. That only
works when the config rebuilds the model it came from: a sub-layer that a
`get_config` leaves out (KerasCV's `RetinaNet` omits its `feature_pyramid`)
is rebuilt with its defaults and the weights no longer fit. So:

- `check_config_rebuilds(model, config)`, called by the `get_config` of the
  package's models, rebuilds the model from `config` and refuses (with what
  differs and how to fix it) when the result is not the same model;
- `AtomicSaveMixin.save` writes the file atomically, so a refused save
  leaves no file behind and never destroys an earlier one;
- `load_model(filepath)` makes the package's classes that are defined on
  first use (adapters of optional libraries, the demo's layers) known to
  Keras before loading.
"""

import importlib
import json
import os
import random
import tempfile
import weakref
import zipfile

import keras

_SETTING_TYPES = (bool, int, float, str, type(None))
# Public layer attributes that record state rather than construction
# settings: they may differ between a used model and its rebuilt copy
# (`output_names` are the names Keras numbers per process of the output
# layers, such as the Sequential fusion head of KerasHub's SegFormer;
# `training` is the train/eval mode of a `torch.nn.Module`, which every
# layer is on the PyTorch backend and which `fit` and `predict` switch).
_STATE_ATTRIBUTES = (
    "name", "built", "stop_training", "output_names", "training"
)
_HOW_TO_FIX = (
    "Every sub-layer given to the model must be rebuilt from the model's "
    "config: give custom layers a `get_config()` that returns all their "
    "constructor arguments and register their classes with "
    "`@keras.saving.register_keras_serializable()`."
)
# The config (as JSON) each model last passed the check with: saving again
# with the same config (a checkpoint every epoch) does not rebuild again.
_CHECKED_CONFIGS = weakref.WeakKeyDictionary()


def check_config_rebuilds(model, config):
    """Raises unless `type(model).from_config(config)` rebuilds `model`.

    The rebuilt model must have the same sub-layers as `model`: the same
    classes, weight shapes and construction settings (every public
    attribute that is a number, string, bool or `None`, or a list of them).
    The rebuild draws no random numbers that later code would see, and is
    skipped when `model` already passed with the same config.

    Args:
        model: a Keras model whose class has `from_config`.
        config: the config `model.get_config()` is about to return.

    Raises:
        ValueError: naming the model, the first sub-layer that the config
            does not rebuild (or the error rebuilding raised) and the fix.
    """
    config_text = _config_text(config)
    if config_text is not None and _CHECKED_CONFIGS.get(model) == config_text:
        return
    state = random.getstate()
    try:
        rebuilt = type(model).from_config(_copy_config(config))
    except Exception as error:
        raise ValueError(
            f"Cannot save {model.name!r} ({type(model).__name__}): its "
            f"config does not rebuild it. Rebuilding failed with "
            f"{type(error).__name__}: {error}\n{_HOW_TO_FIX}"
        ) from error
    finally:
        random.setstate(state)
    rebuilt_rows = {_signature(layer) for layer in _sublayers(rebuilt)}
    for layer in _sublayers(model):
        if _signature(layer) not in rebuilt_rows:
            difference = _closest_difference(layer, rebuilt)
            raise ValueError(
                f"Cannot save {model.name!r} ({type(model).__name__}): its "
                f"config does not rebuild its sub-layer {layer.name!r} "
                f"({type(layer).__name__}): {difference} {_HOW_TO_FIX}"
            )
    if config_text is not None:
        _CHECKED_CONFIGS[model] = config_text


class AtomicSaveMixin:
    """`Model.save` that writes a local `.keras` file atomically.

    The model is saved to a temporary file in the target's directory, which
    is renamed onto the target only once complete: a save that fails (for
    example because `check_config_rebuilds` refuses the config) leaves no
    partial file and keeps an earlier file of the same name intact. Mixed
    in before the Keras model class.
    """

    def save(self, filepath, overwrite=True, **kwargs):
        if not isinstance(filepath, (str, os.PathLike)):
            return super().save(filepath, overwrite=overwrite, **kwargs)
        path = os.fspath(filepath)
        local_file = path.endswith(".keras") and "://" not in path
        if not local_file or (not overwrite and os.path.exists(path)):
            return super().save(filepath, overwrite=overwrite, **kwargs)
        handle, temporary = tempfile.mkstemp(
            suffix=".keras", prefix=".tmp-", dir=os.path.dirname(path) or "."
        )
        os.close(handle)
        try:
            super().save(temporary, overwrite=True, **kwargs)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


def load_model(filepath, **kwargs):
    """`keras.saving.load_model` for the models the package builds.

    Some of the package's classes are defined on first use: the wrappers of
    KerasHub models (so that `import keras_lzu` does not import KerasHub)
    and the demo's KerasCV layers. This defines every such class that the
    file's config names, then loads.

    Args:
        filepath: path of a `.keras` file.
        **kwargs: passed on to `keras.saving.load_model`.

    Returns:
        The loaded model.
    """
    for module, class_name in _package_classes(filepath):
        getattr(importlib.import_module(module), class_name, None)
    return keras.saving.load_model(filepath, **kwargs)


def _package_classes(filepath):
    """`(module, class name)` of each class of this package in the config
    of the `.keras` file at `filepath` (none if it is not one)."""
    try:
        with zipfile.ZipFile(filepath) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return set()
    found = set()

    def visit(node):
        if isinstance(node, dict):
            module = node.get("module")
            if isinstance(module, str) and module.startswith("keras_lzu.") \
                    and isinstance(node.get("class_name"), str):
                found.add((module, node["class_name"]))
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    return found


def _config_text(config):
    """`config` as JSON, or `None` if it cannot be written as JSON."""
    try:
        return json.dumps(
            keras.saving.serialize_keras_object(config), sort_keys=True
        )
    except (TypeError, ValueError):
        return None


def _copy_config(config):
    """A copy of the dicts and lists of `config` (`from_config` methods
    replace entries in place); other values are shared."""
    if isinstance(config, dict):
        return {key: _copy_config(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_copy_config(value) for value in config]
    return config


def _sublayers(model):
    return model._flatten_layers(include_self=False, recursive=True)


def _signature(layer):
    """A hashable summary of what a layer was built with."""
    return (
        type(layer).__name__,
        tuple(tuple(weight.shape) for weight in layer.weights),
        tuple(sorted(_settings(layer).items())),
    )


def _settings(layer):
    return {
        key: _hashable(value)
        for key, value in vars(layer).items()
        if not key.startswith("_") and key not in _STATE_ATTRIBUTES
        and _is_setting(value)
    }


def _is_setting(value):
    if isinstance(value, (list, tuple)):
        return all(_is_setting(item) for item in value)
    return isinstance(value, _SETTING_TYPES)


def _hashable(value):
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    return value


def _closest_difference(layer, rebuilt):
    """Says how the rebuilt model's layer of the same name (or class)
    differs from `layer`."""
    candidates = [
        other for other in _sublayers(rebuilt) if other.name == layer.name
    ] or [
        other for other in _sublayers(rebuilt)
        if type(other).__name__ == type(layer).__name__
    ]
    if not candidates:
        return "the rebuilt model has no layer of its class."
    other = candidates[0]
    if type(other) is not type(layer):
        return f"it is rebuilt as a {type(other).__name__}."
    ours, theirs = _settings(layer), _settings(other)
    changed = sorted(
        key for key in set(ours) | set(theirs)
        if ours.get(key) != theirs.get(key)
    )
    if changed:
        return "it is rebuilt with " + ", ".join(
            f"{key}={theirs.get(key)!r} instead of {ours.get(key)!r}"
            for key in changed
        ) + "."
    shapes = [tuple(weight.shape) for weight in layer.weights]
    rebuilt_shapes = [tuple(weight.shape) for weight in other.weights]
    return (
        f"it is rebuilt with weights of shapes {rebuilt_shapes} instead of "
        f"{shapes}."
    )
