"""`keras_lzu.wrap` of a KerasHub `SegFormerImageSegmenter`.

The checks every family shares (identity, caller's frame, fit, `.keras`
round trip, export, bad input) are in `test_families.py`; this module
checks what is particular to SegFormer: the sizes its MiT encoder takes,
and the preset path `wrap(SegFormerImageSegmenter.from_preset(...))`.
"""

import keras_hub
import numpy as np
import pytest

import keras_lzu
from tests.models import family_checks
from tests.models import keras_hub_builders

pytestmark = pytest.mark.tensorflow_only

SIZE = 64


@pytest.fixture(scope="module")
def segmenter():
    return keras_hub_builders.segformer(num_classes=3, size=SIZE)


@pytest.mark.parametrize("output_size", [(64, 96), (96, 64)])
def test_a_non_square_output_size_is_refused(segmenter, output_size):
    with pytest.raises(
        ValueError,
        match=r"`output_size` must be square .* sqrt\(tokens\).*"
        rf"Received: output_size=\({output_size[0]}, {output_size[1]}\)",
    ):
        keras_lzu.wrap(segmenter, output_size)


def test_an_output_size_other_than_the_encoders_image_shape_is_refused(
    segmenter,
):
    with pytest.raises(
        ValueError,
        match=r"fixed input size \(64, 64\), so `output_size` must equal it"
        r"\. Received: output_size=\(96, 96\)",
    ):
        keras_lzu.wrap(segmenter, (96, 96))


def test_a_model_loaded_with_from_preset_is_wrapped(segmenter, tmp_path):
    """The user's path, `wrap(SegFormerImageSegmenter.from_preset(NAME))`,
    with a preset directory saved here standing in for a download."""
    segmenter.save_to_preset(str(tmp_path))
    loaded = keras_hub.models.SegFormerImageSegmenter.from_preset(
        str(tmp_path)
    )
    model = keras_lzu.wrap(loaded, output_size=(SIZE, SIZE))
    images = family_checks.images(seed=5)
    # `predict` runs the preset's preprocessor (its rescaling) in both.
    expected = family_checks.resized(
        loaded.predict(family_checks.resized(images, (SIZE, SIZE)), verbose=0),
        images.shape[1:3],
    )
    np.testing.assert_allclose(
        model.predict(images, verbose=0), expected, atol=1e-4
    )
