"""The models `lzu train` builds: a KerasHub or KerasCV RetinaNet / DeepLab,
from a preset or from scratch, wrapped with LZU.

The base model is built first (`build_base_model`), its stride multiple
checked against `output_size` (`check_output_size`), then it is wrapped
(`wrap_for_training`): every saliency mode, `"uniform"` included, gives a
`keras_lzu.wrap` model, so that all of them take images of any size and
return predictions in each image's own frame (`infer`, export, `lzu
evaluate`). `"uniform"` is the same base model behind a frozen uniform
saliency: its warp grid is the identity (within 2e-7), so its zoom is
`tf.image.resize` (bilinear; with `antialias`, the area average of
`tf.image.resize(method="area")`) and its unzoom resamples each feature map
onto itself; it is uniform downsampling with the boxes scaled into the
resized frame, and nothing learns where to look. `antialias` reaches every
mode through `keras_lzu.wrap(antialias=...)`, the one implementation of
both the uniform resize and LZU's resampling.

Backbones: `--preset` loads a KerasHub preset (a built-in name, a Kaggle
handle or a local preset directory): either a whole `RetinaNetBackbone` /
`DeepLabV3Backbone` (e.g. `retinanet_resnet50_fpn_coco`) or an image
encoder with a feature pyramid (e.g. `resnet_50_imagenet`), which gets a
new feature pyramid (RetinaNet levels P3-P5) or DeepLabV3+ decoder; the
preset's image converter normalises the images as in pre-training.
`--backbone` names a ResNet built from scratch (`BACKBONES`).
"""

import dataclasses

import keras
import numpy as np

LIBRARIES = ("keras_hub", "keras_cv")
SALIENCY_MODES = ("prior", "fixed", "network", "uniform")
# Anchors of a RetinaNet level are `anchor_size` times its stride (KerasHub's
# `anchor_size`; KerasCV's default sizes 32..512 px are the same at 4).
DEFAULT_ANCHOR_SIZE = 4.0
# IoU thresholds of the anchor matching (KerasHub's and KerasCV's defaults):
# an anchor is a positive of the box it overlaps by at least
# `DEFAULT_POSITIVE_IOU`, background below `DEFAULT_NEGATIVE_IOU`, ignored
# in between. Objects a few pixels across rarely reach 0.5 with any anchor
# of a stride-8 lattice: lower both to give them positives.
DEFAULT_POSITIVE_IOU = 0.5
DEFAULT_NEGATIVE_IOU = 0.4
# The detectors keep boxes down to this confidence, as COCO AP needs.
MIN_CONFIDENCE = 0.05
MAX_DETECTIONS = 100


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """A ResNet built from scratch by `--backbone NAME`.

    Attributes:
        filters: widths of the four stages (strides 4, 8, 16, 32).
        blocks: residual blocks per stage.
        bottleneck: bottleneck blocks (ResNet-50) or basic ones.
        head_layers: convolutions of each RetinaNet head before its logits.
        dilation_rates: the DeepLab ASPP's dilation rates.
        projection_filters: width of the DeepLabV3+ decoder's projection.
    """

    filters: tuple
    blocks: tuple
    bottleneck: bool = False
    head_layers: int = 4
    dilation_rates: tuple = (6, 12, 18)
    projection_filters: int = 48


BACKBONES = {
    "resnet18": BackboneSpec((64, 128, 256, 512), (2, 2, 2, 2)),
    "resnet50": BackboneSpec(
        (64, 128, 256, 512), (3, 4, 6, 3), bottleneck=True
    ),
    # The smallest ResNet each library builds (KerasHub's first stage must
    # have 64 filters), and KerasHub RetinaNet heads without hidden layers
    # (theirs are 256 wide: one layer would double the cost of a training
    # step): for smoke tests, quick checks and `lzu demo` on a CPU.
    "tiny": BackboneSpec(
        (64, 64, 64, 64), (1, 1, 1, 1), head_layers=0,
        dilation_rates=(2, 4), projection_filters=16,
    ),
}
DEFAULT_BACKBONE = "resnet18"


def build_model(config, num_classes, prior=None, separable=True):
    """The LZU model of a `TrainingConfig`, ready to compile.

    Builds the base model (`build_base_model`), checks `config.output_size`
    against its strides (`check_output_size`) and wraps it for
    `config.saliency` (`wrap_for_training`).

    Args:
        config: a `TrainingConfig`.
        num_classes: int, object classes (detection) or classes including
            the background (segmentation).
        prior: the KDE saliency prior, for `saliency="prior"`.
        separable: bool, the warp of `saliency="prior"`: separable or
            general (a `keras_lzu.plan_warp` plan's `separable`).

    Returns:
        A `keras_lzu.wrap` model.
    """
    base = build_base_model(
        config.task, config.library, num_classes, preset=config.preset,
        backbone=config.backbone, anchor_size=config.anchor_size,
        positive_iou=config.positive_iou, negative_iou=config.negative_iou,
        seed=config.seed,
    )
    check_output_size(config.output_size, base)
    return wrap_for_training(
        base, config.output_size, config.saliency, prior,
        separable=separable, antialias=config.antialias,
    )


def build_base_model(task, library, num_classes, preset=None,
                     backbone=DEFAULT_BACKBONE,
                     anchor_size=DEFAULT_ANCHOR_SIZE,
                     positive_iou=DEFAULT_POSITIVE_IOU,
                     negative_iou=DEFAULT_NEGATIVE_IOU, seed=0):
    """Builds the detector or segmenter to wrap, without LZU.

    Args:
        task: `"detection"` (a RetinaNet) or `"segmentation"` (a DeepLab).
        library: `"keras_hub"` (`RetinaNetObjectDetector`,
            `DeepLabV3ImageSegmenter`) or `"keras_cv"` (`RetinaNet`,
            `DeepLabV3Plus`).
        num_classes: int, object classes (detection) or classes including
            the background (segmentation).
        preset: optional KerasHub preset of the backbone (KerasHub only).
        backbone: name in `BACKBONES`, used when `preset` is `None`.
        anchor_size: RetinaNet anchor side in units of each level's stride.
        positive_iou: RetinaNet anchors overlapping a box by at least this
            IoU are its positives.
        negative_iou: RetinaNet anchors overlapping every box by less than
            this IoU are background (those in between are ignored).
        seed: int, seeds the initial weights.

    Returns:
        The Keras model; its images are float32 pixels in `[0, 255]`.

    Example:

    >>> model = build_base_model("detection", "keras_hub", 3,
    ...                          backbone="tiny")  # doctest: +SKIP
    """
    keras.utils.set_random_seed(seed)
    if library == "keras_hub":
        return _keras_hub_model(task, num_classes, preset, backbone,
                                anchor_size, positive_iou, negative_iou)
    if preset is not None:
        raise ValueError(
            "`preset` names a KerasHub preset: use library='keras_hub'. "
            f"Received: preset={preset!r}, library={library!r}"
        )
    return _keras_cv_model(task, num_classes, BACKBONES[backbone],
                           anchor_size, positive_iou, negative_iou)


def stride_multiple(model):
    """The multiple of which the zoomed size must be for `model`, as the
    `keras_lzu.wrap` adapter of its family requires."""
    from keras_lzu.models import keras_hub_deeplab
    from keras_lzu.models import keras_hub_retinanet

    name = type(model).__name__
    if name == "RetinaNetObjectDetector":
        return keras_hub_retinanet.stride_multiple(model.backbone)
    if name == "DeepLabV3ImageSegmenter":
        return keras_hub_deeplab.stride_multiple(model.backbone)
    from keras_lzu.models import keras_cv_deeplab
    from keras_lzu.models import keras_cv_retinanet

    if name == "RetinaNet":
        return keras_cv_retinanet.STRIDE_MULTIPLE
    return keras_cv_deeplab.STRIDE_MULTIPLE


def check_output_size(output_size, model, argument="output_size"):
    """Raises unless `output_size` suits `model`'s strides.

    Args:
        output_size: `(height, width)` of the zoomed images.
        model: the base model (`build_base_model`).
        argument: how the caller names `output_size`, for the message.

    Raises:
        ValueError: naming `argument`, the multiple, and the nearest valid
            heights and widths below and above.
    """
    multiple = stride_multiple(model)
    if all(side % multiple == 0 for side in output_size):
        return
    options = []
    for name, side in zip(("height", "width"), output_size):
        below = max(multiple, side // multiple * multiple)
        above = -(-side // multiple) * multiple
        choices = sorted({below, above})
        options.append(f"{name} {' or '.join(map(str, choices))}")
    nearest = tuple(max(multiple, multiple * round(s / multiple))
                    for s in output_size)
    raise ValueError(
        f"`{argument}` {tuple(output_size)} does not suit the "
        f"{type(model).__name__}: both sides must be multiples of its "
        f"largest feature stride, {multiple}. Nearest valid sizes: "
        f"{', '.join(options)}; the nearest is {nearest[0]} {nearest[1]}."
    )


def wrap_for_training(model, output_size, saliency, prior=None,
                      separable=True, antialias=None):
    """Wraps `model` with LZU for a saliency mode.

    Args:
        model: the base model.
        output_size: `(height, width)` of the zoomed images.
        saliency: `"prior"` (the fixed KDE `prior`, kept fixed as in the
            paper), `"fixed"` (a dataset-wide saliency learned end to end,
            uniform at first), `"network"` (a small network on a thumbnail
            of each image) or `"uniform"` (uniform downsampling, see the
            module docstring).
        prior: 2-D saliency array, needed for `"prior"`.
        separable: bool, separable (default) or general warp of `"prior"`.
        antialias: `keras_lzu.wrap`'s `antialias` (`None`: its default).

    Returns:
        The `keras_lzu.wrap` model.
    """
    import keras_lzu

    if saliency == "prior":
        if prior is None:
            raise ValueError('saliency="prior" needs the `prior` array.')
        wrapped = keras_lzu.wrap(
            model, output_size, saliency=np.asarray(prior),
            separable=separable,
            antialias=antialias,
        )
        wrapped.saliency_layer.trainable = False
    elif saliency == "uniform":
        wrapped = keras_lzu.wrap(
            model, output_size, saliency="fixed", antialias=antialias
        )
        wrapped.saliency_layer.trainable = False
    elif saliency in ("fixed", "network"):
        wrapped = keras_lzu.wrap(
            model, output_size, saliency=saliency, antialias=antialias
        )
    else:
        raise ValueError(
            f"`saliency` must be one of {SALIENCY_MODES}. "
            f"Received: {saliency!r}"
        )
    return wrapped


def _keras_hub_model(task, num_classes, preset, backbone, anchor_size,
                     positive_iou, negative_iou):
    import keras_hub
    from keras_hub.src.models.retinanet.retinanet_label_encoder import (
        RetinaNetLabelEncoder,
    )

    if preset is not None:
        spec = BackboneSpec((), ())
        encoder = keras_hub.models.Backbone.from_preset(preset)
        converter = _preset_image_converter(preset)
    else:
        spec = BACKBONES[backbone]
        encoder = _keras_hub_resnet(spec)
        converter = keras_hub.layers.ImageConverter(scale=1.0 / 255)
    if task == "detection":
        backbone = encoder
        if not isinstance(encoder, keras_hub.models.RetinaNetBackbone):
            backbone = keras_hub.models.RetinaNetBackbone(
                image_encoder=_pyramid_encoder(encoder, preset),
                min_level=3,
                max_level=5,
                use_p5=False,
            )
        anchors = keras_hub.layers.AnchorGenerator(
            "xyxy",
            min_level=backbone.min_level,
            max_level=backbone.max_level,
            num_scales=3,
            aspect_ratios=[0.5, 1.0, 2.0],
            anchor_size=anchor_size,
        )
        detector = keras_hub.models.RetinaNetObjectDetector(
            backbone=backbone,
            num_classes=num_classes,
            bounding_box_format="xyxy",
            anchor_generator=anchors,
            # KerasHub's own label encoder but for the thresholds.
            label_encoder=RetinaNetLabelEncoder(
                anchors,
                bounding_box_format="xyxy",
                encoding_format="center_xywh",
                positive_threshold=positive_iou,
                negative_threshold=negative_iou,
            ),
            pre_logits_num_conv_layers=spec.head_layers,
            preprocessor=keras_hub.models.RetinaNetObjectDetectorPreprocessor(
                image_converter=converter
            ),
            prediction_decoder=keras_hub.layers.NonMaxSuppression(
                bounding_box_format="xyxy",
                from_logits=True,
                confidence_threshold=MIN_CONFIDENCE,
                max_detections=MAX_DETECTIONS,
            ),
        )
        _start_at_the_prior_probability(detector)
        return detector
    backbone = encoder
    if not isinstance(encoder, keras_hub.models.DeepLabV3Backbone):
        backbone = keras_hub.models.DeepLabV3Backbone(
            image_encoder=_pyramid_encoder(encoder, preset),
            spatial_pyramid_pooling_key="P5",
            upsampling_size=8,
            dilation_rates=list(spec.dilation_rates),
            low_level_feature_key="P2",
            projection_filters=spec.projection_filters,
        )
    return keras_hub.models.DeepLabV3ImageSegmenter(
        backbone=backbone,
        num_classes=num_classes,
        preprocessor=keras_hub.models.DeepLabV3ImageSegmenterPreprocessor(
            image_converter=converter
        ),
    )


def _start_at_the_prior_probability(detector):
    """Sets the classification logits' bias to RetinaNet's prior.

    RetinaNet starts every anchor at a probability of
    `classification_head_prior_probability` (0.01) of each class, so that
    the focal loss of the many background anchors does not swamp the first
    steps. KerasHub gives that bias to its box head and leaves the
    classification head at 0 (probability 0.5): its first steps have a
    loss in the hundreds, whose clipped gradients a short training run
    spends recovering from.
    """
    probability = detector.box_head.prior_probability
    bias = detector.classification_head.prediction_layer.bias
    bias.assign(np.full(bias.shape, -np.log((1 - probability) / probability),
                        bias.dtype))


def _keras_hub_resnet(spec):
    import keras_hub

    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=list(spec.filters),
        stackwise_num_blocks=list(spec.blocks),
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block" if spec.bottleneck else "basic_block",
    )


def _pyramid_encoder(encoder, preset):
    levels = set(getattr(encoder, "pyramid_outputs", None) or ())
    if not {"P2", "P3", "P4", "P5"} <= levels:
        raise ValueError(
            f"`preset` {preset!r} is a {type(encoder).__name__}, which is "
            "neither a RetinaNetBackbone / DeepLabV3Backbone nor an image "
            "encoder with feature pyramid outputs P2-P5 (such as a "
            "ResNetBackbone preset)."
        )
    return encoder


def _preset_image_converter(preset):
    """The preset's image converter without resizing, or pixel / 255."""
    import keras_hub

    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except (ValueError, FileNotFoundError):
        return keras_hub.layers.ImageConverter(scale=1.0 / 255)
    converter.image_size = None
    return converter


def _keras_cv_model(task, num_classes, spec, anchor_size, positive_iou,
                    negative_iou):
    import keras_cv

    backbone = keras_cv.models.ResNetBackbone(
        stackwise_filters=list(spec.filters),
        stackwise_blocks=list(spec.blocks),
        stackwise_strides=[1, 2, 2, 2],
        include_rescaling=True,
        block_type="block" if spec.bottleneck else "basic_block",
    )
    if task == "segmentation":
        return keras_cv.models.DeepLabV3Plus(
            num_classes=num_classes,
            backbone=backbone,
            projection_filters=spec.projection_filters,
        )
    anchors = keras_cv.layers.AnchorGenerator(
        bounding_box_format="xyxy",
        sizes=[anchor_size * 2**level for level in range(3, 8)],
        aspect_ratios=[0.5, 1.0, 2.0],
        scales=[2**x for x in (0, 1 / 3, 2 / 3)],
        strides=[2**level for level in range(3, 8)],
        clip_boxes=True,
    )
    return keras_cv.models.RetinaNet(
        num_classes=num_classes,
        bounding_box_format="xyxy",
        backbone=backbone,
        # KerasCV's own label encoder but for the thresholds; the model
        # takes its anchor generator from it.
        label_encoder=keras_cv.models.retinanet.LabelEncoder(
            bounding_box_format="xyxy",
            anchor_generator=anchors,
            positive_threshold=positive_iou,
            negative_threshold=negative_iou,
            box_variance=[0.1, 0.1, 0.2, 0.2],
        ),
        prediction_decoder=keras_cv.layers.NonMaxSuppression(
            bounding_box_format="xyxy",
            from_logits=True,
            confidence_threshold=MIN_CONFIDENCE,
            max_detections=MAX_DETECTIONS,
            # KerasCV's NMS compares float16 scores with float32 thresholds.
            dtype="float32",
        ),
    )
