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
