"""Checked conversion between `TensorProto`s and NumPy arrays.

`tf.make_ndarray` trusts the proto: a `tensor_shape` of `[10**6, 10**6]` with
no content makes it allocate the whole tensor. The server therefore decodes
request tensors here, checking dtype, dims, value counts and byte sizes
against limits before anything is allocated.
"""

import numpy as np
from tensorflow.core.framework import types_pb2

from keras_lzu.serving.errors import invalid_argument

# dtype enum -> (NumPy dtype, TensorProto field holding repeated values).
_NUMERIC = {
    types_pb2.DT_FLOAT: (np.float32, "float_val"),
    types_pb2.DT_DOUBLE: (np.float64, "double_val"),
    types_pb2.DT_INT8: (np.int8, "int_val"),
    types_pb2.DT_INT16: (np.int16, "int_val"),
    types_pb2.DT_INT32: (np.int32, "int_val"),
    types_pb2.DT_INT64: (np.int64, "int64_val"),
    types_pb2.DT_UINT8: (np.uint8, "int_val"),
    types_pb2.DT_UINT16: (np.uint16, "int_val"),
    types_pb2.DT_UINT32: (np.uint32, "uint32_val"),
    types_pb2.DT_UINT64: (np.uint64, "uint64_val"),
    types_pb2.DT_BOOL: (np.bool_, "bool_val"),
}
# Each repeated field read at a width that holds any of its values.
_WIDE = {
    "float_val": np.float32,
    "double_val": np.float64,
    "int_val": np.int64,
    "int64_val": np.int64,
    "uint32_val": np.uint64,
    "uint64_val": np.uint64,
    "bool_val": np.bool_,
}
MAX_RANK = 8


def dtype_name(dtype_enum):
    """Returns the TF name of a dtype enum (`"DT_UINT8"`), or its number."""
    try:
        return types_pb2.DataType.Name(dtype_enum)
    except ValueError:
        return str(dtype_enum)


def proto_to_array(proto, name, max_bytes):
    """Decodes a request `TensorProto` after checking it is well formed.

    Args:
        proto: a `tensorflow.TensorProto`.
        name: the input's name, for error messages.
        max_bytes: largest decoded size in bytes (strings count their
            lengths).

    Returns:
        A NumPy array (`dtype=object` of `bytes` for `DT_STRING`).

    Raises:
        ServingError: `INVALID_ARGUMENT` describing the first problem found.
    """
    shape = _checked_shape(proto, name)
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if proto.dtype == types_pb2.DT_STRING:
        return _string_array(proto, name, shape, count, max_bytes)
    if proto.dtype not in _NUMERIC:
        raise invalid_argument(
            f"Input '{name}' has unsupported dtype {dtype_name(proto.dtype)}."
        )
    np_dtype, field = _NUMERIC[proto.dtype]
    itemsize = np.dtype(np_dtype).itemsize
    if count * itemsize > max_bytes:
        raise invalid_argument(
            f"Input '{name}' of shape {shape} would take {count * itemsize} "
            f"bytes, over the limit of {max_bytes}."
        )
    if proto.tensor_content:
        if len(proto.tensor_content) != count * itemsize:
            raise invalid_argument(
                f"Input '{name}': tensor_content has "
                f"{len(proto.tensor_content)} bytes, shape {shape} of "
                f"{dtype_name(proto.dtype)} needs {count * itemsize}."
            )
        return np.frombuffer(proto.tensor_content, np_dtype).reshape(shape)
    values = getattr(proto, field)
    if len(values) != count and not (len(values) == 1 and count > 0):
        raise invalid_argument(
            f"Input '{name}' has {len(values)} values in {field}, shape "
            f"{shape} needs {count}."
        )
    array = np.asarray(values, dtype=_WIDE[field])
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise invalid_argument(
                f"Input '{name}' has values outside the range of "
                f"{dtype_name(proto.dtype)}."
            )
    array = array.astype(np_dtype)
    if len(values) == 1 and count != 1:
        return np.full(shape, array[0], np_dtype)
    return array.reshape(shape)


def array_to_proto(array):
    """Encodes a NumPy array (or scalar) as a `TensorProto`."""
    import tensorflow as tf

    return tf.make_tensor_proto(np.asarray(array))


def _checked_shape(proto, name):
    if proto.tensor_shape.unknown_rank:
        raise invalid_argument(f"Input '{name}' has an unknown rank.")
    dims = [dim.size for dim in proto.tensor_shape.dim]
    if len(dims) > MAX_RANK:
        raise invalid_argument(
            f"Input '{name}' has rank {len(dims)}, more than {MAX_RANK}."
        )
    if any(size < 0 for size in dims):
        raise invalid_argument(
            f"Input '{name}' has a negative dimension in shape {dims}."
        )
    return dims


def _string_array(proto, name, shape, count, max_bytes):
    if count > max_bytes:
        raise invalid_argument(
            f"Input '{name}' of shape {shape} has more elements than the "
            f"limit of {max_bytes}."
        )
    values = proto.string_val
    if len(values) != count:
        raise invalid_argument(
            f"Input '{name}' has {len(values)} values in string_val, shape "
            f"{shape} needs {count}."
        )
    array = np.empty(count, dtype=object)
    array[:] = list(values)
    return array.reshape(shape)
