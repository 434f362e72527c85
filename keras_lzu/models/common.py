"""Pieces shared by the `wrap()` adapters.

Every adapter does the same five things, with the helpers of this module:

1. recognises the models of its family without importing their library
   (`matches_family`);
2. checks that the zoomed size suits the model's strides
   (`check_output_size`);
3. rebuilds the model's functional graph with a zoom before it and an unzoom
   after the chosen feature layers (`lzu_graph`, which uses `unzoom_all`;
   `dict_output_submodel` finds a backbone's feature pyramid);
4. maps labels and predictions between the caller's image frame and the
   uniform layout of `output_size` (`image_size`, `scale_boxes`,
   `ResizeToImage`; detectors compute their loss there with
   `WrappedDetectorMixin`);
5. gives the wrapped model the interface of `LZUModelMixin`: `infer(images)`
   for SavedModel export and the `lzu_metadata` dict.

The caller's frame is the pixel frame of the images given to the wrapped
model, of any size. The uniform layout is the frame of an image uniformly
resized to `output_size`: the frame the unchanged heads, anchors, label
encoders and losses of the model work in.
"""

import collections

import keras
from keras import ops

from keras_lzu import keras_internals
from keras_lzu import ops as lzu_ops
from keras_lzu import tensorflow_graph_checks
from keras_lzu.layers import InvertGrid
from keras_lzu.layers import SaliencyGrid
from keras_lzu.layers import UnzoomLayer
from keras_lzu.layers import ZoomLayer
from keras_lzu.layers.saliency_grid import BOX_MODES
from keras_lzu.models import antialiasing
from keras_lzu.models import prior_boxes as prior_boxes_lib
from keras_lzu.models import saving
from keras_lzu.ops import validation

TASKS = ("detection", "segmentation")

LZUGraph = collections.namedtuple(
    "LZUGraph", ["inputs", "outputs", "images", "grid", "inverse"]
)
LZUGraph.__doc__ = """The tensors of a model rebuilt by `lzu_graph`.

Attributes:
    inputs: the new model inputs, in the structure of the original ones.
    outputs: the new model outputs, in the structure of the original ones.
    images: the image input `(B, None, None, C)` (caller's frame).
    grid: the warp grid of the saliency layer.
    inverse: the `InvertGrid` output shared by every unzoom.
"""


def class_in_family(model, module_prefix, class_names):
    """True when a class of `model`'s MRO is one of `class_names` defined in
    a module under `module_prefix` (checked without importing the library)."""
    for cls in type(model).__mro__:
        if cls.__name__ in class_names and cls.__module__.startswith(
            module_prefix
        ):
            return True
    return False


def matches_family(model, module_prefix, class_names):
    """True for a model of one of `class_names` from the library
    `module_prefix` that `wrap` has not wrapped already: an adapter's
    `matches`."""
    return class_in_family(model, module_prefix, class_names) and not (
        isinstance(model, LZUModelMixin)
    )


def wrapper_class_getattr(module_name, wrapper_name, define_class):
    """The module `__getattr__` (PEP 562) of an adapter that defines its
    wrapper class on first use (`define_class()`, cached), so that importing
    the adapter does not import the model's library: `module.WRAPPER_NAME`
    is the class; any other missing name raises an `AttributeError`."""

    def __getattr__(name):
        if name == wrapper_name:
            return define_class()
        raise AttributeError(
            f"module {module_name!r} has no attribute {name!r}"
        )

    return __getattr__


def check_output_size(output_size, multiple, family, reason=None):
    """Checks that both sides of `output_size` are multiples of `multiple`.

    Args:
        output_size: `(height, width)` of the zoomed image.
        multiple: int, the largest feature stride the model needs to divide
            the image size (e.g. 32 for a feature pyramid up to level P5).
        family: str, the model's name, for the error message.
        reason: str, why the model needs the multiple, for the error
            message; by default, that its feature maps are merged across
            strides up to it.

    Returns:
        `output_size` as a tuple of two ints.

    Raises:
        ValueError: naming `output_size` and the required multiple.
    """
    output_size = validation.size_pair(output_size, "output_size")
    if reason is None:
        reason = f"its feature maps are merged across strides up to {multiple}"
    if any(side % multiple for side in output_size):
        nearest = tuple(
            max(multiple, multiple * round(side / multiple))
            for side in output_size
        )
        raise ValueError(
            f"`output_size` must be a multiple of {multiple} in both height "
            f"and width for {family} ({reason}). Received: output_size="
            f"{output_size}. The nearest valid size is {nearest}."
        )
    return output_size


def check_images(images, channels=None):
    """Raises a `ValueError` unless `images` is a `(B, H, W, C)` tensor with
    `channels` channels (when given and known)."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(
            "A model wrapped by keras_lzu.wrap() takes a batch of images "
            "of shape (batch, height, width, channels). Received: "
            f"images.shape={None if shape is None else tuple(shape)}"
        )
    if channels is not None and shape[-1] is not None and (
        shape[-1] != channels
    ):
        raise ValueError(
            f"The images must have {channels} channels, as the input of the "
            "model given to keras_lzu.wrap(). Received: images.shape="
            f"{tuple(shape)}"
        )


def check_box_saliency_inputs(inputs):
    """Raises a `ValueError` unless `inputs` is the dict `{"images",
    "prior_boxes"}` of a model wrapped with box saliency, with prior boxes
    of shape `(batch, num_boxes, 4)`, one row per image."""
    expected = {prior_boxes_lib.IMAGES, prior_boxes_lib.PRIOR_BOXES}
    if not isinstance(inputs, dict) or set(inputs) != expected:
        received = sorted(inputs) if isinstance(inputs, dict) else (
            type(inputs).__name__
        )
        raise ValueError(
            "A detector wrapped with saliency='boxes' or 'prior+boxes' takes "
            "a dict {'images': (batch, height, width, channels), "
            "'prior_boxes': (batch, num_boxes, 4)} (prior boxes padded with "
            f"rows of -1). Received: {received}"
        )
    prior_boxes = inputs[prior_boxes_lib.PRIOR_BOXES]
    prior_boxes_lib.check_prior_boxes_shape(prior_boxes)
    images_batch = getattr(inputs[prior_boxes_lib.IMAGES], "shape", [None])[0]
    boxes_batch = prior_boxes.shape[0]
    if None not in (images_batch, boxes_batch) and images_batch != boxes_batch:
        raise ValueError(
            "`prior_boxes` must hold one row of boxes per image. Received: "
            f"prior_boxes.shape={tuple(prior_boxes.shape)} for "
            f"{images_batch} images."
        )


def check_not_empty(x):
    """Raises a `ValueError` when `x` (arrays, or a `tf.data.Dataset` of
    known size) holds no images: Keras would fail with an unrelated error."""
    first = keras.tree.flatten(x)[0] if x is not None else None
    shape = getattr(first, "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] == 0:
        raise ValueError(
            "`x` holds no images: predict needs at least one. Received: "
            f"images.shape={tuple(shape)}"
        )
    cardinality = getattr(x, "cardinality", None)
    if callable(cardinality) and int(cardinality()) == 0:
        raise ValueError("`x` is an empty dataset: predict needs images.")


def check_detection_labels(y, classes_key, bounding_box_format, family):
    """Raises a `ValueError` unless `y` is a detector's labels, a dict with
    `"boxes"` and `classes_key` (`"classes"` for KerasCV, `"labels"` for
    KerasHub).

    Args:
        y: the labels given to `fit`/`evaluate`.
        classes_key: the key of the class ids.
        bounding_box_format: the detector's format, for the error message.
        family: the detector's class name, for the error message.
    """
    if not isinstance(y, dict) or not {"boxes", classes_key} <= set(y):
        raise ValueError(
            f"{family} labels must be a dict {{'boxes': (batch, num_boxes, "
            f"4) in bounding_box_format={bounding_box_format!r} of the "
            f"caller's image frame, '{classes_key}': (batch, num_boxes)}}. "
            f"Received: {sorted(y) if isinstance(y, dict) else y!r}"
        )


def check_class_ids(ids, num_classes, name, allowed=None):
    """Checks that the labels `ids` are class ids in `[0, num_classes)` or
    special values (`allowed`: a dict of value to meaning); returns them.

    Checked at once where the values are known (eager execution), as a
    run-time assertion in a TensorFlow graph, and not at all under XLA or
    JAX `jit` (see `keras_lzu.ops.validation.check_values`).
    """
    allowed = allowed or {}

    def is_valid(values):
        valid = (values >= 0) & (values < num_classes)
        for value in allowed:
            valid = valid | (values == value)
        return valid

    special = "".join(
        f" or {value} ({meaning})" for value, meaning in allowed.items()
    )
    return validation.check_values(
        ids,
        is_valid,
        f"`{name}` must hold class ids in [0, {num_classes}) "
        f"(num_classes={num_classes}){special}.",
    )


def sparse_loss_ignore_class(loss):
    """Whether a compiled loss takes class-id labels (sparse categorical
    crossentropy), and its `ignore_class`: `(is_sparse, ignore_class)`."""
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            return False, None
    function = getattr(loss, "fn", loss)
    if function is not keras.losses.sparse_categorical_crossentropy:
        return False, None
    return True, getattr(loss, "ignore_class", None)


def images_of(data):
    """The images of a `predict`/`fit` batch: `x`, `(x, ...)` or
    `{"images": x, ...}`."""
    if isinstance(data, dict):
        return data["images"]
    if isinstance(data, (list, tuple)):
        return images_of(data[0])
    return data


def image_size(images):
    """`(height, width)` of `images` as float32 scalars (dynamic shapes)."""
    shape = ops.shape(images)
    return ops.cast(shape[1], "float32"), ops.cast(shape[2], "float32")


def scale_boxes(boxes, from_size, to_size, valid=None):
    """Scales pixel `xyxy` boxes from one image frame to another.

    Args:
        boxes: `(..., 4)` pixel `xyxy` boxes in the frame of size
            `from_size`.
        from_size: `(height, width)`, ints or scalar tensors.
        to_size: `(height, width)`, ints or scalar tensors.
        valid: optional boolean tensor of `boxes.shape[:-1]`; boxes where it
            is `False` (padding) are returned unchanged.

    Returns:
        float32 boxes of the same shape, in the frame of size `to_size`.
    """
    boxes = ops.cast(boxes, "float32")
    scale_y = ops.cast(to_size[0], "float32") / ops.cast(from_size[0], "float32")
    scale_x = ops.cast(to_size[1], "float32") / ops.cast(from_size[1], "float32")
    scaled = boxes * ops.stack([scale_x, scale_y, scale_x, scale_y])
    if valid is None:
        return scaled
    return ops.where(valid[..., None], scaled, boxes)


def lzu_graph(model, output_size, saliency_layer, feature_layers,
              bounding_box_format=None, antialias=False):
    """Rebuilds a functional model with a zoom before it and unzooms inside.

    The image input is replaced by an input of any height and width; a
    `ZoomLayer` resamples it through `saliency_layer`'s grid to
    `output_size`, and the model's graph is re-run on the zoomed images
    with its own layer objects (weights are shared with `model`). Every
    4-D output of each layer of `feature_layers` is unzoomed to its own
    size; all unzooms share one `InvertGrid` output.

    Args:
        model: a functional `keras.Model` with one 4-D image input.
        output_size: `(height, width)` of the zoomed images.
        saliency_layer: a `SaliencyGrid`. With a box mode (`"boxes"`,
            `"prior+boxes"`) the inputs become `{"images", "prior_boxes"}`
            (see `keras_lzu.models.prior_boxes`).
        feature_layers: list of layer names or layer objects of `model`.
        bounding_box_format: the format of a detector's boxes, which its
            prior boxes share; `None` for other models, which cannot take
            box saliency.
        antialias: a checked `antialias` choice of `wrap()` (see
            `keras_lzu.models.antialiasing`): which of the zoom and the
            unzooms average over footprints.

    Returns:
        An `LZUGraph` of the new tensors.

    Raises:
        ValueError: for a model without a single image input, unknown
            feature layers, or feature layers with outputs of rank != 4.
    """
    if not isinstance(saliency_layer, SaliencyGrid):
        raise ValueError(
            "`saliency` must be a SaliencyGrid to wrap a model. Received: "
            f"{saliency_layer!r}"
        )
    if takes_prior_boxes(saliency_layer) and bounding_box_format is None:
        raise ValueError(
            f"saliency={saliency_layer.mode!r} (from prior boxes) is "
            "supported for the detectors keras_cv.models.RetinaNet, "
            "keras_cv.models.YOLOV8Detector and "
            "keras_hub.models.RetinaNetObjectDetector only; "
            f"{model.name!r} is not one. Use saliency='fixed' or 'network'."
        )
    image_input = _image_input(model)
    targets = _feature_layers(model, feature_layers)
    separable = saliency_layer.separable
    images = keras.Input(
        shape=(None, None, image_input.shape[-1]),
        dtype=image_input.dtype,
        # Keras matches dict inputs to tensors by name.
        name=(
            prior_boxes_lib.IMAGES if takes_prior_boxes(saliency_layer)
            else image_input.name
        ),
    )
    inputs, grid = _saliency_grid(
        model, images, saliency_layer, bounding_box_format
    )
    zoomed = ZoomLayer(
        output_size, separable=separable,
        antialias=antialiasing.zoom_averages(antialias),
        name=antialiasing.ZOOM_LAYER_NAME,
    )([images, grid])
    inverse = InvertGrid(separable=separable, name="lzu_invert_grid")(grid)
    unzooms = {
        id(layer): UnzoomLayer(
            separable=separable,
            antialias=antialiasing.unzoom_averages(antialias),
            name=f"{antialiasing.UNZOOM_LAYER_PREFIX}{layer.name}",
        )
        for layer in targets
    }

    def operation_fn(operation):
        unzoom = unzooms.get(id(operation))
        if unzoom is None:
            return operation

        def call_and_unzoom(*args, **kwargs):
            features = operation(*args, **kwargs)
            return unzoom_all(features, inverse, unzoom, operation.name)

        return call_and_unzoom

    try:
        outputs = keras_internals.run_through_graph(
            model, [zoomed], operation_fn
        )
    except FeatureRankError:
        raise
    except ValueError as error:
        raise ValueError(
            f"{model.name!r} cannot run on zoomed images of output_size="
            f"{tuple(output_size)}: choose an output_size that suits the "
            f"model's strides. Cause: {error}"
        ) from error
    return LZUGraph(inputs, outputs, images, grid, inverse)


def takes_prior_boxes(saliency_layer):
    """True when a wrapper with this `SaliencyGrid` takes `prior_boxes`."""
    return saliency_layer.mode in BOX_MODES


def _saliency_grid(model, images, saliency_layer, bounding_box_format):
    """The wrapped model's inputs and its grid: `images` in the structure
    of `model`'s inputs, or `{"images", "prior_boxes"}` for box saliency."""
    if not takes_prior_boxes(saliency_layer):
        inputs = keras_internals.pack_as_inputs(model, [images])
        return inputs, saliency_layer(images)
    prior_boxes = keras.Input(
        shape=(None, 4), dtype="float32", name=prior_boxes_lib.PRIOR_BOXES
    )
    boxes = prior_boxes_lib.PriorBoxesToSaliency(
        bounding_box_format, name="lzu_prior_boxes"
    )([prior_boxes, images])
    inputs = {
        prior_boxes_lib.IMAGES: images,
        prior_boxes_lib.PRIOR_BOXES: prior_boxes,
    }
    return inputs, saliency_layer([images, boxes])


class FeatureRankError(ValueError):
    """A layer chosen for unzooming has an output that is not 4-D."""


def unzoom_all(features, inverse, unzoom_layer, source="features"):
    """Unzooms every tensor of a nested structure of feature maps.

    Each map keeps its own spatial size, as the paper does for each pyramid
    level.

    Args:
        features: a tensor, list or dict of `(B, h, w, C)` feature maps.
        inverse: the output of an `InvertGrid` layer (or a grid).
        unzoom_layer: the `UnzoomLayer` (with `output_size=None`) to apply.
        source: name of what produced `features`, for the error message.

    Returns:
        The same structure of unzoomed feature maps.
    """
    def unzoom(x):
        if len(x.shape) != 4:
            raise FeatureRankError(
                f"Only 2-D feature maps (batch, height, width, channels) can "
                f"be unzoomed, but `{source}` outputs a tensor of shape "
                f"{tuple(x.shape)}. Choose feature layers with 4-D outputs."
            )
        return unzoom_layer([x, inverse])

    return keras.tree.map_structure(unzoom, features)


def dict_output_submodel(model, description):
    """The first nested model of `model` whose output is a dict: the
    feature extractor of a KerasCV or KerasHub DeepLab, whose levels
    `{"P2", ...}` are the features to unzoom.

    Args:
        model: a functional `keras.Model`.
        description: what such a submodel is in this model family, for the
            error message.

    Raises:
        ValueError: if `model` runs no such submodel.
    """
    for operation in model.operations:
        output = getattr(operation, "output", None)
        if isinstance(operation, keras.Model) and isinstance(output, dict):
            return operation
    raise ValueError(
        f"Found no feature pyramid in {model.name!r}: {description}"
    )


def _image_input(model):
    if not keras_internals.is_functional(model):
        raise ValueError(
            "keras_lzu.wrap() can rebuild only functional models. Received: "
            f"{type(model).__name__}"
        )
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(
            "keras_lzu.wrap() needs a model with a single image input of "
            "shape (batch, height, width, channels). Received inputs: "
            f"{[tuple(x.shape) for x in model.inputs]}"
        )
    return model.inputs[0]


def _feature_layers(model, feature_layers):
    if isinstance(feature_layers, (str, keras.layers.Layer)):
        feature_layers = [feature_layers]
    if not feature_layers:
        raise ValueError(
            "`feature_layers` must name at least one layer of the model."
        )
    operations = {id(op) for op in model.operations}
    names = [op.name for op in model.operations]
    layers = []
    for item in feature_layers:
        if isinstance(item, str):
            matches = [op for op in model.operations if op.name == item]
            if not matches:
                raise ValueError(
                    f"`feature_layers` names {item!r}, which is not a layer "
                    f"of the model {model.name!r}. Its layers are: {names}"
                )
            layers.append(matches[0])
        elif id(item) in operations:
            layers.append(item)
        else:
            raise ValueError(
                f"`feature_layers` holds {item!r}, which is not a layer of "
                f"the model {model.name!r}. Its layers are: {names}"
            )
    return layers


def resize_to_image(features, images):
    """Bilinear float32 resize of `(B, h, w, C)` features to the height and
    width of `images`, which may be unknown until run time.

    Features already of that size are returned as they are (a bilinear
    resize to the same size is the identity), without the cost of a resize.
    """
    features = ops.cast(features, "float32")
    have, want = tuple(features.shape[1:3]), tuple(images.shape[1:3])
    if None not in have + want and have == want:
        return features
    shape = ops.shape(images)
    if tensorflow_graph_checks.in_xla_context():
        # TensorFlow's resize kernel is wrong under XLA at some upsampling
        # ratios (`keras_lzu.ops.resize_bilinear`).
        return lzu_ops.resize_bilinear(features, (shape[1], shape[2]))
    if keras.backend.backend() == "tensorflow":
        # `keras.ops.image.resize` needs a static size in graph mode.
        import tensorflow as tf

        def resized():
            return tf.image.resize(
                features, (shape[1], shape[2]), method="bilinear",
                antialias=False,
            )

        if None in have + want:
            same = tf.reduce_all(tf.equal(tf.shape(features)[1:3],
                                          shape[1:3]))
            return tf.cond(same, lambda: tf.identity(features), resized)
        return resized()
    return ops.image.resize(
        features, (shape[1], shape[2]), interpolation="bilinear",
        antialias=False,
    )


@keras.saving.register_keras_serializable(package="keras_lzu")
class ResizeToImage(keras.layers.Layer):
    """Resizes feature maps bilinearly to the spatial size of images.

    Brings the outputs of a dense-prediction head, computed in the uniform
    layout, to the caller's image frame (whose size is known only at run
    time). The resize runs in float32.

    >>> probabilities = keras.Input((64, 64, 5))
    >>> images = keras.Input((None, None, 3))
    >>> ResizeToImage()([probabilities, images]).shape
    (None, None, None, 5)

    Args:
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `[features, images]`: features `(B, h, w, C)` and images
            `(B, H, W, C')`.

    Returns:
        `(B, H, W, C)` features, with the dtype of `features`.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

    def call(self, inputs):
        features, images = inputs
        return ops.cast(resize_to_image(features, images), features.dtype)

    def compute_output_shape(self, input_shape):
        features_shape, images_shape = input_shape
        return (features_shape[0], *images_shape[1:3], features_shape[-1])

    def compute_output_spec(self, inputs):
        features, images = inputs
        return keras.KerasTensor(
            self.compute_output_shape((features.shape, images.shape)),
            dtype=features.dtype,
        )


class LZUModelMixin(saving.AtomicSaveMixin):
    """The interface every model returned by `keras_lzu.wrap()` has.

    Subclasses (mixed in before their Keras model class) set, in
    `__init__`, `self.output_size`, `self.saliency_layer`,
    `self.antialias` and `self.lzu_task` (`set_lzu_attributes`), and
    implement `infer_outputs(images)`. Their
    `get_config` checks that the config rebuilds the model
    (`saving.check_config_rebuilds`), and `save` writes atomically.

    The mixin also checks what the caller gives, before the model runs:
    images must be `(B, H, W, C)` with the channels of the wrapped model's
    input (every call), `predict` needs at least one image, and the class
    ids of the labels must suit `num_classes` (`compute_loss`).

    Attributes:
        output_size: `(height, width)` of the zoomed images.
        saliency_layer: the `SaliencyGrid` making the warp.
        antialias: `False`, `True`, `"zoom"` or `"unzoom"`: which side
            averages over footprints (`keras_lzu.set_antialias` changes it).
        lzu_metadata: dict with `"task"` (`"detection"` or
            `"segmentation"`), `"output_size"` `[h, w]`, `"num_classes"`,
            `"bounding_box_format"` (`None` for segmentation) and
            `"antialias"`.
    """

    def set_lzu_attributes(self, output_size, saliency, antialias, task):
        """Sets the attributes every wrapper's `__init__` sets.

        Args:
            output_size: the checked `(height, width)` of the zoomed images.
            saliency: the `SaliencyGrid`.
            antialias: the checked `antialias` choice.
            task: `"detection"`, `"segmentation"` or `None`.
        """
        self.output_size = output_size
        self.saliency_layer = saliency
        self.antialias = antialias
        self.lzu_task = task

    @property
    def lzu_metadata(self):
        return {
            "task": self.lzu_task,
            "output_size": list(self.output_size),
            "num_classes": getattr(self, "num_classes", None),
            "bounding_box_format": getattr(self, "bounding_box_format", None),
            "antialias": self.antialias,
        }

    def infer(self, images, prior_boxes=None):
        """Runs the model for serving on float32 images of any size.

        Traceable in a `tf.function` with unknown height and width.

        Args:
            images: float32 `(B, H, W, 3)`, pixel values as in training.
            prior_boxes: for a detector wrapped with box saliency
                (`takes_prior_boxes`), optional float32 `(B, N, 4)` pixel
                `xyxy` boxes in the images' frame (the `"boxes"` this method
                returns, e.g. for the previous frame), padded with rows of
                -1; `None` gives the fixed prior's (or the uniform) grid.

        Returns:
            Detection: `{"boxes": (B, N, 4)` float32 pixel `xyxy` in the
            images' frame, `"scores": (B, N)` float32, `"classes": (B, N)`
            int32, `"num_detections": (B,)` int32`}`. Segmentation:
            `{"masks": (B, H, W)` int32 class ids in the images' frame`}`.
        """
        images = ops.convert_to_tensor(images, "float32")
        check_images(images)
        if prior_boxes is None:
            return self.infer_outputs(images)
        if not self.takes_prior_boxes:
            raise ValueError(
                "`prior_boxes` is only taken by detectors wrapped with "
                "saliency='boxes' or 'prior+boxes'; this model's saliency is "
                f"{self.saliency_layer.mode!r}."
            )
        prior_boxes = ops.convert_to_tensor(prior_boxes, "float32")
        prior_boxes_lib.check_prior_boxes_shape(prior_boxes)
        # `infer` takes pixel xyxy (what it returns); the graph takes the
        # detector's format.
        prior_boxes = prior_boxes_lib.from_pixel_xyxy(
            prior_boxes, self.bounding_box_format, images
        )
        return self.infer_outputs(images, prior_boxes)

    @property
    def takes_prior_boxes(self):
        """True when the inputs are `{"images", "prior_boxes"}` (box
        saliency, see `keras_lzu.models.prior_boxes`)."""
        return takes_prior_boxes(self.saliency_layer)

    @property
    def image_channels(self):
        """The number of channels of the images the model takes."""
        return images_of(self.inputs).shape[-1]

    def __call__(self, *args, **kwargs):
        given = args[0] if args else kwargs.get("inputs")
        if self.takes_prior_boxes:
            check_box_saliency_inputs(given)
            check_images(given["images"], self.image_channels)
        else:
            inputs = keras.tree.flatten(given)
            if len(inputs) == 1:
                check_images(inputs[0], self.image_channels)
        return super().__call__(*args, **kwargs)

    def predict(self, x, *args, **kwargs):
        check_not_empty(x)
        self._check_channels_of(x)
        return super().predict(x, *args, **kwargs)

    def predict_on_batch(self, x):
        check_not_empty(x)
        self._check_channels_of(x)
        return super().predict_on_batch(x)

    def _check_channels_of(self, x):
        # Checked here as well as in `__call__`: once Keras has retraced its
        # predict function for several image sizes, it traces with unknown
        # shapes, channels included, and `__call__` cannot tell.
        images = keras.tree.flatten(x)[0] if x is not None else None
        if len(getattr(images, "shape", ())) == 4:
            check_images(images, self.image_channels)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     **kwargs):
        """The model's loss, after checking the class ids of the labels.

        Class ids outside `[0, num_classes)` (besides -1 for the padding
        boxes of detection labels, and the `ignore_class` of a sparse
        categorical loss for masks) raise a `ValueError` in eager runs and
        fail the step with an `InvalidArgumentError` in TensorFlow graphs.
        XLA-compiled steps (`jit_compile=True`) cannot check them.
        """
        y = self.checked_labels(y)
        return super().compute_loss(x, y, y_pred, sample_weight, **kwargs)

    def checked_labels(self, y):
        """`y` with its class ids checked (see `compute_loss`)."""
        num_classes = getattr(self, "num_classes", None)
        if num_classes is None or y is None:
            return y
        if self.lzu_task == "detection":
            key = "classes" if "classes" in y else "labels"
            if key not in y:
                return y
            ids = check_class_ids(
                y[key], num_classes, key, allowed={-1: "padding"}
            )
            return {**y, key: ids}
        if self.lzu_task == "segmentation":
            sparse, ignore_class = sparse_loss_ignore_class(self.loss)
            if sparse:
                allowed = (
                    None if ignore_class is None
                    else {ignore_class: "the loss's ignore_class"}
                )
                return check_class_ids(y, num_classes, "y", allowed)
        return y

    def call_on_images(self, images, prior_boxes=None):
        """The model's raw outputs on `images`, in inference mode.

        Packs `images` into the structure of the wrapped model's inputs
        (KerasCV's RetinaNet takes `{"images": ...}`), so the call matches
        the functional graph instead of relying on Keras to flatten it. A
        model with box saliency gets `prior_boxes` (in its
        `bounding_box_format`), padding only when `None`.
        """
        if not self.takes_prior_boxes:
            inputs = keras_internals.pack_as_inputs(self, [images])
            return self(inputs, training=False)
        if prior_boxes is None:
            prior_boxes = prior_boxes_lib.padding_prior_boxes(images)
        return self(
            {"images": images, "prior_boxes": prior_boxes}, training=False
        )

    def lzu_config(self):
        """The LZU part of the wrapper's config (merge into `get_config`)."""
        return {
            "output_size": list(self.output_size),
            "saliency": keras.saving.serialize_keras_object(
                self.saliency_layer
            ),
            "antialias": self.antialias,
        }


class WrappedTaskMixin(LZUModelMixin):
    """`LZUModelMixin` for wrappers that subclass the task they wrap.

    The wrapper's `__init__` takes the wrapped task model first, then
    `output_size`, `saliency` and `antialias`. Its config nests the wrapped
    model's own config (`wrapped_config()`) under `wrapped_config_key`, so
    loading rebuilds the task first and wraps it again.

    Attributes:
        wrapped_class: the Keras class that rebuilds the wrapped task model
            from its config.
        wrapped_config_key: the config key of the task model's config,
            also the name of `__init__`'s first argument.
    """

    wrapped_class = None
    wrapped_config_key = None

    def adopt_task_attributes(self, task_model, attribute_names,
                              output_size, saliency, antialias, task):
        """Shares `task_model`'s attributes and sets the LZU ones.

        Called in `__init__` once the functional model is built: the
        wrapped class's methods read its layers, decoders and settings off
        `self`, which thus shares them (and their weights) with
        `task_model`.

        Args:
            task_model: the task model being wrapped.
            attribute_names: the names of the attributes of `task_model`
                that its class's methods read (what differs by family).
            output_size, saliency, antialias, task: as for
                `set_lzu_attributes`.
        """
        for name in attribute_names:
            setattr(self, name, getattr(task_model, name))
        self.set_lzu_attributes(output_size, saliency, antialias, task)

    def get_config(self):
        config = {
            self.wrapped_config_key: self.wrapped_config(),
            "name": self.name,
            **self.lzu_config(),
        }
        saving.check_config_rebuilds(self, config)
        return config

    def wrapped_config(self):
        """The config of the wrapped task model: its class's `get_config`,
        which adapters extend with what that method leaves out."""
        return self.wrapped_class.get_config(self)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        wrapped = config.pop(cls.wrapped_config_key)
        if isinstance(wrapped, dict):
            wrapped = cls.wrapped_class.from_config(wrapped)
        saliency = deserialize_saliency(config.pop("saliency"))
        config.setdefault("antialias", antialiasing.SAVED_WITHOUT_OPTION)
        return cls(wrapped, saliency=saliency, **config)


class WrappedDetectorMixin(WrappedTaskMixin):
    """`WrappedTaskMixin` for detectors: the loss in the uniform layout.

    The wrapper's labels are in the caller's frame; its
    `_labels_to_uniform(images, y)` maps them to the uniform layout of
    `output_size`, where the wrapped detector's anchors, label encoder and
    losses work, and which its library reads off an image tensor
    (`_uniform_images`).
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     **kwargs):
        images = images_of(x)
        check_images(images)
        y = self._labels_to_uniform(images, y)
        return super().compute_loss(
            self._uniform_images(), y, y_pred, sample_weight, **kwargs
        )

    def _uniform_images(self):
        """A stand-in batch with the uniform layout's shape: KerasCV and
        KerasHub read image sizes off an image tensor."""
        return ops.zeros((1, *self.output_size, 1))


def deserialize_saliency(saliency):
    """The `SaliencyGrid` of the `"saliency"` entry of `lzu_config()`.

    A new layer is made: the wrapped model's weights are loaded into it after
    the model is rebuilt.
    """
    if isinstance(saliency, dict):
        saliency = keras.saving.deserialize_keras_object(saliency)
    return saliency


def detection_outputs(boxes_xyxy, confidence, classes, num_detections):
    """The `infer` dict of a detector from decoded predictions."""
    return {
        "boxes": ops.cast(boxes_xyxy, "float32"),
        "scores": ops.cast(confidence, "float32"),
        "classes": ops.cast(classes, "int32"),
        "num_detections": ops.cast(num_detections, "int32"),
    }


def segmentation_outputs(scores):
    """The `infer` dict of a segmenter from per-pixel class scores
    `(B, H, W, num_classes)` in the caller's frame."""
    return {"masks": ops.cast(ops.argmax(scores, axis=-1), "int32")}
