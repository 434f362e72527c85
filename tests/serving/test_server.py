"""`LocalModelServer` through `GrpcPredictionClient`: TF Serving's gRPC API."""

import grpc
import numpy as np
import pytest
import tensorflow as tf

import fake_models
from keras_lzu.serving import GrpcPredictionClient
from keras_lzu.serving import LocalModelServer

pytestmark = pytest.mark.tensorflow_only


@pytest.fixture(scope="module")
def client(server):
    with GrpcPredictionClient(server.target, "detector", retries=0) as client:
        yield client


def _infer(model, images):
    return {k: v.numpy() for k, v in model.infer(
        tf.constant(images, tf.float32)).items()}


def _assert_detections_close(actual, expected):
    np.testing.assert_allclose(actual["boxes"], expected["boxes"],
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(actual["scores"], expected["scores"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(actual["classes"], expected["classes"])
    np.testing.assert_array_equal(actual["num_detections"],
                                  expected["num_detections"])


def _code(call):
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_predict_equals_in_process_infer(client, detector, rng):
    images = fake_models.random_images(rng, 3, 45, 61)
    _assert_detections_close(client.predict(images), _infer(detector, images))


def test_single_image_returns_unbatched_outputs(client, detector, rng):
    image = fake_models.random_images(rng, 1, 30, 30)[0]
    outputs = client.predict(image)
    assert outputs["boxes"].shape == (6, 4)
    assert outputs["num_detections"].shape == ()
    _assert_detections_close(
        {k: v[None] for k, v in outputs.items()}, _infer(detector, image[None])
    )


def test_predict_encoded_equals_infer_per_image(client, detector, rng):
    images = [fake_models.random_images(rng, 1, h, w)[0]
              for h, w in ((40, 52), (64, 33))]
    files = [tf.io.encode_png(image).numpy() for image in images]
    outputs = client.predict_encoded(files)
    for index, image in enumerate(images):
        _assert_detections_close(
            {k: v[index:index + 1] for k, v in outputs.items()},
            _infer(detector, image[None]),
        )


def test_segmentation_masks_equal_infer(server, segmenter, rng):
    images = fake_models.random_images(rng, 2, 41, 57)
    with GrpcPredictionClient(server.target, "segmenter") as client:
        masks = client.predict(images)["masks"]
    np.testing.assert_array_equal(masks, _infer(segmenter, images)["masks"])


def test_large_image_passes_message_size_limits(client, detector, rng):
    # 1200 x 1920 x 3 bytes = 6.9 MB, over gRPC's 4 MB default.
    image = np.broadcast_to(
        fake_models.random_images(rng, 1, 1, 1920), (1, 1200, 1920, 3)
    ).copy()
    _assert_detections_close(client.predict(image), _infer(detector, image))


def test_output_filter_returns_only_requested_outputs(client, rng):
    images = fake_models.random_images(rng, 1, 20, 20)
    outputs = client.predict(images, output_filter=["scores"])
    assert set(outputs) == {"scores"}


def test_model_metadata_lists_signatures(client):
    metadata = client.get_model_metadata()
    assert metadata["name"] == "detector"
    assert metadata["version"] == 1
    signatures = metadata["signatures"]
    assert set(signatures) == {"serving_default", "predict_encoded",
                               "metadata"}
    assert signatures["serving_default"]["inputs"]["images"] == {
        "dtype": "uint8", "shape": [-1, -1, -1, 3]}
    assert signatures["predict_encoded"]["inputs"]["image_bytes"] == {
        "dtype": "string", "shape": [-1]}
    assert signatures["serving_default"]["outputs"]["boxes"]["dtype"] == (
        "float32")


def test_lzu_metadata_signature(client):
    metadata = client.get_lzu_metadata()
    assert metadata["task"] == "detection"
    assert metadata["bounding_box_format"] == "xyxy"


def test_model_status_is_available(client):
    assert client.get_model_status() == [
        {"version": 1, "state": "AVAILABLE", "error_code": "OK",
         "error_message": ""}
    ]


@pytest.mark.parametrize("kwargs", [
    {"model_name": "nope"},
    {"model_name": "detector", "version": 7},
    {"model_name": "detector", "version_label": "stable"},
    {"model_name": "detector", "signature_name": "nope"},
])
def test_unknown_model_version_or_signature_is_not_found(server, kwargs, rng):
    images = fake_models.random_images(rng, 1, 10, 10)
    with GrpcPredictionClient(server.target, retries=0, **kwargs) as client:
        assert _code(lambda: client.predict(images)) == (
            grpc.StatusCode.NOT_FOUND)
        if "signature_name" not in kwargs:
            assert _code(client.get_model_status) == grpc.StatusCode.NOT_FOUND
            assert _code(client.get_model_metadata) == (
                grpc.StatusCode.NOT_FOUND)


def test_wrong_dtype_is_invalid_argument(client):
    images = np.zeros((1, 8, 8, 3), np.float32)
    assert _code(lambda: client.predict_tensors({"images": images})) == (
        grpc.StatusCode.INVALID_ARGUMENT)


def test_image_over_pixel_limit_is_invalid_argument(client):
    images = np.zeros((1, 2001, 2000, 3), np.uint8)
    with pytest.raises(grpc.RpcError, match="pixels") as info:
        client.predict(images)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_encoded_image_over_pixel_limit_is_rejected_before_decoding(client):
    # A tiny valid PNG header declaring 100000 x 100000 pixels.
    header = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
              + (100000).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00")
    with pytest.raises(grpc.RpcError, match="pixels") as info:
        client.predict_encoded(header)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_serves_latest_version_and_a_requested_one(tmp_path, segmenter,
                                                   detector, rng):
    from keras_lzu import saved_model_export

    saved_model_export.export(segmenter, tmp_path, version=1)
    saved_model_export.export(detector, tmp_path, version=2)
    config = tmp_path / "models.config"
    config.write_text(
        'model_config_list { config { name: "m" base_path: "%s" '
        'model_platform: "tensorflow" model_version_policy { all {} } '
        'version_labels { key: "stable" value: 1 } } }' % tmp_path
    )
    images = fake_models.random_images(rng, 1, 16, 16)
    with LocalModelServer(model_config_file=str(config)) as server:
        with GrpcPredictionClient(server.target, "m") as latest:
            assert "boxes" in latest.predict(images)
            assert [s["version"] for s in latest.get_model_status()] == [1, 2]
        with GrpcPredictionClient(server.target, "m", version=1) as first:
            assert "masks" in first.predict(images)
        with GrpcPredictionClient(server.target, "m",
                                  version_label="stable") as stable:
            assert "masks" in stable.predict(images)


def test_new_versions_are_picked_up_by_polling(tmp_path, segmenter,
                                               detector, rng):
    import time

    from keras_lzu import saved_model_export

    saved_model_export.export(segmenter, tmp_path)
    images = fake_models.random_images(rng, 1, 16, 16)
    with LocalModelServer(str(tmp_path), "m", poll_seconds=0.2) as server:
        with GrpcPredictionClient(server.target, "m") as client:
            assert "masks" in client.predict(images)
            saved_model_export.export(detector, tmp_path)
            deadline = time.time() + 20
            while client.get_model_status()[0]["version"] != 2:
                assert time.time() < deadline, "version 2 was not loaded"
                time.sleep(0.1)
            assert "boxes" in client.predict(images)


def test_server_binds_loopback_by_default(export_root):
    server = LocalModelServer(str(export_root / "detector"), "d")
    assert server.host == "127.0.0.1"


def test_constructor_rejects_both_or_neither_model_source(export_root):
    with pytest.raises(ValueError, match="exactly one"):
        LocalModelServer()
    with pytest.raises(ValueError, match="exactly one"):
        LocalModelServer(str(export_root), model_config_file="x.config")


def test_missing_versions_fail_at_start(tmp_path):
    with pytest.raises(ValueError, match="no SavedModel version"):
        LocalModelServer(str(tmp_path), "empty")


def test_truncated_jpeg_error_says_what_was_wrong(client, rng):
    image = fake_models.random_images(rng, 1, 24, 24)[0]
    jpeg = tf.io.encode_jpeg(image).numpy()
    with pytest.raises(grpc.RpcError) as info:
        client.predict_encoded(jpeg[:len(jpeg) // 2])
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Invalid JPEG data" in info.value.details()
    assert "Graph execution error" not in info.value.details()


def test_empty_batch_error_names_the_input_and_shape(client):
    with pytest.raises(grpc.RpcError) as info:
        client.predict_tensors({"images": np.zeros((0, 8, 8, 3), np.uint8)})
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'images' of shape [0, 8, 8, 3] is empty" in info.value.details()


def test_long_model_name_is_echoed_cut_short(server, rng):
    images = fake_models.random_images(rng, 1, 8, 8)
    with GrpcPredictionClient(server.target, "n" * 1_000_000,
                              retries=0) as client:
        with pytest.raises(grpc.RpcError) as info:
            client.predict(images)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "n" * 100 + "... (1000000 characters)" in info.value.details()
    assert len(info.value.details()) < 1000
