"""Malformed requests get an error status, never a crash or an OK."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

import fake_models
from keras_lzu.serving import GrpcPredictionClient

pytestmark = pytest.mark.tensorflow_only

ERROR_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
DTYPES = [types_pb2.DT_UINT8, types_pb2.DT_FLOAT, types_pb2.DT_INT32,
          types_pb2.DT_STRING, types_pb2.DT_INT64, types_pb2.DT_BOOL,
          types_pb2.DT_HALF, types_pb2.DT_RESOURCE, 9999]


def _random_tensor(rng):
    proto = tensor_pb2.TensorProto()
    proto.dtype = DTYPES[rng.integers(len(DTYPES))]
    kind = rng.integers(6)
    rank = int(rng.integers(0, 6))
    if kind == 0:  # Huge dims, no content.
        dims = [int(rng.integers(1, 2**40)) for _ in range(rank or 1)]
    elif kind == 1:  # Negative dims.
        dims = [int(rng.integers(-5, 5)) for _ in range(rank)]
    else:
        dims = [int(rng.integers(0, 6)) for _ in range(rank)]
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    if kind == 2:
        proto.tensor_shape.unknown_rank = True
    if kind == 3:
        proto.tensor_content = rng.bytes(int(rng.integers(0, 64)))
    elif kind == 4:
        proto.int_val.extend(rng.integers(-1000, 1000, rng.integers(0, 20)))
    elif kind == 5:
        proto.string_val.extend(rng.bytes(int(rng.integers(0, 40)))
                                for _ in range(int(rng.integers(0, 4))))
    return proto


def _random_request(rng):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "detector" if rng.random() < 0.9 else "x"
    signature = rng.choice(["", "serving_default", "predict_encoded",
                            "metadata", "nope"])
    request.model_spec.signature_name = signature
    names = ["images", "image_bytes", "other", ""]
    for _ in range(int(rng.integers(0, 3))):
        request.inputs[names[rng.integers(len(names))]].CopyFrom(
            _random_tensor(rng))
    if rng.random() < 0.1:
        request.output_filter.append("nope")
    return request


def _garbage_image_request(rng):
    # Valid dtype and shape for predict_encoded, bytes that do not decode.
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "detector"
    request.model_spec.signature_name = "predict_encoded"
    data = [rng.bytes(int(rng.integers(0, 200)))]
    if rng.random() < 0.5:  # A plausible header followed by garbage.
        prefix = rng.choice([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0"])
        data = [prefix + data[0]]
    request.inputs["image_bytes"].CopyFrom(
        tf.make_tensor_proto(np.array(data, dtype=object)))
    return request


def test_malformed_requests_fail_cleanly_and_server_keeps_working(
        server, detector):
    rng = np.random.default_rng(20230617)
    channel = grpc.insecure_channel(server.target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    codes = {}
    for index in range(300):
        request = (_garbage_image_request(rng) if index % 4 == 0
                   else _random_request(rng))
        try:
            stub.Predict(request, timeout=30)
        except grpc.RpcError as error:
            codes[error.code()] = codes.get(error.code(), 0) + 1
            assert error.code() in ERROR_CODES, (
                error.code(), error.details(), request)
            continue
        # A random request can be valid only for the no-input signature.
        assert request.model_spec.signature_name == "metadata", request
    assert sum(codes.values()) >= 280
    channel.close()

    images = fake_models.random_images(rng, 1, 24, 24)
    with GrpcPredictionClient(server.target, "detector") as client:
        outputs = client.predict(images)
    expected = detector.infer(tf.constant(images, tf.float32))
    np.testing.assert_allclose(outputs["scores"], expected["scores"].numpy(),
                               rtol=1e-5)


@pytest.mark.parametrize("dims", [[2**31, 2**31, 3], [1, 10**6, 10**6, 3]])
def test_huge_declared_shape_is_rejected_without_allocating(server, dims):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "detector"
    proto = request.inputs["images"]
    proto.dtype = types_pb2.DT_UINT8
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    proto.int_val.append(7)  # One value "broadcast" to the whole shape.
    with grpc.insecure_channel(server.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bytes" in info.value.details()


def test_missing_and_unknown_inputs_are_named(server):
    with GrpcPredictionClient(server.target, "detector", retries=0) as client:
        with pytest.raises(grpc.RpcError, match="Missing input"):
            client.predict_tensors({})
        with pytest.raises(grpc.RpcError, match="Unknown input"):
            client.predict_tensors({
                "images": np.zeros((1, 4, 4, 3), np.uint8),
                "extra": np.zeros(1, np.float32),
            })
        with pytest.raises(grpc.RpcError, match="rank 4"):
            client.predict_tensors({"images": np.zeros((4, 4, 3), np.uint8)})
        with pytest.raises(grpc.RpcError, match="shape"):
            client.predict_tensors({"images": np.zeros((1, 4, 4, 1),
                                                       np.uint8)})
