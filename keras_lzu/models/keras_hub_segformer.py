"""LZU for KerasHub `SegFormerImageSegmenter`: unzoom the MiT levels.

Importing this module does not import KerasHub: `matches` recognises the
model by its class name, and the wrapper class (a `SegFormerImageSegmenter`
subclass) is defined on first use. Load a saved wrapped model with
`keras_lzu.load_model`, which defines and registers the class first.

What sizes a SegFormer takes: KerasHub's MiT encoder (`MiTBackbone`) is
built for one static `image_shape`, and its attention and Mix-FFN layers
recover the height and width of each level from the token count as
`sqrt(tokens)`, so it only runs on square images; its stages divide the
size by `layerwise_strides` (4, 2, 2, 2 in every preset), so the size must
be a multiple of their product (32). `output_size` must therefore be the
MiT's own `image_shape` (512 x 512 for the `*_512` presets, 640 x 640 for
`segformer_b5_ade20k_640`, 1024 x 1024 for the Cityscapes ones); the caller's
images may have any size and aspect ratio.
"""

import functools
import math

import keras

from keras_lzu.models import antialiasing
from keras_lzu.models import common
from keras_lzu.models import keras_hub_common

CLASS_NAMES = ("SegFormerImageSegmenter",)
WRAPPER_NAME = "LZUSegFormerImageSegmenter"
FAMILY = "SegFormerImageSegmenter"
# What `SegFormerImageSegmenter`'s methods and config read, shared with the
# wrapper.
TASK_ATTRIBUTES = (
    "dropout",
    "output_segmentation_head",
    "resizing",
    "backbone",
    "num_classes",
)


def matches(model):
    """True for a KerasHub `SegFormerImageSegmenter` not already wrapped."""
    return common.matches_family(model, "keras_hub", CLASS_NAMES)


def stride_multiple(image_encoder):
    """The product of the MiT stages' strides (32 for every preset): the
    smallest level is the image divided by it."""
    return math.prod(int(s) for s in image_encoder.layerwise_strides)


def check_output_size(backbone, output_size):
    """Checks `output_size` against what a SegFormer's MiT encoder takes.

    Args:
        backbone: the segmenter's `SegFormerBackbone`.
        output_size: `(height, width)` of the zoomed images.

    Returns:
        `output_size` as a tuple of two ints.

    Raises:
        ValueError: naming `output_size` when it is not a multiple of the
            encoder's total stride, not square, or not the encoder's
            `image_shape`.
    """
    encoder = backbone.image_encoder
    output_size = common.check_output_size(
        output_size, stride_multiple(encoder), FAMILY
    )
    if output_size[0] != output_size[1]:
        raise ValueError(
            f"`output_size` must be square for a {FAMILY}: KerasHub's MiT "
            "encoder takes square images only (it recovers each level's "
            "height and width from its token count as sqrt(tokens)). The "
            "caller's images may have any shape; only the zoomed size must "
            f"be square. Received: output_size={output_size}"
        )
    keras_hub_common.check_fixed_input_size(encoder, output_size, FAMILY)
    return output_size


def pyramid_model_of(backbone):
    """The layer of a `SegFormerBackbone` returning the MiT's levels."""
    return common.dict_output_submodel(
        backbone,
        "a KerasHub SegFormerBackbone runs a model returning its MiT "
        "encoder's `pyramid_outputs` {'P1', ..., 'P4'} on its images.",
    )


@functools.cache
def segmenter_class():
    """Defines and registers the wrapper class (imports KerasHub)."""
    from keras_hub.models import SegFormerImageSegmenter

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class LZUSegFormerImageSegmenter(
        common.WrappedTaskMixin, SegFormerImageSegmenter
    ):
        """A KerasHub `SegFormerImageSegmenter` that zooms and unzooms.

        The images (any size) are zoomed to `output_size` through the warp
        of `saliency`; the MiT encoder runs on the zoomed images; its four
        levels (strides 4 to 32) are unzoomed, each to its own size, with
        one shared grid inversion, before the all-MLP decoder.

        Where to unzoom: between the encoder and the decoder. The decoder
        projects every level, resizes it to the stride-4 level's size and
        fuses them with 1x1 convolutions: per-pixel operations that need
        the levels aligned with each other in one uniform layout, which the
        unzoom gives them. The decoder, head and losses are unchanged.

        Output rule: the head's scores are resized to `output_size` as in
        the unwrapped model, then bilinearly to the size of the input
        images, so predictions and the masks given to `fit`/`evaluate`
        (`(B, H, W, num_classes)` one-hot for the default loss) are in the
        caller's frame. All layers, hence weights, are shared with
        `segmenter`; the preprocessor is `segmenter`'s without resizing.

        Example:

        ```python
        segmenter = keras_hub.models.SegFormerImageSegmenter.from_preset(
            "segformer_b0_ade20k_512"
        )
        model = keras_lzu.wrap(segmenter, output_size=(512, 512))
        scores = model.predict(high_res_images)  # (B, H, W, 150)
        ```

        Args:
            segmenter: the `SegFormerImageSegmenter` to wrap.
            output_size: `(height, width)` of the zoomed images: the MiT
                encoder's `image_shape` (square, a multiple of 32).
            saliency: a `SaliencyGrid` (mode `"fixed"` or `"network"`).
            antialias: `False` (default, `keras_lzu.models.DEFAULT_ANTIALIAS`
                when `None`), `True`, `"zoom"` or `"unzoom"`: which of the
                zoom and the unzooms average over each output pixel's
                footprint instead of point-sampling.
            **kwargs: base `Model` arguments (`name`).

        Call arguments:
            images: `(B, H, W, 3)` preprocessed images of any size.

        Returns:
            `(B, H, W, num_classes)` scores in the images' frame.
        """

        wrapped_class = SegFormerImageSegmenter
        wrapped_config_key = "segmenter"

        def __init__(self, segmenter, output_size, saliency, antialias=None,
                     **kwargs):
            antialias = antialiasing.check_antialias(antialias)
            backbone = segmenter.backbone
            output_size = check_output_size(backbone, output_size)
            graph = common.lzu_graph(
                backbone, output_size, saliency, [pyramid_model_of(backbone)],
                antialias=antialias,
            )
            scores = segmenter.dropout(graph.outputs)
            scores = segmenter.output_segmentation_head(scores)
            scores = segmenter.resizing(scores)
            scores = common.ResizeToImage(name="lzu_resize_to_image")(
                [scores, graph.images]
            )
            kwargs.setdefault("name", f"lzu_{segmenter.name}")
            super(SegFormerImageSegmenter, self).__init__(
                inputs=graph.inputs, outputs=scores, compile=False, **kwargs
            )
            keras_hub_common.adopt_task(
                self, segmenter, TASK_ATTRIBUTES, output_size, saliency,
                antialias, "segmentation",
            )

        def infer_outputs(self, images):
            images = keras_hub_common.rescale_images(self.preprocessor, images)
            return common.segmentation_outputs(self.call_on_images(images))

    return LZUSegFormerImageSegmenter


__getattr__ = common.wrapper_class_getattr(
    __name__, WRAPPER_NAME, segmenter_class
)
