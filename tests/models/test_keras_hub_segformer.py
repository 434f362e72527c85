"""`keras_lzu.wrap` of a KerasHub `SegFormerImageSegmenter`.

The checks every family shares (identity, caller's frame, fit, `.keras`
round trip, export, bad input) are in `test_families.py`; this module
checks what is particular to SegFormer: the sizes its MiT encoder takes.
The preset path `wrap(SegFormerImageSegmenter.from_preset(...))` is checked
with every KerasHub family's in `test_keras_hub_presets.py`.
"""

import pytest

import keras_lzu
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

