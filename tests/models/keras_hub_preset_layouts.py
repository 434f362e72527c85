"""KerasHub task models with the configuration of a named preset, at tiny
widths, for the tests of `wrap(<Task>.from_preset(NAME))`.

Presets cannot be downloaded here, and their metadata in KerasHub
(`keras_hub/src/models/*/*_presets.py`) holds no architecture. Each builder
reproduces what the preset's conversion script (or the model's docs) builds:
the same backbone classes, stage layout, pyramid levels, head layout and
image converter size, with fewer channels. The image converters rescale as
the presets do (ImageNet mean and standard deviation) where that is known,
and by 1/255 otherwise; the wrapped model keeps the rescaling either way.
"""

import keras_hub

from tests.models import keras_hub_builders

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_SCALE = [1.0 / 255.0 / s for s in IMAGENET_STD]
IMAGENET_OFFSET = [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]


def resnet50_layout():
    """`resnet_50_imagenet`'s layout (a 7x7 stem, bottleneck stages of 3,
    4, 6 and 3 blocks of strides 1, 2, 2, 2: levels P2-P5) with 8 filters
    in the later stages instead of 128 to 512 (KerasHub requires 64 in the
    first)."""
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[8],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 8, 8, 8],
        stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        use_pre_activation=False,
    )


def retinanet_resnet50_fpn_coco():
    """`retinanet_resnet50_fpn_coco` (the `_v2_` preset differs by
    `use_p5=True` and group-normalised heads): a ResNet50 encoder, a
    feature pyramid P3-P7 built from C5, four head convolutions, the 91
    COCO classes of torchvision's weights, and an 800x800 image converter.
    KerasHub fixes the pyramid and head widths (256)."""
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=resnet50_layout(),
        min_level=3,
        max_level=7,
        use_p5=False,
    )
    converter = keras_hub.layers.RetinaNetImageConverter(
        image_size=(800, 800),
        pad_to_aspect_ratio=True,
        crop_to_aspect_ratio=False,
        scale=IMAGENET_SCALE,
        offset=IMAGENET_OFFSET,
    )
    return keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone,
        num_classes=91,
        preprocessor=keras_hub.models.RetinaNetObjectDetectorPreprocessor(
            image_converter=converter
        ),
    )


def deeplab_v3_plus_resnet50_pascalvoc():
    """`deeplab_v3_plus_resnet50_pascalvoc`: a ResNet50 encoder, ASPP on P5
    with dilation rates 6, 12 and 18, upsampled 8x onto the P2 decoder
    features, the 21 Pascal VOC classes, and a 512x512 image converter."""
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=resnet50_layout(),
        spatial_pyramid_pooling_key="P5",
        upsampling_size=8,
        dilation_rates=[6, 12, 18],
        low_level_feature_key="P2",
        projection_filters=8,
    )
    converter = keras_hub.layers.DeepLabV3ImageConverter(
        image_size=(512, 512), scale=1.0 / 255.0
    )
    return keras_hub.models.DeepLabV3ImageSegmenter(
        backbone=backbone,
        num_classes=21,
        preprocessor=keras_hub.models.DeepLabV3ImageSegmenterPreprocessor(
            image_converter=converter
        ),
    )


def segformer_b0_ade20k_512(size=64):
    """`segformer_b0_ade20k_512`: a MiT-B0 encoder (two blocks in each of
    four stages of strides 4, 2, 2, 2, patch sizes 7, 3, 3, 3, 1 to 8 heads,
    sequence reduction 8, 4, 2, 1) and the 150 ADE20k classes, with 8 to 32
    channels instead of 32 to 256 and a square `size` instead of 512 as the
    encoder's fixed `image_shape` and the image converter's size."""
    encoder = keras_hub.models.MiTBackbone(
        layerwise_depths=[2, 2, 2, 2],
        num_layers=4,
        layerwise_num_heads=[1, 2, 5, 8],
        layerwise_sr_ratios=[8, 4, 2, 1],
        max_drop_path_rate=0.1,
        layerwise_patch_sizes=[7, 3, 3, 3],
        layerwise_strides=[4, 2, 2, 2],
        image_shape=(size, size, 3),
        hidden_dims=[10, 16, 40, 64],
    )
    backbone = keras_hub.models.SegFormerBackbone(
        image_encoder=encoder, projection_filters=16
    )
    converter = keras_hub.layers.SegFormerImageConverter(
        image_size=(size, size), scale=IMAGENET_SCALE, offset=IMAGENET_OFFSET
    )
    return keras_hub.models.SegFormerImageSegmenter(
        backbone=backbone,
        num_classes=150,
        preprocessor=keras_hub.models.SegFormerImageSegmenterPreprocessor(
            image_converter=converter
        ),
    )


def dfine_nano_coco(size=64):
    """`dfine_nano_coco`: `keras_hub_builders.dfine` (the nano preset's
    HGNetV2 and hybrid-encoder layout, fewer layers and channels) with the
    80 COCO classes, and an image converter resizing to the backbone's
    `anchor_image_size`, a square `size` instead of 640."""
    converter = keras_hub.layers.DFineImageConverter(
        image_size=(size, size), scale=1.0 / 255.0
    )
    return keras_hub_builders.dfine(
        num_classes=80,
        image_size=(size, size),
        preprocessor=keras_hub.models.DFineObjectDetectorPreprocessor(
            image_converter=converter
        ),
    )
