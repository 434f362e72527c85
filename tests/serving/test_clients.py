"""Client behaviour: retries on UNAVAILABLE, input checks, REST round trip."""

import socket
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf

import fake_models
from keras_lzu.serving import GrpcPredictionClient
from keras_lzu.serving import LocalModelServer
from keras_lzu.serving import RestError
from keras_lzu.serving import RestPredictionClient

pytestmark = pytest.mark.tensorflow_only


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_grpc_client_retries_until_the_server_comes_up(export_root, rng):
    port = _free_port()
    server = LocalModelServer(str(export_root / "detector"), "detector",
                              port=port)
    starter = threading.Timer(0.5, server.start)
    starter.start()
    images = fake_models.random_images(rng, 1, 16, 16)
    try:
        with GrpcPredictionClient(f"127.0.0.1:{port}", "detector",
                                  retries=8, backoff=0.1) as client:
            began = time.monotonic()
            outputs = client.predict(images)
            assert time.monotonic() - began >= 0.4
        assert outputs["boxes"].shape == (1, 6, 4)
    finally:
        starter.join()
        server.stop(grace=0.5)


def test_grpc_client_gives_up_after_its_retries(rng):
    attempts = []
    client = GrpcPredictionClient(f"127.0.0.1:{_free_port()}", "detector",
                                  retries=2, backoff=0.01)
    original = client._prediction.Predict

    def counting(*args, **kwargs):
        attempts.append(1)
        return original(*args, **kwargs)

    client._prediction.Predict = counting
    with client, pytest.raises(grpc.RpcError) as info:
        client.predict(fake_models.random_images(rng, 1, 4, 4))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(attempts) == 3


def test_grpc_client_does_not_retry_invalid_argument(server):
    with GrpcPredictionClient(server.target, "detector", retries=5,
                              backoff=1.0) as client:
        began = time.monotonic()
        with pytest.raises(grpc.RpcError):
            client.predict_tensors({"images": np.zeros((1, 2, 2, 3),
                                                       np.float32)})
        assert time.monotonic() - began < 1.0


@pytest.mark.parametrize("images, message", [
    (np.zeros((4, 4, 3), np.float32), "uint8"),
    (np.zeros((4, 4), np.uint8), "shape"),
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)],
     "different sizes"),
])
def test_client_rejects_bad_images_locally(images, message):
    with GrpcPredictionClient("127.0.0.1:1", "m") as client:
        with pytest.raises(ValueError, match=message):
            client.predict(images)


def test_client_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="model_name"):
        GrpcPredictionClient("127.0.0.1:1", "")
    with pytest.raises(ValueError, match="timeout"):
        GrpcPredictionClient("127.0.0.1:1", "m", timeout=0)
    with pytest.raises(ValueError, match="base_url"):
        RestPredictionClient("127.0.0.1:8501", "m")


def test_rest_predict_equals_in_process_infer(server, detector, rng):
    images = fake_models.random_images(rng, 2, 33, 47)
    client = RestPredictionClient(server.rest_url, "detector")
    outputs = client.predict(images)
    expected = {k: v.numpy() for k, v in detector.infer(
        tf.constant(images, tf.float32)).items()}
    assert outputs["classes"].dtype == np.int32
    np.testing.assert_allclose(outputs["boxes"], expected["boxes"],
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(outputs["classes"], expected["classes"])


def test_rest_predict_encoded_uses_b64(server, segmenter, rng):
    image = fake_models.random_images(rng, 1, 29, 31)
    client = RestPredictionClient(server.rest_url, "segmenter")
    masks = client.predict_encoded(tf.io.encode_png(image[0]).numpy())["masks"]
    expected = segmenter.infer(tf.constant(image, tf.float32))["masks"]
    np.testing.assert_array_equal(masks, expected.numpy()[0])


def test_rest_status_and_metadata(server):
    client = RestPredictionClient(server.rest_url, "detector")
    assert client.get_model_status() == [
        {"version": 1, "state": "AVAILABLE", "error_code": "OK",
         "error_message": ""}
    ]
    metadata = client.get_model_metadata()
    assert metadata["version"] == 1
    assert metadata["signatures"]["serving_default"]["inputs"]["images"][
        "dtype"] == "uint8"


def test_rest_row_format_request(server, rng):
    import json
    import urllib.request

    image = fake_models.random_images(rng, 1, 8, 8)[0]
    body = json.dumps({"instances": [image.tolist(), image.tolist()]})
    request = urllib.request.Request(
        f"{server.rest_url}/v1/models/detector:predict", data=body.encode(),
        method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        predictions = json.loads(reply.read())["predictions"]
    assert len(predictions) == 2
    assert set(predictions[0]) == {"boxes", "scores", "classes",
                                   "num_detections"}
    assert predictions[0] == predictions[1]


@pytest.mark.parametrize("path, body, status", [
    ("/v1/models/nope", None, 404),
    ("/v1/models/detector/versions/9", None, 404),
    ("/v1/models/detector:predict", b"{not json", 400),
    ("/v1/models/detector:predict", b'{"instances": [[1.5]]}', 400),
    ("/v1/models/detector:predict", b'{"inputs": [[[[300, 0, 0]]]]}', 400),
    ("/v1/models/detector:predict", b'{"inputs": {}, "instances": []}', 400),
    ("/v1/models/detector:predict",
     b'{"signature_name": "predict_encoded", "inputs": [{"b64": "!!"}]}', 400),
    ("/v1/models/detector:predict",
     b'{"signature_name": "predict_encoded", "inputs": [{"b64": "AAAA"}]}',
     400),
    ("/v1/models/detector:predict",
     b'{"signature_name": "nope", "inputs": []}', 404),
    ("/etc/passwd", None, 404),
])
def test_rest_errors_have_tf_serving_status_codes(server, path, body,
                                                  status):
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        server.rest_url + path, data=body,
        method="GET" if body is None else "POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == status
    assert "error" in json.loads(info.value.read())


def test_rest_client_raises_rest_error_with_status(server):
    client = RestPredictionClient(server.rest_url, "nope", retries=0)
    with pytest.raises(RestError) as info:
        client.get_model_status()
    assert info.value.status == 404
