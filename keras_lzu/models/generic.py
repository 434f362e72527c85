"""LZU for any functional Keras model with one image input.

`keras_lzu.wrap(model, output_size, feature_layers=[...])` selects this
adapter: the input is zoomed, the outputs of the named layers are unzoomed
(each 2-D feature map to its own size) and the rest of the graph is re-run
unchanged with the model's own layers.
"""

import keras
from keras import ops

from keras_lzu import keras_internals
from keras_lzu.models import antialiasing
from keras_lzu.models import common
from keras_lzu.models import saving


def matches(model):
    """True for a functional Keras model (the generic path is chosen with
    `feature_layers=` rather than by type)."""
    return keras_internals.is_functional(model)


def wrap(model, output_size, saliency_layer, feature_layers, **options):
    """Returns `LZUFunctional(model, output_size, saliency_layer,
    feature_layers, **options)`."""
    if not matches(model):
        raise TypeError(
            "keras_lzu.wrap(..., feature_layers=...) needs a functional "
            f"Keras model. Received: {type(model).__name__}"
        )
    return LZUFunctional(
        model, output_size, saliency_layer, feature_layers, **options
    )


WRAPPER_NAME = "LZUFunctional"


@keras.saving.register_keras_serializable(package="keras_lzu")
class LZUFunctional(common.LZUModelMixin, keras.Model):
    """A functional model that zooms its input and unzooms chosen features.

    The images (any size) are zoomed to `output_size` through the warp of
    `saliency`; `model`'s graph runs on the zoomed images with its own layer
    objects (weights are shared); every output of the layers named in
    `feature_layers` is unzoomed to its own size. Everything after those
    layers works in the uniform layout of `output_size`, so the outputs are
    those of `model` on images uniformly resized to `output_size` (exactly
    so with a uniform saliency): labels for `fit` are in that layout too.

    Example:

    ```python
    inputs = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(8, 3, strides=2, name="stem")(inputs)
    scores = keras.layers.Conv2D(5, 1, name="head")(features)
    base = keras.Model(inputs, scores)
    model = keras_lzu.wrap(base, (64, 64), feature_layers=["stem"])
    model(np.zeros((2, 256, 256, 3))).shape  # (2, 32, 32, 5)
    ```

    Args:
        model: a functional `keras.Model` with one 4-D image input.
        output_size: `(height, width)` of the zoomed images.
        saliency: a `SaliencyGrid` (mode `"fixed"` or `"network"`).
        feature_layers: names of layers of `model` with 4-D outputs.
        stride: optional int; when given, both sides of `output_size` must
            be multiples of it.
        task: `"segmentation"` (per-pixel class scores, the default for a
            model with one 4-D output) or `None`; sets what `infer` returns.
        antialias: `False` (default, `keras_lzu.models.DEFAULT_ANTIALIAS`
            when `None`), `True`, `"zoom"` or `"unzoom"`: which of the zoom
            and the unzooms average over each output pixel's footprint
            instead of point-sampling.
        **kwargs: base `Model` arguments (`name`).

    Call arguments:
        images: `(B, H, W, C)` images of any size.

    Returns:
        The outputs of `model`, in the uniform layout of `output_size`.
    """

    def __init__(self, model, output_size, saliency, feature_layers,
                 stride=None, task="auto", antialias=None, **kwargs):
        antialias = antialiasing.check_antialias(antialias)
        output_size = (
            common.check_output_size(output_size, int(stride), model.name)
            if stride
            else tuple(output_size)
        )
        feature_layers = _layer_names(feature_layers)
        graph = common.lzu_graph(
            model, output_size, saliency, feature_layers, antialias=antialias
        )
        if not stride:
            _probe(model, output_size)
        if task == "auto":
            task = "segmentation" if _single_map(graph.outputs) else None
        if task not in (None, "segmentation"):
            raise ValueError(
                '`task` must be "segmentation" or None for the generic '
                f"adapter. Received: task={task!r}"
            )
        kwargs.setdefault("name", f"lzu_{model.name}")
        super().__init__(inputs=graph.inputs, outputs=graph.outputs, **kwargs)
        self.model_config = keras.saving.serialize_keras_object(model)
        self.feature_layers = feature_layers
        self.stride = stride
        self.set_lzu_attributes(output_size, saliency, antialias, task)
        if task == "segmentation":
            self.num_classes = keras.tree.flatten(graph.outputs)[0].shape[-1]

    def infer_outputs(self, images):
        outputs = self.call_on_images(images)
        if self.lzu_task == "segmentation":
            scores = common.resize_to_image(outputs, images)
            return common.segmentation_outputs(scores)
        if isinstance(outputs, dict):
            return dict(outputs)
        flat = keras.tree.flatten(outputs)
        return {f"output_{index}": x for index, x in enumerate(flat)}

    def get_config(self):
        config = {
            "model": self.model_config,
            "feature_layers": list(self.feature_layers),
            "stride": self.stride,
            "task": self.lzu_task,
            "name": self.name,
            **self.lzu_config(),
        }
        saving.check_config_rebuilds(self, config)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"))
        saliency = common.deserialize_saliency(config.pop("saliency"))
        config.setdefault("antialias", antialiasing.SAVED_WITHOUT_OPTION)
        return cls(model, saliency=saliency, **config)


def _probe(model, output_size):
    """Runs `model` once on a zoomed-size image: symbolic shapes do not
    catch every stride mismatch (e.g. a skip connection concatenated with an
    upsampled map one pixel larger)."""
    channels = model.inputs[0].shape[-1]
    try:
        model(ops.zeros((1, *output_size, channels), model.inputs[0].dtype))
    except Exception as error:
        raise ValueError(
            f"{model.name!r} cannot run on zoomed images of output_size="
            f"{tuple(output_size)}: choose an output_size that suits the "
            f"model's strides. Cause: {error}"
        ) from error


def _layer_names(feature_layers):
    if isinstance(feature_layers, (str, keras.layers.Layer)):
        feature_layers = [feature_layers]
    return [
        item.name if isinstance(item, keras.layers.Layer) else item
        for item in feature_layers
    ]


def _single_map(outputs):
    flat = keras.tree.flatten(outputs)
    return len(flat) == 1 and len(flat[0].shape) == 4
