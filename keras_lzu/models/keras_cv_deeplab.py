"""LZU for KerasCV `DeepLabV3Plus`: unzoom the backbone's P2 and P5 features.

Importing this module imports KerasCV (it defines a `DeepLabV3Plus`
subclass); `keras_lzu.wrap` imports it only when wrapping. Load a saved
wrapped DeepLabV3Plus with `keras_lzu.load_model`, which imports it first.
"""

import keras

from keras_lzu.models import antialiasing
from keras_lzu.models import common

try:
    from keras_cv.models import DeepLabV3Plus
except ImportError:  # KerasCV not installed: `matches` is always False.
    DeepLabV3Plus = None

# The decoder upsamples P5 (stride 32) 8x onto P2 (stride 4).
STRIDE_MULTIPLE = 32
WRAPPER_NAME = "LZUDeepLabV3Plus"
# What `DeepLabV3Plus`'s methods and config read, shared with the wrapper.
TASK_ATTRIBUTES = (
    "num_classes",
    "backbone",
    "spatial_pyramid_pooling",
    "projection_filters",
    "segmentation_head",
)


def matches(model):
    """True for a KerasCV `DeepLabV3Plus` that is not already wrapped."""
    return common.matches_family(model, "keras_cv", ("DeepLabV3Plus",))


def feature_extractor_of(deeplab):
    """The layer of `deeplab` that returns the backbone's `{"P2", "P5"}`."""
    return common.dict_output_submodel(
        deeplab,
        "a KerasCV DeepLabV3Plus runs a model returning {'P2', 'P5'} on its "
        "images.",
    )


if DeepLabV3Plus is not None:

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class LZUDeepLabV3Plus(common.WrappedTaskMixin, DeepLabV3Plus):
        """A KerasCV `DeepLabV3Plus` that zooms its input, unzooms features.

        The images (any size) are zoomed to `output_size` through the warp of
        `saliency`; the backbone runs on the zoomed images; its two feature
        levels, P2 (stride 4, the decoder's low-level features) and P5
        (stride 32, the input of the atrous spatial pyramid pooling), are
        unzoomed, each to its own size. Unzooming right after the backbone,
        as the paper does for every pyramid level, keeps everything
        downstream in the uniform layout of `output_size`: the ASPP's
        dilated convolutions and image pooling, the 8x upsampling that
        aligns P5 with P2 and the final 4x upsampling all see undistorted
        geometry, exactly as in the unwrapped model. Unzooming only the
        final scores instead would let the decoder merge features whose
        alignment the warp has changed.

        Output rule: the class scores (softmax probabilities, as
        `DeepLabV3Plus` returns) are computed at `output_size` and resized
        bilinearly to the size of the input images, so that, as with the
        unwrapped model, they are in the caller's frame: the masks given to
        `fit`/`evaluate` are `(B, H, W, 1)` at the images' size, and any
        Keras loss on `(B, H, W, num_classes)` scores works unchanged.

        Example:

        ```python
        base = keras_cv.models.DeepLabV3Plus(num_classes=21, backbone=backbone)
        model = keras_lzu.wrap(base, output_size=(512, 512))
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(),
        )
        model.fit(train_ds, epochs=10)  # (images, masks), any image size
        scores = model.predict(high_res_images)  # (B, H, W, num_classes)
        ```

        Args:
            deeplab: the KerasCV `DeepLabV3Plus` to wrap.
            output_size: `(height, width)` of the zoomed images, multiples of
                32.
            saliency: a `SaliencyGrid` (mode `"fixed"` or `"network"`).
            antialias: `False` (default, `keras_lzu.models.DEFAULT_ANTIALIAS`
                when `None`), `True`, `"zoom"` or `"unzoom"`: which of the
                zoom and the unzooms average over each output pixel's
                footprint instead of point-sampling.
            **kwargs: base `Model` arguments (`name`).

        Call arguments:
            images: `(B, H, W, 3)` images of any size.

        Returns:
            `(B, H, W, num_classes)` class probabilities in the images' frame.
        """

        wrapped_class = DeepLabV3Plus
        wrapped_config_key = "deeplab"

        def __init__(self, deeplab, output_size, saliency, antialias=None,
                     **kwargs):
            antialias = antialiasing.check_antialias(antialias)
            output_size = common.check_output_size(
                output_size, STRIDE_MULTIPLE, "DeepLabV3Plus"
            )
            graph = common.lzu_graph(
                deeplab, output_size, saliency,
                [feature_extractor_of(deeplab)], antialias=antialias,
            )
            scores = common.ResizeToImage(name="lzu_resize_to_image")(
                [graph.outputs, graph.images]
            )
            kwargs.setdefault("name", f"lzu_{deeplab.name}")
            super(DeepLabV3Plus, self).__init__(
                inputs=graph.inputs, outputs=scores, **kwargs
            )
            self.adopt_task_attributes(
                deeplab, TASK_ATTRIBUTES, output_size, saliency, antialias,
                "segmentation",
            )

        def infer_outputs(self, images):
            return common.segmentation_outputs(self.call_on_images(images))
