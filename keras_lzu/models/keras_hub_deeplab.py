"""LZU for KerasHub `DeepLabV3ImageSegmenter`: unzoom the encoder's levels.

Importing this module does not import KerasHub: `matches` recognises the
model by its class name, and the wrapper class (a `DeepLabV3ImageSegmenter`
subclass) is defined on first use. Load a saved wrapped model with
`keras_lzu.load_model`, which defines and registers the class first.

As for RetinaNet, the preprocessor's image converter is kept without its
resizing (and without mask resizing): images and masks stay in the caller's
frame, and the zoom to `output_size` replaces the resize to `image_size`.
"""

import functools

import keras

from keras_lzu.models import antialiasing
from keras_lzu.models import common
from keras_lzu.models import keras_hub_common

CLASS_NAMES = ("DeepLabV3ImageSegmenter",)
WRAPPER_NAME = "LZUDeepLabV3ImageSegmenter"
# What `DeepLabV3ImageSegmenter`'s methods and config read, shared with the
# wrapper.
TASK_ATTRIBUTES = ("output_conv", "backbone", "num_classes", "activation")


def matches(model):
    """True for a KerasHub `DeepLabV3ImageSegmenter` not already wrapped."""
    return common.matches_family(model, "keras_hub", CLASS_NAMES)


def stride_multiple(backbone):
    """The multiple of which `output_size` must be for a DeepLabV3 backbone.

    The ASPP level `Pn` is upsampled by `upsampling_size` onto the decoder's
    low-level features and then by `2**n / upsampling_size` to the image
    size: both are exact only when the sides are multiples of `2**n`.
    """
    return 2 ** int(backbone.spatial_pyramid_pooling_key[1:])


def pyramid_model_of(backbone):
    """The layer of a `DeepLabV3Backbone` returning the encoder's levels."""
    return common.dict_output_submodel(
        backbone,
        "a KerasHub DeepLabV3Backbone runs a model returning its image "
        "encoder's `pyramid_outputs` {'P2', ...} on its images.",
    )


@functools.cache
def segmenter_class():
    """Defines and registers the wrapper class (imports KerasHub)."""
    from keras_hub.models import DeepLabV3ImageSegmenter

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class LZUDeepLabV3ImageSegmenter(
        common.WrappedTaskMixin, DeepLabV3ImageSegmenter
    ):
        """A KerasHub `DeepLabV3ImageSegmenter` that zooms and unzooms.

        The images (any size) are zoomed to `output_size` through the warp
        of `saliency`; the image encoder runs on the zoomed images; the
        pyramid levels the DeepLab head reads (the ASPP level and, for
        DeepLabV3+, the decoder's low-level features) are unzoomed, each to
        its own size, with one shared grid inversion.

        Where to unzoom: right after the image encoder, as the paper does
        for every pyramid level. Everything downstream then runs in the
        uniform layout of `output_size`, exactly as in the unwrapped model:
        the ASPP's dilated convolutions and image pooling, the upsampling
        that aligns the ASPP level with the low-level features, and the
        segmentation head. Unzooming only the final scores would instead
        make the ASPP's fixed dilation rates and global pooling see a
        distorted image, unlike the one they were trained on.

        Output rule: the head's outputs (logits, or probabilities with an
        activation) are computed at `output_size` and resized bilinearly to
        the size of the input images, so predictions and the masks given to
        `fit`/`evaluate` (`(B, H, W, num_classes)` one-hot for the default
        loss) are in the caller's frame. All layers, hence weights, are
        shared with `segmenter`; the preprocessor is `segmenter`'s without
        resizing.

        Example:

        ```python
        segmenter = keras_hub.models.DeepLabV3ImageSegmenter(
            backbone=backbone, num_classes=21
        )
        model = keras_lzu.wrap(segmenter, output_size=(512, 512))
        model.fit(images, one_hot_masks)  # masks at the images' size
        scores = model.predict(high_res_images)  # (B, H, W, 21)
        ```

        Args:
            segmenter: the `DeepLabV3ImageSegmenter` to wrap.
            output_size: `(height, width)` of the zoomed images, multiples
                of `2**n` for the backbone's ASPP level `Pn`.
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

        wrapped_class = DeepLabV3ImageSegmenter
        wrapped_config_key = "segmenter"

        def __init__(self, segmenter, output_size, saliency, antialias=None,
                     **kwargs):
            antialias = antialiasing.check_antialias(antialias)
            backbone = segmenter.backbone
            output_size = common.check_output_size(
                output_size,
                stride_multiple(backbone),
                "DeepLabV3ImageSegmenter",
            )
            keras_hub_common.check_fixed_input_size(
                backbone, output_size, "DeepLabV3ImageSegmenter"
            )
            graph = common.lzu_graph(
                backbone, output_size, saliency, [pyramid_model_of(backbone)],
                antialias=antialias,
            )
            scores = segmenter.output_conv(graph.outputs)
            scores = common.ResizeToImage(name="lzu_resize_to_image")(
                [scores, graph.images]
            )
            kwargs.setdefault("name", f"lzu_{segmenter.name}")
            super(DeepLabV3ImageSegmenter, self).__init__(
                inputs=graph.inputs, outputs=scores, compile=False, **kwargs
            )
            keras_hub_common.adopt_task(
                self, segmenter, TASK_ATTRIBUTES, output_size, saliency,
                antialias, "segmentation",
            )

        def infer_outputs(self, images):
            images = keras_hub_common.rescale_images(self.preprocessor, images)
            return common.segmentation_outputs(self.call_on_images(images))

    return LZUDeepLabV3ImageSegmenter


__getattr__ = common.wrapper_class_getattr(
    __name__, WRAPPER_NAME, segmenter_class
)
