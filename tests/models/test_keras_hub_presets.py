"""The user's path `keras_lzu.wrap(<Task>.from_preset(NAME), output_size)`
for each KerasHub family.

Presets cannot be downloaded here. Each case builds its family's model with
a named preset's configuration at tiny widths (`keras_hub_preset_layouts`),
saves it with `save_to_preset` and loads it back with
`<Task>.from_preset(directory)`: what `from_preset(NAME)` does once the
files are downloaded, preprocessor included. Then `wrap` must accept the
sizes the preset's layout allows, run like the loaded model on uniformly
resized images, and refuse the others naming the multiple that layout
needs (RetinaNet's P7 makes it 128, not the 32 of the smaller models the
other tests use).
"""

import dataclasses
from typing import Callable

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from tests.models import keras_hub_preset_layouts
from tests.models.conftest import uniform_zoom

IMAGE_SIZE = (96, 160)


@dataclasses.dataclass(frozen=True)
class PresetCase:
    """A preset's configuration and the sizes `wrap` must take and refuse.

    Attributes:
        preset: the preset's name.
        task_class: the KerasHub task class `from_preset` is called on.
        build: builds the model with the preset's configuration.
        converter_size: the `image_size` of the preset's image converter.
        output_size: a size `wrap` takes for this layout.
        bad_output_size: a size it refuses.
        error: a regular expression the refusal's message must match.
    """

    preset: str
    task_class: str
    build: Callable
    converter_size: tuple
    output_size: tuple
    bad_output_size: tuple
    error: str

    def __str__(self):
        return self.preset


CASES = (
    PresetCase(
        preset="retinanet_resnet50_fpn_coco",
        task_class="RetinaNetObjectDetector",
        build=keras_hub_preset_layouts.retinanet_resnet50_fpn_coco,
        converter_size=(800, 800),
        output_size=(128, 256),
        # The preset's own resolution: 800 is no multiple of 2**7.
        bad_output_size=(800, 800),
        error=r"`output_size` must be a multiple of 128 .* level P7's anchors "
        r"128 pixels apart.* Received: output_size=\(800, 800\)\. The nearest valid size "
        r"is \(768, 768\)\.",
    ),
    PresetCase(
        preset="deeplab_v3_plus_resnet50_pascalvoc",
        task_class="DeepLabV3ImageSegmenter",
        build=keras_hub_preset_layouts.deeplab_v3_plus_resnet50_pascalvoc,
        converter_size=(512, 512),
        output_size=(64, 96),
        bad_output_size=(500, 500),
        error=r"`output_size` must be a multiple of 32 .* Received: "
        r"output_size=\(500, 500\)\. The nearest valid size is \(512, 512\)\.",
    ),
    PresetCase(
        preset="segformer_b0_ade20k_512",
        task_class="SegFormerImageSegmenter",
        build=keras_hub_preset_layouts.segformer_b0_ade20k_512,
        converter_size=(64, 64),
        output_size=(64, 64),
        # A multiple of 32 and square, but not the MiT's fixed image_shape.
        bad_output_size=(96, 96),
        error=r"fixed input size \(64, 64\), so `output_size` must equal it\. "
        r"Received: output_size=\(96, 96\)",
    ),
    PresetCase(
        preset="dfine_nano_coco",
        task_class="DFineObjectDetector",
        build=keras_hub_preset_layouts.dfine_nano_coco,
        converter_size=(64, 64),
        output_size=(64, 64),
        # A multiple of 32, but not the backbone's anchor_image_size.
        bad_output_size=(96, 96),
        error=r"`output_size` must equal the DFineObjectDetector's "
        r"anchor_image_size \(64, 64\).* Received: output_size=\(96, 96\)",
    ),
)

per_case = pytest.mark.parametrize("case", CASES, ids=str)


@pytest.fixture(scope="module")
def loaded_models():
    return {}


@pytest.fixture
def loaded(case, loaded_models, tmp_path_factory):
    """The case's model, saved as a preset and loaded with `from_preset`."""
    if case.preset not in loaded_models:
        keras.utils.set_random_seed(11)
        directory = str(tmp_path_factory.mktemp(case.preset))
        case.build().save_to_preset(directory)
        task_class = getattr(keras_hub.models, case.task_class)
        loaded_models[case.preset] = task_class.from_preset(directory)
    return loaded_models[case.preset]


@per_case
def test_a_model_loaded_with_from_preset_is_wrapped(case, loaded):
    assert type(loaded).__name__ == case.task_class
    converter = loaded.preprocessor.image_converter
    assert tuple(converter.image_size) == case.converter_size

    model = keras_lzu.wrap(loaded, output_size=case.output_size)

    # The zoom replaces the preset's resize; its rescaling stays.
    wrapped_converter = model.preprocessor.image_converter
    assert wrapped_converter.image_size is None
    assert wrapped_converter.scale == converter.scale
    assert wrapped_converter.offset == converter.offset
    images = np.random.default_rng(0).uniform(
        0, 1, (2, *IMAGE_SIZE, 3)
    ).astype("float32")
    ours = model(images, training=False)
    expected = loaded(uniform_zoom(images, case.output_size), training=False)
    if isinstance(expected, dict):
        # RetinaNet's heads are 256 wide whatever the widths above, so its
        # outputs reach about 10: float32 rounding is relative there.
        for key in expected:
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(ours[key]),
                keras.ops.convert_to_numpy(expected[key]),
                rtol=1e-4, atol=1e-4, err_msg=key,
            )
    else:
        # Score maps come back in the images' frame.
        expected = tf.image.resize(
            keras.ops.convert_to_numpy(expected), IMAGE_SIZE
        ).numpy()
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours), expected, atol=1e-4
        )


@per_case
def test_an_output_size_the_preset_layout_refuses_is_named(case, loaded):
    with pytest.raises(ValueError, match=case.error):
        keras_lzu.wrap(loaded, output_size=case.bad_output_size)
