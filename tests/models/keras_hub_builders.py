"""Tiny KerasHub models for the adapter tests (no presets, no downloads)."""

import keras
import keras_hub


@keras.saving.register_keras_serializable(package="keras_lzu_tests")
class TinyPyramidEncoder(keras_hub.models.FeaturePyramidBackbone):
    """Four strided convolutions with pyramid outputs P2-P5 (strides 4-32).

    A stand-in for a ResNet image encoder that builds and traces in a
    fraction of the time.
    """

    def __init__(self, filters=8, image_shape=(None, None, 3), **kwargs):
        inputs = keras.Input(image_shape, name="inputs")
        x = keras.layers.Conv2D(
            filters, 3, strides=4, padding="same", activation="relu",
            name="stem",
        )(inputs)
        pyramid = {"P2": x}
        for level in (3, 4, 5):
            x = keras.layers.Conv2D(
                filters, 3, strides=2, padding="same", activation="relu",
                name=f"stage_{level}",
            )(x)
            pyramid[f"P{level}"] = x
        super().__init__(inputs=inputs, outputs=x, **kwargs)
        self.filters = filters
        self.image_shape = image_shape
        self.pyramid_outputs = pyramid

    def get_config(self):
        config = super().get_config()
        config.update(
            {"filters": self.filters, "image_shape": self.image_shape}
        )
        return config


def retinanet(num_classes=3, bounding_box_format="xyxy", preprocessor=None):
    """A RetinaNetObjectDetector with levels P3-P5 and one head conv.

    Its class prior and decoder threshold are such that an untrained model
    already returns some (at most 10) detections.
    """
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=TinyPyramidEncoder(),
        min_level=3,
        max_level=5,
        use_p5=False,
    )
    return keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone,
        num_classes=num_classes,
        bounding_box_format=bounding_box_format,
        pre_logits_num_conv_layers=1,
        classification_head_prior_probability=0.3,
        preprocessor=preprocessor,
        prediction_decoder=keras_hub.layers.NonMaxSuppression(
            bounding_box_format=bounding_box_format,
            from_logits=True,
            confidence_threshold=0.3,
            max_detections=10,
        ),
    )


def deeplab(num_classes=4, preprocessor=None):
    """A DeepLabV3+ segmenter: ASPP on P5, decoder skip from P2."""
    backbone = keras_hub.models.DeepLabV3Backbone(
        image_encoder=TinyPyramidEncoder(),
        spatial_pyramid_pooling_key="P5",
        upsampling_size=8,
        dilation_rates=[2, 4],
        low_level_feature_key="P2",
        projection_filters=8,
    )
    return keras_hub.models.DeepLabV3ImageSegmenter(
        backbone=backbone,
        num_classes=num_classes,
        preprocessor=preprocessor,
    )


def segformer(num_classes=4, size=64, preprocessor=None):
    """A SegFormer with the presets' MiT layout at tiny widths.

    Like `segformer_b0_ade20k_512` (four MiT stages of strides 4, 2, 2, 2,
    patch sizes 7, 3, 3, 3, sequence reduction 8, 4, 2, 1), with one block
    per stage, 8 to 32 channels (distinct: the decoder names its layers by them) and a square `size` input.
    """
    encoder = keras_hub.models.MiTBackbone(
        layerwise_depths=[1, 1, 1, 1],
        num_layers=4,
        layerwise_num_heads=[1, 1, 2, 2],
        layerwise_sr_ratios=[8, 4, 2, 1],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3, 3, 3],
        layerwise_strides=[4, 2, 2, 2],
        image_shape=(size, size, 3),
        hidden_dims=[8, 16, 24, 32],
    )
    backbone = keras_hub.models.SegFormerBackbone(
        image_encoder=encoder, projection_filters=8
    )
    return keras_hub.models.SegFormerImageSegmenter(
        backbone=backbone,
        num_classes=num_classes,
        preprocessor=preprocessor,
    )


def dfine(num_classes=4, image_size=(64, 64), bounding_box_format="yxyx",
          preprocessor=None):
    """A D-FINE detector with the `dfine_nano_coco` layout at tiny widths.

    Like the nano preset: an HGNetV2 of four stages (1, 1, 2, 1 blocks,
    kernels 3, 3, 5, 5, downsampling from the second stage, lightweight
    blocks in the last two) whose last two levels (strides 16 and 32) feed
    the hybrid encoder, and no denoising labels. Smaller than the preset
    where TensorFlow's tracing of the training step grows with the depth
    (the preset's in brackets): 8 to 32 channels, one layer per HGNetV2
    block (3), one bottleneck per encoder CSP block (2), one decoder layer
    (3; each adds a Hungarian matching to the loss), no denoising queries
    (100, unused without denoising labels), 10 queries (300), and an
    `image_size` `(height, width)` input (640 x 640). Its decoder keeps
    boxes of confidence above 0.2, so that an untrained model (scores
    about 0.25 to 0.8) already returns some.
    """
    hgnetv2 = keras_hub.models.HGNetV2Backbone(
        stem_channels=[3, 8, 8],
        stackwise_stage_filters=[
            [8, 8, 16, 1, 1, 3],
            [16, 8, 16, 1, 1, 3],
            [16, 8, 24, 2, 1, 5],
            [24, 8, 32, 1, 1, 5],
        ],
        apply_downsample=[False, True, True, True],
        use_lightweight_conv_block=[False, False, True, True],
        depths=[1, 1, 2, 1],
        hidden_sizes=[16, 16, 24, 32],
        embedding_size=8,
        use_learnable_affine_block=True,
        hidden_act="relu",
        image_shape=(None, None, 3),
        out_features=["stage3", "stage4"],
    )
    backbone = keras_hub.models.DFineBackbone(
        backbone=hgnetv2,
        decoder_in_channels=[16, 16],
        encoder_hidden_dim=16,
        num_labels=num_classes,
        num_denoising=0,
        learn_initial_query=False,
        num_queries=10,
        anchor_image_size=tuple(image_size),
        feat_strides=[16, 32],
        num_feature_levels=2,
        hidden_dim=16,
        encoder_in_channels=[24, 32],
        encode_proj_layers=[1],
        num_attention_heads=2,
        encoder_ffn_dim=32,
        num_encoder_layers=1,
        hidden_expansion=0.34,
        depth_multiplier=0.34,
        eval_idx=-1,
        num_decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        decoder_n_points=[2, 2],
        lqe_hidden_dim=8,
        num_lqe_layers=2,
        out_features=["stage3", "stage4"],
        image_shape=(None, None, 3),
        seed=0,
    )
    return keras_hub.models.DFineObjectDetector(
        backbone=backbone,
        num_classes=num_classes,
        bounding_box_format=bounding_box_format,
        preprocessor=preprocessor,
        prediction_decoder=keras_hub.layers.NonMaxSuppression(
            bounding_box_format=bounding_box_format,
            from_logits=True,
            confidence_threshold=0.2,
            max_detections=10,
        ),
    )
