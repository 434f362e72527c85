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
from keras import ops

from keras_lzu.models import antialiasing
from keras_lzu.models import common
from keras_lzu.models import saving

try:
    from keras_cv import bounding_box
    from keras_cv.models import RetinaNet
except ImportError:  # KerasCV not installed: `matches` is always False.
    RetinaNet = None

# The feature pyramid merges P5 (stride 32) into P4 and P3 by 2x upsampling.
STRIDE_MULTIPLE = 32
WRAPPER_NAME = "LZURetinaNet"


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
    class LZURetinaNet(common.WrappedDetectorMixin, RetinaNet):
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
            self.label_encoder = retinanet.label_encoder
            self.anchor_generator = retinanet.anchor_generator
            self.bounding_box_format = retinanet.bounding_box_format
            self.num_classes = retinanet.num_classes
            self.backbone = retinanet.backbone
            self.feature_extractor = retinanet.feature_extractor
            self._prediction_decoder = retinanet.prediction_decoder
            self.feature_pyramid = retinanet.feature_pyramid
            self.classification_head = retinanet.classification_head
            self.box_head = retinanet.box_head
            self.output_size = output_size
            self.saliency_layer = saliency
            self.antialias = antialias
            self.lzu_task = "detection"

        def wrapped_config(self):
            return retinanet_config(self)

        def decode_predictions(self, predictions, images):
            """Decodes raw outputs into boxes in the frame of `images`.

            Args:
                predictions: `{"box", "classification"}` raw outputs.
                images: the images (or the batch) that were predicted on.

            Returns:
                KerasCV's `{"boxes", "confidence", "classes",
                "num_detections"}` with boxes in `bounding_box_format`.
            """
            return self._decode(predictions, common.images_of(images))[0]

        def infer_outputs(self, images, prior_boxes=None):
            decoded, boxes = self._decode(
                self.call_on_images(images, prior_boxes), images
            )
            return common.detection_outputs(
                boxes,
                decoded["confidence"],
                decoded["classes"],
                decoded["num_detections"],
            )

        def _decode(self, predictions, images):
            """Decoded predictions and their pixel `xyxy` boxes, caller frame."""
            predictions = {
                key: ops.cast(value, "float32")
                for key, value in predictions.items()
            }
            uniform = self._uniform_images()
            decoded = super().decode_predictions(predictions, uniform)
            boxes = bounding_box.convert_format(
                decoded["boxes"], source=self.bounding_box_format,
                target="xyxy", images=uniform,
            )
            valid = decoded["classes"] >= 0
            boxes = common.scale_boxes(
                boxes, self.output_size, common.image_size(images), valid
            )
            decoded["boxes"] = ops.where(
                valid[..., None],
                bounding_box.convert_format(
                    boxes, source="xyxy", target=self.bounding_box_format,
                    images=images,
                ),
                decoded["boxes"],
            )
            return decoded, boxes

        def _labels_to_uniform(self, images, y):
            y = _dense_labels(y, self.bounding_box_format)
            boxes = bounding_box.convert_format(
                y["boxes"], source=self.bounding_box_format, target="xyxy",
                images=images,
            )
            boxes = common.scale_boxes(
                boxes, common.image_size(images), self.output_size
            )
            boxes = bounding_box.convert_format(
                boxes, source="xyxy", target=self.bounding_box_format,
                images=self._uniform_images(),
            )
            valid = ops.reshape(y["classes"], ops.shape(boxes)[:2]) >= 0
            y["boxes"] = ops.where(valid[..., None], boxes, y["boxes"])
            return y


def _dense_labels(y, bounding_box_format):
    if not isinstance(y, dict) or not {"boxes", "classes"} <= set(y):
        raise ValueError(
            "RetinaNet labels must be a dict {'boxes': (batch, num_boxes, 4) "
            f"in bounding_box_format={bounding_box_format!r} of the caller's "
            "image frame, 'classes': (batch, num_boxes)}. Received: "
            f"{y if not isinstance(y, dict) else sorted(y)!r}"
        )
    y = bounding_box.to_dense(dict(y))
    boxes = ops.cast(y["boxes"], "float32")
    if len(boxes.shape) != 3 or boxes.shape[-1] != 4:
        raise ValueError(
            "RetinaNet label boxes must have shape (batch, num_boxes, 4). "
            f"Received: boxes.shape={tuple(boxes.shape)}"
        )
    return {**y, "boxes": boxes}
