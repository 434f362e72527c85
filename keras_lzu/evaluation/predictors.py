"""A model to evaluate, as a function of uint8 images: a `.keras` file, an
exported SavedModel, or a model object with `infer`."""

import os
import re

import numpy as np

SERVING_SIGNATURE = "serving_default"
_VERSION_DIR = re.compile(r"^[0-9]+$")


def check_model_path(path):
    """Where the model at `path` is, checked before any work.

    Args:
        path: a `.keras` file, a SavedModel directory (with
            `saved_model.pb`), or a TF Serving base path whose numeric
            version directories hold SavedModels (the largest is used).

    Returns:
        `("keras", path)` or `("saved_model", directory)`.

    Raises:
        FileNotFoundError: nothing at `path`.
        ValueError: `path` is neither of the above.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"`--model` not found: {path!r}")
    if os.path.isfile(path):
        if path.endswith(".keras"):
            return "keras", path
        raise ValueError(f"`--model` {path!r} is a file but not a `.keras` "
                         "file.")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return "saved_model", path
    versions = sorted(
        (int(name) for name in os.listdir(path) if _VERSION_DIR.match(name)
         and os.path.isfile(os.path.join(path, name, "saved_model.pb"))))
    if versions:
        return "saved_model", os.path.join(path, str(versions[-1]))
    raise ValueError(
        f"`--model` {path!r} is a directory without `saved_model.pb`, in it "
        "or in a numeric version directory: not a SavedModel.")


def load_predictor(model):
    """A function `uint8 images (B, H, W, 3) -> dict of NumPy outputs`.

    Args:
        model: a path (see `check_model_path`), or an object with
            `infer(images)` taking float32 images (a model made by
            `keras_lzu.wrap`).

    Returns:
        A function returning the outputs of `infer` / the SavedModel's
        `serving_default`: detection `{"boxes" (B, N, 4) pixel xyxy in the
        input frame, "scores", "classes", "num_detections"}`, segmentation
        `{"masks" (B, H, W)}`.
    """
    if not isinstance(model, (str, os.PathLike)):
        return _infer_predictor(model, "`model`")
    kind, path = check_model_path(model)
    if kind == "keras":
        from keras_lzu.models import load_model

        return _infer_predictor(load_model(path), repr(path))
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    if SERVING_SIGNATURE not in loaded.signatures:
        raise ValueError(
            f"The SavedModel {path!r} has no {SERVING_SIGNATURE!r} signature "
            f"(it has {sorted(loaded.signatures)}).")
    signature = loaded.signatures[SERVING_SIGNATURE]

    def predict(images):
        outputs = signature(images=tf.constant(images, tf.uint8))
        return {key: value.numpy() for key, value in outputs.items()}

    predict.keep_alive = loaded
    return predict


def _infer_predictor(model, where):
    if not callable(getattr(model, "infer", None)):
        raise ValueError(
            f"The model {where} ({type(model).__name__}) has no `infer` "
            "method: evaluate a model made by `keras_lzu.wrap` or its "
            "SavedModel export.")

    def predict(images):
        outputs = model.infer(np.asarray(images, "float32"))
        return {key: np.asarray(value) for key, value in outputs.items()}

    return predict
