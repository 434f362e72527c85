"""TF Serving's REST JSON request format, decoded with checks."""

import grpc
import numpy as np
import pytest

from keras_lzu.serving import ServingError
from keras_lzu.serving import rest_json


def _invalid(body, dtypes):
    with pytest.raises(ServingError) as info:
        rest_json.decode_request(body, dtypes)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.message


def test_inputs_nested_past_the_recursion_limit_are_invalid():
    nested = {"b64": ""}
    for _ in range(20_000):
        nested = [nested]
    message = _invalid({"inputs": nested}, {"image_bytes": object})
    assert "nested too deeply" in message


def test_empty_instances_are_invalid():
    assert "'instances' is empty" in _invalid({"instances": []},
                                              {"images": np.uint8})


def test_empty_inputs_keep_their_shape_for_the_signature_check():
    arrays, _ = rest_json.decode_request({"inputs": [[[[]]]]},
                                         {"images": np.uint8})
    assert arrays["images"].shape == (1, 1, 1, 0)
    assert arrays["images"].dtype == np.uint8


def test_unknown_input_names_are_echoed_cut_short():
    message = _invalid({"inputs": {"x" * 100_000: [1]}}, {"images": np.uint8})
    assert "... (100000 characters)" in message
    assert len(message) < 500
