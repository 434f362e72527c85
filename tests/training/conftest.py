"""Fixtures of the `lzu train` tests: a tiny COCO dataset and a local
KerasHub preset, made once per session."""

import types

import pytest

from training_helpers import TRAIN_PARTS
from training_helpers import VAL_PARTS
from training_helpers import write_coco


@pytest.fixture(scope="session")
def coco(tmp_path_factory):
    """Training and validation sets, each with two image sizes."""
    root = tmp_path_factory.mktemp("coco")
    train = write_coco(root / "train", TRAIN_PARTS, "train")
    val = write_coco(root / "val", VAL_PARTS, "validation")
    return types.SimpleNamespace(
        train=train[0], train_images=train[1],
        val=val[0], val_images=val[1],
    )


@pytest.fixture(scope="session")
def preset_dir(tmp_path_factory):
    """A local KerasHub preset of the kind `resnet_50_imagenet` is: a
    `ResNetBackbone` image encoder (tiny widths) and an image converter
    that normalises pixels with ImageNet's mean and standard deviation."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(11)
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 64, 64, 64],
        stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
    )
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    converter = keras_hub.layers.ResNetImageConverter(
        scale=[1 / (255 * s) for s in std],
        offset=[-m / s for m, s in zip(mean, std)],
    )
    directory = str(tmp_path_factory.mktemp("preset") / "tiny_resnet")
    encoder.save_to_preset(directory)
    converter.save_to_preset(directory)
    return types.SimpleNamespace(
        path=directory,
        weights={w.path: w.numpy() for w in encoder.weights},
        scale=list(converter.scale),
        offset=list(converter.offset),
    )


@pytest.fixture
def out_dir(tmp_path):
    """An output directory that does not exist yet."""
    return str(tmp_path / "out")
