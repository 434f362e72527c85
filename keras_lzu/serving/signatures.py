"""Readable summaries of `SignatureDef`s and image inputs, for the clients."""

import numpy as np
from tensorflow.core.framework import types_pb2


def summarize_signatures(signature_map):
    """Turns a `SignatureDefMap` into plain dicts.

    Args:
        signature_map: a `tensorflow_serving.apis.SignatureDefMap`.

    Returns:
        `{signature name: {"inputs": {name: {"dtype": "uint8",
        "shape": [-1, -1, -1, 3]}}, "outputs": {...}, "method_name": str}}`
        (`shape` is None for unknown rank).
    """
    return {
        name: {
            "inputs": _tensors(signature.inputs),
            "outputs": _tensors(signature.outputs),
            "method_name": signature.method_name,
        }
        for name, signature in signature_map.signature_def.items()
    }


def _tensors(tensor_infos):
    summary = {}
    for key, info in tensor_infos.items():
        shape = None if info.tensor_shape.unknown_rank else [
            dim.size for dim in info.tensor_shape.dim
        ]
        summary[key] = {"dtype": _dtype(info.dtype), "shape": shape}
    return summary


def _dtype(dtype_enum):
    if dtype_enum == types_pb2.DT_STRING:
        return "string"
    import tensorflow as tf

    return tf.dtypes.as_dtype(dtype_enum).name


def image_batch(images, argument="images"):
    """Returns `(batch, single)`: a uint8 `(B, H, W, 3)` array, and whether
    a single `(H, W, 3)` image was given.

    Args:
        images: a uint8 array `(H, W, 3)` or `(B, H, W, 3)`, or a list of
            same-size `(H, W, 3)` uint8 arrays.
        argument: the argument's name, for error messages.

    Raises:
        ValueError: for the wrong dtype or shape, or a list of images of
            different sizes.
    """
    if isinstance(images, (list, tuple)):
        arrays = [np.asarray(image) for image in images]
        shapes = {array.shape for array in arrays}
        if len(shapes) > 1:
            raise ValueError(
                f"`{argument}` holds images of different sizes {sorted(shapes)}"
                "; send them in separate calls or use predict_encoded()."
            )
        if not arrays:
            raise ValueError(f"`{argument}` is empty.")
        images = np.stack(arrays)
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(
            f"`{argument}` must be uint8 (0..255 pixels), got {images.dtype}."
            " Convert with np.clip(x, 0, 255).astype(np.uint8)."
        )
    single = images.ndim == 3
    if single:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"`{argument}` must have shape (H, W, 3) or (B, H, W, 3), got "
            f"{images.shape}."
        )
    return images, single


def encoded_batch(image_bytes, argument="image_bytes"):
    """Returns `(object array of bytes, single)` for encoded images."""
    single = isinstance(image_bytes, (bytes, bytearray))
    items = [image_bytes] if single else list(image_bytes)
    if not items or not all(isinstance(item, (bytes, bytearray))
                            for item in items):
        raise ValueError(
            f"`{argument}` must be bytes or a non-empty list of bytes (JPEG "
            "or PNG files)."
        )
    array = np.empty(len(items), dtype=object)
    array[:] = [bytes(item) for item in items]
    return array, single


def unbatch(outputs, single):
    """Drops the batch axis of every output when one image was sent."""
    if not single:
        return outputs
    return {name: value[0] if np.ndim(value) > 0 else value
            for name, value in outputs.items()}
