"""LZU for KerasCV `RetinaNet`: zoom before the backbone, unzoom P3-P7.

Importing this module imports KerasCV (it defines `RetinaNet` subclasses);
`keras_lzu.wrap` imports it only when wrapping. Load a saved wrapped
RetinaNet with `keras_lzu.load_model`, which imports it first.

KerasCV's `RetinaNet.get_config` leaves out the `feature_pyramid`, so a
RetinaNet with a custom pyramid reloads with the default one and its
weights no longer fit. The wrapper's config includes it
(`retinanet_config`), and `SerializableRetinaNet` is a `RetinaNet` whose
own config does.
"""

import keras

from keras_lzu.models import antialiasing
from keras_lzu.models import common
from keras_lzu.models import saving

try:
    from keras_cv.models import RetinaNet

    from keras_lzu.models import keras_cv_detection
except ImportError:  # KerasCV not installed: `matches` is always False.
    RetinaNet = None

# The feature pyramid merges P5 (stride 32) into P4 and P3 by 2x upsampling.
STRIDE_MULTIPLE = 32
WRAPPER_NAME = "LZURetinaNet"
# What `RetinaNet`'s methods and config read, shared with the wrapper.
TASK_ATTRIBUTES = (
    "label_encoder",
    "anchor_generator",
    "bounding_box_format",
    "num_classes",
    "backbone",
    "feature_extractor",
    "_prediction_decoder",
    "feature_pyramid",
    "classification_head",
    "box_head",
)


def matches(model):
    """True for a KerasCV `RetinaNet` that is not already wrapped."""
    return common.matches_family(model, "keras_cv", ("RetinaNet",))


def retinanet_config(retinanet):
    """KerasCV's config of a `RetinaNet` plus its `feature_pyramid`.

    `SerializableRetinaNet.from_config` rebuilds the model from it.
    """
    return {
        **RetinaNet.get_config(retinanet),
        "feature_pyramid": keras.saving.serialize_keras_object(
            retinanet.feature_pyramid
        ),
    }


if RetinaNet is not None:

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class SerializableRetinaNet(saving.AtomicSaveMixin, RetinaNet):
        """A KerasCV `RetinaNet` that saves and loads with its pyramid.

        It takes the same arguments as `RetinaNet`; its config also holds
        the `feature_pyramid` (which `RetinaNet.get_config` leaves out), so
        a model with a custom pyramid loads again with that pyramid. Saving
        refuses a model that its config would not rebuild, and writes the
        file atomically. `keras_lzu.wrap` wraps it like any `RetinaNet`.

        Example:

        ```python
        model = SerializableRetinaNet(
            num_classes=8, bounding_box_format="xyxy", backbone=backbone,
            feature_pyramid=MyPyramid(filters=64),  # registered, get_config
        )
        model.save("detector.keras")
        same = keras_lzu.load_model("detector.keras")
        ```

        Args:
            *args, **kwargs: as for `keras_cv.models.RetinaNet`.
        """

        def get_config(self):
            config = retinanet_config(self)
            saving.check_config_rebuilds(self, config)
            return config

        @classmethod
        def from_config(cls, config):
            config = dict(config)
            pyramid = config.get("feature_pyramid")
            if isinstance(pyramid, dict):
                config["feature_pyramid"] = (
                    keras.saving.deserialize_keras_object(pyramid)
                )
            return super().from_config(config)

    @keras.saving.register_keras_serializable(package="keras_lzu")
    class LZURetinaNet(keras_cv_detection.KerasCVDetectorMixin, RetinaNet):
        """A KerasCV `RetinaNet` that zooms its input and unzooms its pyramid.

        The images (any size) are zoomed to `output_size` through the warp
        of `saliency`; the backbone and the feature pyramid run on the zoomed
        images; each pyramid level (P3-P7) is unzoomed to its own size; the
        unchanged heads, anchors, label encoder, losses and decoder of
        `retinanet` then work in the uniform layout of `output_size`. Labels
        and decoded predictions are in the caller's image frame and in
        `retinanet.bounding_box_format`: boxes are scaled between the two
        frames. All layers, hence weights, are shared with `retinanet`.

        `compile`, `fit`, `evaluate`, `predict` and `predict_on_batch` take
        the same arguments as `RetinaNet`'s; `model(images)` returns the raw
        `{"box", "classification"}` outputs of the uniform-layout anchors.

        Example:

        ```python
        base = keras_cv.models.RetinaNet(
            num_classes=8, bounding_box_format="xyxy", backbone=backbone
        )
        model = keras_lzu.wrap(base, output_size=(640, 960))
        model.compile(
            optimizer="adam", classification_loss="focal", box_loss="smoothl1"
        )
        model.fit(train_ds, epochs=10)  # (images, {"boxes", "classes"})
        detections = model.predict(high_res_images)  # caller's frame
        ```

        Args:
            retinanet: the KerasCV `RetinaNet` to wrap.
            output_size: `(height, width)` of the zoomed images, multiples of
                32.
            saliency: a `SaliencyGrid`.
            antialias: `False` (default, `keras_lzu.models.DEFAULT_ANTIALIAS`
                when `None`), `True`, `"zoom"` or `"unzoom"`: which of the
                zoom and the unzooms average over each output pixel's
                footprint instead of point-sampling.
            **kwargs: base `Model` arguments (`name`).

        Call arguments:
            images: `{"images": (B, H, W, 3)}` images of any size; with box
                saliency (`"boxes"`, `"prior+boxes"`) also `"prior_boxes":
                (B, N, 4)`, as `keras_lzu.models.prior_boxes` describes.

        Returns:
            `{"box": (B, A, 4), "classification": (B, A, num_classes)}` for
            the `A` anchors of an `output_size` image.
        """

        wrapped_class = SerializableRetinaNet
        wrapped_config_key = "retinanet"
        family = "RetinaNet"

        def __init__(self, retinanet, output_size, saliency, antialias=None,
                     **kwargs):
            antialias = antialiasing.check_antialias(antialias)
            output_size = common.check_output_size(
                output_size, STRIDE_MULTIPLE, "RetinaNet"
            )
            graph = common.lzu_graph(
                retinanet, output_size, saliency, [retinanet.feature_pyramid],
                bounding_box_format=retinanet.bounding_box_format,
                antialias=antialias,
            )
            kwargs.setdefault("name", f"lzu_{retinanet.name}")
            super(RetinaNet, self).__init__(
                inputs=graph.inputs, outputs=graph.outputs, **kwargs
            )
            self.adopt_task_attributes(
                retinanet, TASK_ATTRIBUTES, output_size, saliency, antialias,
                "detection",
            )

        def wrapped_config(self):
            return retinanet_config(self)
