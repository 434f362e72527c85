"""SavedModel export for TensorFlow Serving.

`export()` writes a model made by `keras_lzu.wrap()` (anything with an
`infer(images)` method and an `lzu_metadata` dict) in TF Serving's layout,
`export_dir/<version>/saved_model.pb` + `variables/` + `assets/`, with three
signatures (four for a detector wrapped with box saliency):

- `serving_default`: `images` uint8 `[batch, height, width, 3]` -> the
  outputs of `model.infer` (detection: `boxes` float32 `[batch, N, 4]` pixel
  xyxy in the input frame, `scores` float32 `[batch, N]`, `classes` int32
  `[batch, N]`, `num_detections` int32 `[batch]`; segmentation: `masks`
  int32 `[batch, height, width]`).
- `predict_encoded`: `image_bytes` string `[batch]` of JPEG or PNG files ->
  the same outputs, each in its own decoded image's frame. Images may have
  different sizes: they are decoded and run one at a time. Detection outputs
  are zero-padded to the largest `N` of the batch; segmentation masks of
  different sizes cannot be stacked, so a segmentation request whose images
  differ in size fails with `INVALID_ARGUMENT` (send one image per request).
- `serving_with_boxes` (only for a model whose `takes_prior_boxes` is true:
  `keras_lzu.wrap(detector, ..., saliency="boxes" | "prior+boxes")`):
  `images` uint8 `[batch, height, width, 3]` and `prior_boxes` float32
  `[batch, N, 4]` (N >= 1), pixel xyxy boxes in the images' frame (e.g. the
  `boxes` of the previous frame's response), padded with rows of -1 -> the
  outputs of `serving_default`. `serving_default` and `predict_encoded` of
  such a model use padding only: the fixed prior's (or the uniform) grid.
- `metadata`: no input -> `task`, `bounding_box_format`, `keras_lzu_version`,
  `lzu_metadata_json` (strings), `output_size` int32 `[2]` and `num_classes`
  int32 scalar (`-1` where unknown). The same dict is written to
  `assets/lzu_metadata.json`.

The SavedModel needs only TensorFlow to load and run (`tf.saved_model.load`,
`tensorflow_model_server`, `saved_model_cli`). A fixed saliency's grid and
its inverse are computed once, at export, and stored as constants of the
graph (`keras_lzu.layers.constant_grids`): requests do not recompute them. With `jit_compile_lzu=True`
its LZU part runs as XLA clusters (`keras_lzu.layers.xla_clusters`), which
`tensorflow_model_server` runs only with `--xla_cpu_compilation_enabled=true`.
"""

import contextlib
import json
import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from keras_lzu.layers import constant_grids
from keras_lzu.layers import xla_clusters
from keras_lzu.ops import validation

SERVING_DEFAULT = "serving_default"
SERVING_WITH_BOXES = "serving_with_boxes"
PREDICT_ENCODED = "predict_encoded"
METADATA = "metadata"
METADATA_ASSET = "lzu_metadata.json"
DEFAULT_MAX_IMAGE_SIZE = (8192, 8192)

_OUTPUT_DTYPES = {
    "boxes": tf.float32,
    "scores": tf.float32,
    "classes": tf.int32,
    "num_detections": tf.int32,
    "masks": tf.int32,
}
_DETECTION_KEYS = ("boxes", "scores", "classes", "num_detections")
_VERSION_DIR = re.compile(r"^[0-9]+$")


def export(model, export_dir, version=None,
           max_image_size=DEFAULT_MAX_IMAGE_SIZE, jit_compile_lzu=False):
    """Exports `model` as a versioned SavedModel for TensorFlow Serving.

    The version is written to a temporary directory inside `export_dir`
    (whose name TF Serving ignores) and renamed into place, so a server
    watching `export_dir` never sees a half-written version.

    Args:
        model: a model returned by `keras_lzu.wrap()`, or any object with an
            `infer(images)` method (float32 `(B, H, W, 3)` images of any size,
            values 0..255, returning a dict of tensors) and an `lzu_metadata`
            dict (`"task"`, `"output_size"`, `"num_classes"`,
            `"bounding_box_format"`).
        export_dir: the model's base path (TF Serving's `--model_base_path`);
            created if missing.
        version: positive integer version number. `None` means one more than
            the largest version already in `export_dir` (1 if none).
        max_image_size: `(max_height, max_width)`. Larger images are rejected
            by the signatures with `INVALID_ARGUMENT` before the model runs.
        jit_compile_lzu: bool, default `False`. `True` compiles the LZU part
            of the graph (the zoom, every unzoom, and a grid computed per
            image and its inversion) with XLA inside the SavedModel, as XLA clusters called from the
            plain graph that runs the rest (backbone, heads, NMS): on CPU
            the zoom and unzoom run several times faster. TensorFlow's own
            loaders (`tf.saved_model.load`, `saved_model_cli`, `lzu serve`)
            run such a model as they are; `tensorflow_model_server` needs
            `--xla_cpu_compilation_enabled=true` (serving/README.md). Each
            new image size and batch size compiles the zoom once, on its
            first request.

    Returns:
        The path of the written version directory, `export_dir/<version>`.

    Raises:
        RuntimeError: if Keras runs on another backend than TensorFlow
            (a SavedModel holds TensorFlow graphs; the JAX and PyTorch
            backends train and predict, but do not export).
        ValueError: if `version` is not a positive integer, if
            `max_image_size` is not two positive integers, if
            `jit_compile_lzu` is not a bool or is `True` for a model without
            LZU layers, or if `model` lacks `infer` / `lzu_metadata` or has
            an unknown task.
        FileExistsError: if `export_dir/<version>` already exists.

    Example:

    ```python
    model = keras_lzu.wrap(retinanet, output_size=(512, 512))
    path = keras_lzu.export(model, "/models/lzu")  # -> /models/lzu/1
    # tensorflow_model_server --model_name=lzu --model_base_path=/models/lzu
    ```
    """
    check_tensorflow_backend()
    if not isinstance(jit_compile_lzu, bool):
        raise ValueError(
            "`jit_compile_lzu` must be True or False, got "
            f"{jit_compile_lzu!r}."
        )
    metadata = _model_metadata(model)
    metadata["jit_compile_lzu"] = jit_compile_lzu
    max_image_size = validation.size_pair(max_image_size, "max_image_size")
    export_dir = os.path.abspath(os.fspath(export_dir))
    os.makedirs(export_dir, exist_ok=True)
    if version is None:
        version = next_version(export_dir)
    elif isinstance(version, bool) or not isinstance(version, int) or (
        version < 1
    ):
        raise ValueError(
            f"`version` must be a positive integer or None, got {version!r}."
        )
    target = os.path.join(export_dir, str(version))
    if os.path.exists(target):
        raise FileExistsError(
            f"Version {version} already exists at {target}; exported "
            "versions are never overwritten. Pass another `version` or "
            "`version=None` for the next free number."
        )
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_dir)
    saved_dir = os.path.join(staging, "model")
    try:
        with tempfile.TemporaryDirectory() as asset_dir:
            _save(model, metadata, max_image_size, asset_dir, saved_dir,
                  jit_compile_lzu)
        try:
            os.rename(saved_dir, target)
        except OSError as error:
            if os.path.exists(target):
                raise FileExistsError(
                    f"Version {version} appeared at {target} while exporting;"
                    " it was not overwritten."
                ) from error
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _save(model, metadata, max_image_size, asset_dir, saved_dir,
          jit_compile_lzu):
    """Writes the SavedModel of `model` to `saved_dir`."""
    asset_path = os.path.join(asset_dir, METADATA_ASSET)
    with open(asset_path, "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
    # The signatures are traced by `tf.saved_model.save`, so inside the
    # context that compiles the LZU layers.
    scope = (xla_clusters.compiled_lzu_layers() if jit_compile_lzu
             else contextlib.nullcontext([]))
    with scope as compiled, constant_grids.constant_fixed_grids():
        module = _ServingModule(model, metadata, max_image_size, asset_path)
        signatures = {
            SERVING_DEFAULT: module.serve_images,
            PREDICT_ENCODED: module.serve_encoded,
            METADATA: module.serve_metadata,
        }
        if module.serve_with_boxes is not None:
            signatures[SERVING_WITH_BOXES] = module.serve_with_boxes
        tf.saved_model.save(module, saved_dir, signatures=signatures)
    if jit_compile_lzu and not compiled:
        raise ValueError(
            "`jit_compile_lzu=True` found no LZU layer (ZoomLayer, "
            "UnzoomLayer, InvertGrid, SaliencyGrid) in the model's graph to "
            f"compile; export {type(model).__name__} without it."
        )


def check_tensorflow_backend():
    """Raises a `RuntimeError` naming the backend unless Keras runs on
    TensorFlow: only its models trace into a SavedModel's graphs."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            "keras_lzu.export() writes a TensorFlow SavedModel, which needs "
            "Keras's TensorFlow backend; Keras runs on the "
            f"{backend!r} backend. Train on any backend, save the model "
            "(`model.save('model.keras')`) and export it in a process with "
            "KERAS_BACKEND=tensorflow (`lzu export --model model.keras`)."
        )


def next_version(export_dir):
    """Returns one more than the largest numeric version in `export_dir`.

    Args:
        export_dir: a model base path (missing means empty).

    Returns:
        An int >= 1.
    """
    return max(existing_versions(export_dir), default=0) + 1


def existing_versions(export_dir):
    """Returns the sorted version numbers (numeric subdirectories) found."""
    if not os.path.isdir(export_dir):
        return []
    return sorted(
        int(name) for name in os.listdir(export_dir)
        if _VERSION_DIR.match(name)
        and os.path.isdir(os.path.join(export_dir, name))
    )


def _model_metadata(model):
    if not callable(getattr(model, "infer", None)):
        raise ValueError(
            "`model` must have an `infer(images)` method (models returned by "
            f"keras_lzu.wrap() do); got {type(model).__name__}."
        )
    raw = getattr(model, "lzu_metadata", None)
    if not isinstance(raw, dict):
        raise ValueError(
            "`model.lzu_metadata` must be a dict with 'task', 'output_size', "
            f"'num_classes' and 'bounding_box_format'; got {raw!r}."
        )
    task = raw.get("task")
    if task not in ("detection", "segmentation"):
        raise ValueError(
            "`model.lzu_metadata['task']` must be 'detection' or "
            f"'segmentation', got {task!r}."
        )
    metadata = json.loads(json.dumps(raw))
    metadata["keras_lzu_version"] = _package_version()
    return metadata


def _package_version():
    try:
        from importlib import metadata as importlib_metadata

        return importlib_metadata.version("keras-lzu")
    except Exception:  # Not installed (running from a source tree).
        return "unknown"


class _ServingModule(tf.Module):
    """Holds the model's variables and the signature functions."""

    def __init__(self, model, metadata, max_image_size, asset_path):
        super().__init__(name="lzu_serving")
        # A bound method, which tf.Module does not track: tracking the Keras
        # model would make the SavedModel traverse its nested models and
        # trace each one's default signature on images of unknown size,
        # which fails for models that only run at a static size (the
        # backbone of a KerasHub DeepLabV3).
        self._model_infer = model.infer
        self._task = metadata["task"]
        self._max_height, self._max_width = max_image_size
        # Track the variables themselves rather than the Keras object, so the
        # SavedModel holds plain TF objects that load without Keras.
        self.model_variables = [
            getattr(v, "value", v) for v in model.variables
        ]
        self.metadata_asset = tf.saved_model.Asset(asset_path)
        self._metadata_tensors = _metadata_constants(metadata)

        self.serve_images = tf.function(
            self._serve_images,
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")
            ],
        )
        self.serve_encoded = tf.function(
            self._serve_encoded,
            input_signature=[tf.TensorSpec([None], tf.string,
                                           name="image_bytes")],
        )
        self.serve_metadata = tf.function(self._serve_metadata,
                                          input_signature=[])
        self._takes_prior_boxes = bool(
            getattr(model, "takes_prior_boxes", False)
        )
        model_inputs = [tf.TensorSpec([None, None, None, 3], tf.float32)]
        if self._takes_prior_boxes:
            model_inputs.append(tf.TensorSpec([None, None, 4], tf.float32))
        # Traced once and called by every signature, so the SavedModel holds
        # one copy of the model's graph (tracing it is most of the export).
        self._run_model = tf.function(
            self._model_outputs, input_signature=model_inputs
        )
        self.serve_with_boxes = None
        if self._takes_prior_boxes:
            self.serve_with_boxes = tf.function(
                self._serve_with_boxes,
                input_signature=[
                    tf.TensorSpec([None, None, None, 3], tf.uint8,
                                  name="images"),
                    tf.TensorSpec([None, None, 4], tf.float32,
                                  name="prior_boxes"),
                ],
            )

    def _serve_images(self, images):
        with tf.control_dependencies([tf.debugging.assert_greater(
            tf.shape(images)[0], 0,
            message="images must hold at least one image",
        )]):
            images = self._check_size(images)
        return self._infer(tf.cast(images, tf.float32))

    def _serve_with_boxes(self, images, prior_boxes):
        checks = [
            tf.debugging.assert_greater(
                tf.shape(images)[0], 0,
                message="images must hold at least one image",
            ),
            tf.debugging.assert_equal(
                tf.shape(prior_boxes)[0], tf.shape(images)[0],
                message="prior_boxes must hold one row of boxes per image "
                "(batch sizes differ)",
            ),
            tf.debugging.assert_greater(
                tf.shape(prior_boxes)[1], 0,
                message="prior_boxes needs at least one row per image (a "
                "row of -1 when there is no box)",
            ),
        ]
        with tf.control_dependencies(checks):
            images = self._check_size(images)
        return self._infer(tf.cast(images, tf.float32), prior_boxes)

    def _serve_encoded(self, image_bytes):
        count = tf.shape(image_bytes)[0]
        with tf.control_dependencies([tf.debugging.assert_greater(
            count, 0, message="image_bytes must hold at least one image",
        )]):
            count = tf.identity(count)
        keys = _DETECTION_KEYS if self._task == "detection" else ("masks",)
        arrays = {
            key: tf.TensorArray(
                _OUTPUT_DTYPES[key], size=count, infer_shape=False,
                element_shape=None,
            )
            for key in keys
        }
        # Per image: the number of detections, or the mask's (height, width).
        sizes = tf.TensorArray(
            tf.int32, size=count,
            element_shape=[] if self._task == "detection" else [2],
        )

        def body(i, arrays, sizes):
            image = tf.io.decode_image(
                image_bytes[i], channels=3, expand_animations=False
            )
            image = self._check_size(image[None])
            outputs = self._infer(tf.cast(image, tf.float32))
            arrays = {key: arrays[key].write(i, outputs[key][0])
                      for key in keys}
            if self._task == "detection":
                size = tf.shape(outputs["scores"])[1]
            else:
                size = tf.shape(outputs["masks"])[1:3]
            sizes = sizes.write(i, size)
            return i + 1, arrays, sizes

        _, arrays, sizes = tf.while_loop(
            lambda i, *_: i < count, body, (tf.constant(0), arrays, sizes),
        )
        if self._task == "detection":
            return self._stack_detections(arrays, sizes, count)
        return {"masks": self._stack_masks(arrays["masks"], sizes.stack(),
                                           count)}

    def _serve_metadata(self):
        return {key: tf.identity(value)
                for key, value in self._metadata_tensors.items()}

    def _infer(self, images, prior_boxes=None):
        if not self._takes_prior_boxes:
            return self._run_model(images)
        if prior_boxes is None:
            # Padding only: the fixed prior's (or the uniform) grid.
            prior_boxes = tf.fill([tf.shape(images)[0], 1, 4], -1.0)
        return self._run_model(images, prior_boxes)

    def _model_outputs(self, images, prior_boxes=None):
        if prior_boxes is None:
            outputs = self._model_infer(images)
        else:
            outputs = self._model_infer(images, prior_boxes)
        if not isinstance(outputs, dict):
            raise TypeError(
                "model.infer() must return a dict of tensors, got "
                f"{type(outputs).__name__}."
            )
        required = _DETECTION_KEYS if self._task == "detection" else (
            "masks",)
        missing = [key for key in required if key not in outputs]
        if missing:
            raise ValueError(
                f"model.infer() of a {self._task} model must return "
                f"{list(required)}; missing {missing}."
            )
        return {
            key: tf.cast(value, _OUTPUT_DTYPES[key])
            if key in _OUTPUT_DTYPES else tf.convert_to_tensor(value)
            for key, value in outputs.items()
        }

    def _check_size(self, images):
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        checks = [
            tf.debugging.assert_greater(
                tf.minimum(height, width), 0,
                message="images must have non-zero height and width",
            ),
            tf.debugging.assert_less_equal(
                height, self._max_height,
                message=f"image height exceeds max_image_size "
                f"{self._max_height}",
            ),
            tf.debugging.assert_less_equal(
                width, self._max_width,
                message=f"image width exceeds max_image_size "
                f"{self._max_width}",
            ),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(images)

    @staticmethod
    def _stack_detections(arrays, sizes, count):
        # Images may yield different numbers of detections: concatenate
        # them, then zero-pad to the largest count through a ragged tensor.
        row_lengths = sizes.stack()
        outputs = {}
        for key in ("boxes", "scores", "classes"):
            ragged = tf.RaggedTensor.from_row_lengths(
                arrays[key].concat(), row_lengths
            )
            inner = [4] if key == "boxes" else []
            outputs[key] = tf.reshape(ragged.to_tensor(), [count, -1] + inner)
        outputs["num_detections"] = tf.reshape(
            arrays["num_detections"].stack(), [count]
        )
        return outputs

    @staticmethod
    def _stack_masks(masks, sizes, count):
        check = tf.debugging.Assert(
            tf.reduce_all(tf.equal(sizes, sizes[:1])),
            ["predict_encoded: the images of one request must have the same "
             "size for a segmentation model (masks of different sizes cannot "
             "be stacked); send one image per request. Sizes:", sizes],
        )
        with tf.control_dependencies([check]):
            return tf.reshape(masks.concat(),
                              [count, sizes[0, 0], sizes[0, 1]])


def _metadata_constants(metadata):
    output_size = metadata.get("output_size")
    num_classes = metadata.get("num_classes")
    return {
        "task": tf.constant(metadata["task"]),
        "bounding_box_format": tf.constant(
            str(metadata.get("bounding_box_format") or "")
        ),
        "keras_lzu_version": tf.constant(metadata["keras_lzu_version"]),
        "lzu_metadata_json": tf.constant(
            json.dumps(metadata, sort_keys=True)
        ),
        "output_size": tf.constant(
            [int(v) for v in output_size] if output_size else [-1, -1],
            tf.int32,
        ),
        "num_classes": tf.constant(
            -1 if num_classes is None else int(num_classes), tf.int32
        ),
    }
