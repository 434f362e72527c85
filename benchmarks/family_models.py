"""Realistically sized models of the families `keras_lzu.wrap` supports.

`benchmarks.overhead --families` times each family's forward pass with and
without LZU. Presets cannot download here, so each model is its family's
smallest preset's own configuration (backbone class, stage layout, widths,
number of classes), built locally with random weights: the forward time
depends on the architecture only. The parameter counts match the presets'
metadata (`keras_hub` / `keras_cv` `*_presets.py`): RetinaNet 34,121,239
(the whole task), DeepLabV3 39,190,656 and YOLOv8-XS 1,277,680 (their
backbones), D-FINE nano 3,788,625; SegFormer-B0's backbone has 3,714,656
against the preset's 3,719,027.
"""

import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class FamilyModel:
    """One family's benchmark model.

    Attributes:
        name: the `--families` name.
        description: the model and the preset whose configuration it has.
        build: makes the unwrapped model (random weights).
        output_size: `(height, width)` the model (and the LZU zoom) works
            at; the benchmark's canvas is twice that.
        task: `"detection"` or `"segmentation"` (raw outputs are score
            maps, which a pipeline brings back to its input's frame).
    """

    name: str
    description: str
    build: Callable
    output_size: tuple
    task: str


def resnet50_encoder():
    """KerasHub's ResNet-50 (v1, bottleneck blocks) of `resnet_50_imagenet`."""
    import keras_hub

    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
        use_pre_activation=False,
    )


def retinanet_hub():
    """`retinanet_resnet50_fpn_coco`: ResNet-50, FPN P3-P7, 91 classes."""
    import keras_hub

    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=resnet50_encoder(), min_level=3, max_level=7,
        use_p5=False,
    )
    return keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=91, bounding_box_format="yxyx"
    )


def deeplabv3_hub():
    """`deeplab_v3_plus_resnet50_pascalvoc`: ResNet-50, ASPP on P5
    (rates 6, 12, 18), decoder skip from P2, 21 classes."""
    import keras_hub

    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=resnet50_encoder(),
        spatial_pyramid_pooling_key="P5",
        upsampling_size=8,
        dilation_rates=[6, 12, 18],
        low_level_feature_key="P2",
        projection_filters=48,
    )
    return keras_hub.models.DeepLabV3ImageSegmenter(
        backbone=backbone, num_classes=21
    )


def segformer():
    """`segformer_b0_ade20k_512`: MiT-B0 (two blocks per stage, 32-256
    channels), a 256-channel all-MLP decoder, 150 classes, 512x512."""
    import keras_hub

    encoder = keras_hub.models.MiTBackbone(
        layerwise_depths=[2, 2, 2, 2],
        num_layers=4,
        layerwise_num_heads=[1, 2, 5, 8],
        layerwise_sr_ratios=[8, 4, 2, 1],
        max_drop_path_rate=0.1,
        layerwise_patch_sizes=[7, 3, 3, 3],
        layerwise_strides=[4, 2, 2, 2],
        image_shape=(512, 512, 3),
        hidden_dims=[32, 64, 160, 256],
    )
    backbone = keras_hub.models.SegFormerBackbone(
        image_encoder=encoder, projection_filters=256
    )
    return keras_hub.models.SegFormerImageSegmenter(
        backbone=backbone, num_classes=150
    )


def yolov8():
    """KerasCV's `YOLOV8Detector` on `yolo_v8_xs_backbone` (32-256
    channels, C2f depths 1, 2, 2, 1), neck depth 1 (the XS/nano depth
    multiple), 80 classes."""
    import keras_cv

    backbone = keras_cv.models.YOLOV8Backbone(
        stackwise_channels=[32, 64, 128, 256],
        stackwise_depth=[1, 2, 2, 1],
        include_rescaling=True,
    )
    return keras_cv.models.YOLOV8Detector(
        backbone=backbone, num_classes=80, bounding_box_format="xyxy",
        fpn_depth=1,
    )


def dfine():
    """`dfine_nano_coco`: HGNetV2-B0 (16-1024 channels, 1, 1, 2, 1 blocks of
    three layers) whose strides 16 and 32 feed a 128-channel hybrid
    encoder, three decoder layers, 300 queries, 80 classes, 640x640. No
    denoising queries (they serve training only; the preset's parameter
    count leaves them out too)."""
    import keras_hub

    hgnetv2 = keras_hub.models.HGNetV2Backbone(
        stem_channels=[3, 16, 16],
        stackwise_stage_filters=[
            [16, 16, 64, 1, 3, 3],
            [64, 32, 256, 1, 3, 3],
            [256, 64, 512, 2, 3, 5],
            [512, 128, 1024, 1, 3, 5],
        ],
        apply_downsample=[False, True, True, True],
        use_lightweight_conv_block=[False, False, True, True],
        depths=[1, 1, 2, 1],
        hidden_sizes=[64, 256, 512, 1024],
        embedding_size=16,
        use_learnable_affine_block=True,
        hidden_act="relu",
        out_features=["stage3", "stage4"],
    )
    backbone = keras_hub.models.DFineBackbone(
        backbone=hgnetv2,
        decoder_in_channels=[128, 128],
        encoder_hidden_dim=128,
        num_labels=80,
        num_denoising=0,
        learn_initial_query=False,
        num_queries=300,
        anchor_image_size=(640, 640),
        feat_strides=[16, 32],
        num_feature_levels=2,
        hidden_dim=128,
        encoder_in_channels=[512, 1024],
        encode_proj_layers=[1],
        num_attention_heads=8,
        encoder_ffn_dim=512,
        num_encoder_layers=1,
        hidden_expansion=0.34,
        depth_multiplier=0.5,
        eval_idx=-1,
        num_decoder_layers=3,
        decoder_attention_heads=8,
        decoder_ffn_dim=512,
        decoder_n_points=[6, 6],
        lqe_hidden_dim=64,
        num_lqe_layers=2,
        out_features=["stage3", "stage4"],
    )
    return keras_hub.models.DFineObjectDetector(
        backbone=backbone, num_classes=80, bounding_box_format="yxyx"
    )


FAMILIES = (
    FamilyModel("retinanet_hub",
                "KerasHub RetinaNet, ResNet-50 FPN "
                "(retinanet_resnet50_fpn_coco)", retinanet_hub, (640, 640),
                "detection"),
    FamilyModel("deeplabv3_hub",
                "KerasHub DeepLabV3+, ResNet-50 "
                "(deeplab_v3_plus_resnet50_pascalvoc)", deeplabv3_hub,
                (512, 512), "segmentation"),
    FamilyModel("segformer", "KerasHub SegFormer-B0 (segformer_b0_ade20k_512)",
                segformer, (512, 512), "segmentation"),
    FamilyModel("yolov8", "KerasCV YOLOv8-XS (yolo_v8_xs_backbone)", yolov8,
                (640, 640), "detection"),
    FamilyModel("dfine", "KerasHub D-FINE nano (dfine_nano_coco)", dfine,
                (640, 640), "detection"),
)


def family_model(name):
    """The `FamilyModel` called `name`."""
    for family in FAMILIES:
        if family.name == name:
            return family
    raise ValueError(
        f"`name` must be one of {[f.name for f in FAMILIES]}. "
        f"Received: {name!r}"
    )
