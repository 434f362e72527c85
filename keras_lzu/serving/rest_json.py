"""TF Serving's REST JSON formats, both directions.

Requests carry either `"instances"` (row format: one entry per batch item;
an entry is the value of the only input or an object of named inputs) or
`"inputs"` (columnar: the value of the only input or an object of named
batched inputs). Responses carry `"predictions"` (row) or `"outputs"`
(columnar) likewise. Binary strings travel as `{"b64": "<base64>"}`; string
outputs are base64-encoded that way when their name ends in `_bytes`, and
sent as UTF-8 text otherwise.
"""

import base64
import binascii

import numpy as np

from keras_lzu.serving.errors import invalid_argument
from keras_lzu.serving.errors import shorten


def encode_value(array, as_b64=True):
    """Returns a JSON-ready nested list (or scalar) for a NumPy array."""
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind in "SU":
        encode = _b64 if as_b64 else _text
        encoded = np.empty(array.shape, dtype=object)
        encoded.reshape(-1)[:] = [encode(item) for item in array.reshape(-1)]
        return encoded.tolist()
    return array.tolist()


def decode_value(value, np_dtype, name):
    """Builds an array of `np_dtype` from a JSON value (b64 objects for
    strings).

    Raises:
        ServingError: INVALID_ARGUMENT if the value is ragged, of the wrong
            kind, or out of the dtype's range.
    """
    np_dtype = np.dtype(np_dtype)
    if np_dtype == object:
        array = _rectangular(_map_strings(value, name), name, dtype=object)
        if not all(isinstance(item, bytes) for item in array.reshape(-1)):
            raise invalid_argument(
                f"Input '{name}' is not a rectangular array of strings."
            )
        return array
    array = _rectangular(value, name)
    if array.size == 0:  # `[]` parses as float64; its shape is checked later.
        return array.astype(np_dtype)
    if array.dtype.kind not in "biuf" or array.dtype == object:
        raise invalid_argument(
            f"Input '{name}' must hold numbers of type {np_dtype.name}."
        )
    if np_dtype.kind in "iu":
        if array.dtype.kind == "f":
            raise invalid_argument(
                f"Input '{name}' must hold integers ({np_dtype.name}), got "
                "floating point numbers."
            )
        info = np.iinfo(np_dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise invalid_argument(
                f"Input '{name}' has values outside the range of "
                f"{np_dtype.name}."
            )
    return array.astype(np_dtype)


def decode_request(body, input_dtypes):
    """Parses a `:predict` request body.

    Args:
        body: the parsed JSON object.
        input_dtypes: `{input name: NumPy dtype}` of the signature (`object`
            for strings).

    Returns:
        `(arrays, row_format)`: the inputs, and whether the response should
        use `"predictions"` (True) or `"outputs"`.
    """
    try:
        return _decode_request(body, input_dtypes)
    except RecursionError:
        raise invalid_argument(
            "The request's inputs are nested too deeply."
        ) from None


def _decode_request(body, input_dtypes):
    if not isinstance(body, dict):
        raise invalid_argument("The request body must be a JSON object.")
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances == has_inputs:
        raise invalid_argument(
            "The request must have exactly one of 'instances' (row format) "
            "and 'inputs' (columnar format)."
        )
    names = sorted(input_dtypes)
    if has_inputs:
        inputs = body["inputs"]
        if len(names) == 1 and not _is_named(inputs):
            inputs = {names[0]: inputs}
        if not isinstance(inputs, dict):
            raise invalid_argument("'inputs' must be an object of inputs.")
        return {name: _decode_known(name, value, input_dtypes)
                for name, value in inputs.items()}, False
    instances = body["instances"]
    if not isinstance(instances, list):
        raise invalid_argument("'instances' must be a list.")
    if not instances:
        raise invalid_argument("'instances' is empty; send at least one.")
    columns = {}
    for index, instance in enumerate(instances):
        if len(names) == 1 and not _is_named(instance):
            instance = {names[0]: instance}
        if not isinstance(instance, dict):
            raise invalid_argument(
                f"instances[{index}] must be an object of named inputs."
            )
        if columns and set(instance) != set(columns):
            raise invalid_argument(
                f"instances[{index}] has inputs "
                f"{[shorten(key) for key in sorted(instance)]}, the first "
                f"has {[shorten(key) for key in sorted(columns)]}."
            )
        for name, value in instance.items():
            columns.setdefault(name, []).append(value)
    return {name: _decode_known(name, values, input_dtypes)
            for name, values in columns.items()}, True


def encode_response(outputs, row_format):
    """Builds the `:predict` response object from `{name: np.ndarray}`."""
    encoded = {name: encode_value(value, as_b64=name.endswith("_bytes"))
               for name, value in outputs.items()}
    if not row_format:
        if len(encoded) == 1:
            return {"outputs": next(iter(encoded.values()))}
        return {"outputs": encoded}
    sizes = {np.asarray(value).shape[:1] for value in outputs.values()}
    if len(sizes) != 1 or sizes == {()}:
        raise invalid_argument(
            "Outputs have no common batch size; use the columnar 'inputs' "
            "request format for this signature."
        )
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    (size,) = sizes.pop()
    return {"predictions": [
        {name: value[i] for name, value in encoded.items()}
        for i in range(size)
    ]}


def _decode_known(name, value, input_dtypes):
    if name not in input_dtypes:
        raise invalid_argument(
            f"Unknown input '{shorten(name)}'; the signature takes "
            f"{sorted(input_dtypes)}."
        )
    return decode_value(value, input_dtypes[name], name)


def _is_named(value):
    return isinstance(value, dict) and set(value) != {"b64"}


def _rectangular(value, name, dtype=None):
    try:
        array = np.array(value, dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        raise invalid_argument(
            f"Input '{name}' is not a rectangular array of one type."
        ) from None
    if dtype is None and array.dtype == object:
        raise invalid_argument(
            f"Input '{name}' is not a rectangular array of one type."
        )
    return array


def _map_strings(value, name):
    if isinstance(value, list):
        return [_map_strings(item, name) for item in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise invalid_argument(
                f"Input '{name}' has an invalid base64 string."
            ) from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise invalid_argument(
        f"Input '{name}' must hold strings or {{\"b64\": ...}} objects."
    )


def _b64(item):
    return {"b64": base64.b64encode(bytes(item)).decode("ascii")}


def _text(item):
    if isinstance(item, bytes):
        return item.decode("utf-8", errors="replace")
    return str(item)
