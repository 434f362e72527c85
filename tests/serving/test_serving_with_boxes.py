"""The `serving_with_boxes` signature of a detector with box saliency, served
by `lzu serve` over gRPC and REST, and the client's stream helper that carries
each response's boxes into the next request."""

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf

import fake_models
import keras_lzu
from keras_lzu import saved_model_export
from keras_lzu.serving import DetectionStream
from keras_lzu.serving import GrpcPredictionClient
from keras_lzu.serving import LocalModelServer
from keras_lzu.serving import RestPredictionClient
from tests.models import keras_hub_builders

pytestmark = pytest.mark.tensorflow_only

SIGNATURE = "serving_with_boxes"
IMAGE_SIZE = (96, 128)


@pytest.fixture(scope="module")
def model():
    import keras_hub

    keras.utils.set_random_seed(7)
    # Pixels rescaled to [0, 1], so the untrained detector's scores vary.
    preprocessor = keras_hub.models.RetinaNetObjectDetectorPreprocessor(
        image_converter=keras_hub.layers.RetinaNetImageConverter(
            scale=1 / 255.0, bounding_box_format="xyxy"
        )
    )
    return keras_lzu.wrap(
        keras_hub_builders.retinanet(preprocessor=preprocessor), (64, 64),
        saliency="prior+boxes", grid_shape=(9, 13), prior=np.ones((3, 3)),
    )


@pytest.fixture(scope="module")
def exports(tmp_path_factory, model):
    root = tmp_path_factory.mktemp("box_exports")
    real = saved_model_export.export(model, root / "real")
    saved_model_export.export(fake_models.FakeBoxesDetector(), root / "fake")
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{root / name}" '
            'model_platform: "tensorflow" }\n'
            for name in ("real", "fake")
        )
        + "}\n"
    )
    return real, config


@pytest.fixture(scope="module")
def server(exports):
    server = LocalModelServer(
        model_config_file=str(exports[1]), rest=True
    ).start()
    yield server
    server.stop(grace=1.0)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    return fake_models.random_images(rng, 2, *IMAGE_SIZE)


def prior_boxes():
    boxes = np.full((2, 3, 4), -1.0, "float32")
    boxes[0, 0] = [10, 50, 40, 90]
    boxes[1, :2] = [[60, 10, 120, 40], [0, 0, 20, 30]]
    return boxes


def assert_same_detections(ours, reference):
    np.testing.assert_array_equal(
        ours["num_detections"], reference["num_detections"]
    )
    for key in ("boxes", "scores", "classes"):
        np.testing.assert_allclose(
            np.asarray(ours[key]), np.asarray(reference[key]),
            rtol=1e-4, atol=1e-4,
        )


def test_lzu_serve_answers_like_the_model(model, server, images):
    """The SavedModel (loaded by the server) computes what the model does,
    over gRPC and REST."""
    inputs = {"images": images, "prior_boxes": prior_boxes()}
    floats = images.astype("float32")
    with GrpcPredictionClient(server.target, "real") as client:
        with_boxes = client.predict_tensors(inputs, signature_name=SIGNATURE)
        default = client.predict(images)
        padding = client.predict_tensors(
            {"images": images,
             "prior_boxes": np.full((2, 1, 4), -1.0, "float32")},
            signature_name=SIGNATURE,
        )
    assert_same_detections(with_boxes, model.infer(floats, prior_boxes()))
    # serving_default: padding only, the fixed prior's grid.
    assert_same_detections(default, model.infer(floats))
    assert_same_detections(padding, default)
    assert not np.allclose(with_boxes["scores"], default["scores"])
    rest = RestPredictionClient(server.rest_url, "real")
    assert_same_detections(
        rest.predict_tensors(inputs, signature_name=SIGNATURE), with_boxes
    )


def test_models_without_box_saliency_have_no_such_signature(export_root):
    loaded = tf.saved_model.load(str(export_root / "detector" / "1"))
    assert SIGNATURE not in loaded.signatures


def test_bad_prior_boxes_are_an_invalid_argument(server, images):
    boxes = prior_boxes()
    boxes[1, 0, 3] = np.nan
    with GrpcPredictionClient(server.target, "real") as client:
        with pytest.raises(grpc.RpcError) as info:
            client.predict_tensors(
                {"images": images, "prior_boxes": boxes},
                signature_name=SIGNATURE,
            )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "`prior_boxes`" in info.value.details()
    assert "finite" in info.value.details()


def test_stream_carries_each_responses_boxes_into_the_next_request(server):
    step = fake_models.FakeBoxesDetector.STEP
    first = np.array(fake_models.FakeBoxesDetector.FIRST_BOX, "float32")
    frames = [np.zeros((*IMAGE_SIZE, 3), "uint8")] * 4
    with GrpcPredictionClient(server.target, "fake") as client:
        responses = list(client.predict_stream(
            frames, score_threshold=0.5, max_prior_boxes=2
        ))
    # Frame 0 is sent with padding only, so the fake answers FIRST_BOX (and
    # a box scoring 0.1, which is not carried); every later frame gets the
    # previous answer back, moved by one step.
    for k, response in enumerate(responses):
        carried = response["scores"] > 0.5
        assert carried.sum() == 1
        np.testing.assert_allclose(
            response["boxes"][carried][0], first + k * step
        )


def test_stream_refuses_frames_of_another_shape_until_reset(server):
    with GrpcPredictionClient(server.target, "fake") as client:
        stream = DetectionStream(client, max_prior_boxes=2)
        stream.predict(np.zeros((*IMAGE_SIZE, 3), "uint8"))
        assert stream.prior_boxes.shape == (1, 2, 4)
        with pytest.raises(ValueError, match="reset"):
            stream.predict(np.zeros((2, *IMAGE_SIZE, 3), "uint8"))
        stream.reset()
        response = stream.predict(np.zeros((2, *IMAGE_SIZE, 3), "uint8"))
    # Both images start again from padding: the fake answers FIRST_BOX,
    # scoring 0.8, for each.
    first = np.array(fake_models.FakeBoxesDetector.FIRST_BOX, "float32")
    np.testing.assert_allclose(
        response["boxes"][np.isclose(response["scores"], 0.8)], [first, first]
    )
