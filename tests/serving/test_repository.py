"""Version policy: a version that does not load never takes a model offline.

As TF Serving's `latest` policy: the newest version that loads is served,
the loaded one keeps serving until a newer one has loaded, a version that
fails is reported and retried when its files change, and a version removed
from disk is unloaded.
"""

import logging
import shutil
import threading
import time

import grpc
import pytest
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_pb2

import fake_models
from keras_lzu.serving import GrpcPredictionClient
from keras_lzu.serving import LocalModelServer
from keras_lzu.serving import ServingError
from keras_lzu.serving.repository import ModelRepository
from keras_lzu.serving.repository import single_model_config
from keras_lzu.serving.server import PredictionCore

pytestmark = pytest.mark.tensorflow_only


@pytest.fixture
def base(tmp_path):
    return tmp_path / "m"


@pytest.fixture
def add_version(base, export_root):
    """Copies an exported stand-in into `base/<version>`: "detector" or
    "segmenter", whole, truncated (`saved_model.pb` cut in half) or half
    copied (`saved_model.pb` only)."""

    def add(version, model="detector", state="good"):
        source = export_root / model / "1"
        target = base / str(version)
        if state == "half-copied":
            target.mkdir(parents=True)
            shutil.copy(source / "saved_model.pb", target)
            return target
        shutil.copytree(source, target)
        if state == "truncated":
            graph = target / "saved_model.pb"
            data = graph.read_bytes()
            graph.write_bytes(data[:len(data) // 2])
        return target

    return add


def _repository(base):
    return ModelRepository([single_model_config("m", str(base))])


def _served(repository, version=None):
    spec = model_pb2.ModelSpec(name="m")
    if version is not None:
        spec.version.value = version
    return repository.find(spec)


def _status(repository):
    """`{version: (state, error message)}` as GetModelStatus reports it."""
    request = get_model_status_pb2.GetModelStatusRequest(
        model_spec=model_pb2.ModelSpec(name="m"))
    response = PredictionCore(repository).model_status(request)
    state_name = get_model_status_pb2.ModelVersionStatus.State.Name
    return {status.version: (state_name(status.state),
                             status.status.error_message)
            for status in response.model_version_status}


def _outputs(servable):
    return set(servable.signatures["serving_default"].structured_outputs)


def test_truncated_newest_version_keeps_the_loaded_one_serving(
        base, add_version):
    add_version(1)
    repository = _repository(base)
    add_version(4, "segmenter", "truncated")
    repository.refresh()
    assert _served(repository).version == 1
    status = _status(repository)
    assert status[1] == ("AVAILABLE", "")
    state, message = status[4]
    assert state == "END"
    assert "saved_model.pb" in message
    with pytest.raises(ServingError, match="version 4 did not load") as info:
        _served(repository, version=4)
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_half_copied_version_is_retried_and_served_once_complete(
        base, add_version, export_root):
    add_version(1)
    repository = _repository(base)
    target = add_version(2, "segmenter", "half-copied")
    repository.refresh()
    assert _served(repository).version == 1
    assert "variables" in _status(repository)[2][1]
    source = export_root / "segmenter" / "1"
    shutil.copytree(source / "variables", target / "variables")
    shutil.copytree(source / "assets", target / "assets")
    repository.refresh()
    served = _served(repository)
    assert served.version == 2
    assert _outputs(served) == {"masks"}
    assert _status(repository) == {2: ("AVAILABLE", "")}


def test_removed_version_is_unloaded_and_the_previous_one_served(
        base, add_version):
    add_version(1)
    add_version(2, "segmenter")
    repository = _repository(base)
    assert _status(repository) == {2: ("AVAILABLE", "")}
    shutil.rmtree(base / "2")
    repository.refresh()
    assert _served(repository).version == 1
    assert _outputs(_served(repository)) == {
        "boxes", "scores", "classes", "num_detections"}
    shutil.rmtree(base / "1")
    repository.refresh()
    with pytest.raises(ServingError, match="no SavedModel version") as info:
        _served(repository)
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_start_serves_what_loads_and_reports_the_rest(base, add_version):
    add_version(1)
    add_version(2, "segmenter", "truncated")
    repository = _repository(base)
    assert _served(repository).version == 1
    assert _status(repository)[2][0] == "END"


def test_start_fails_saying_what_did_not_load(base, add_version):
    add_version(3, "detector", "truncated")
    with pytest.raises(ValueError, match="version 3 did not load") as info:
        _repository(base)
    assert "saved_model.pb" in str(info.value)


def test_unchanged_failed_version_is_not_reloaded_every_poll(
        base, add_version, caplog):
    add_version(1)
    repository = _repository(base)
    add_version(2, "segmenter", "truncated")
    with caplog.at_level(logging.WARNING, "keras_lzu.serving.repository"):
        for _ in range(3):
            repository.refresh()
    failures = [record for record in caplog.records
                if "version 2 did not load" in record.getMessage()]
    assert len(failures) == 1


def test_requests_never_fail_while_bad_versions_arrive(base, add_version,
                                                       rng):
    add_version(1)
    images = fake_models.random_images(rng, 1, 16, 16)
    answers, failures = [], []
    done = threading.Event()
    with LocalModelServer(str(base), "m", poll_seconds=0.05) as server:

        def send_requests():
            with GrpcPredictionClient(server.target, "m", retries=0) as client:
                while not done.is_set():
                    try:
                        answers.append(client.predict(images))
                    except grpc.RpcError as error:
                        failures.append(error.code())

        sender = threading.Thread(target=send_requests)
        sender.start()
        try:
            add_version(4, "segmenter", "truncated")
            add_version(3, "segmenter", "half-copied")
            deadline = time.monotonic() + 20
            while (set(_status(server.repository)) != {1, 3, 4}
                   and not failures):
                assert time.monotonic() < deadline, "no poll saw 3 and 4"
                time.sleep(0.05)
            count = len(answers) + len(failures)
            while len(answers) + len(failures) < count + 3:
                time.sleep(0.05)
        finally:
            done.set()
            sender.join()
    assert failures == []
    assert len(answers) >= 3
    assert all("boxes" in answer for answer in answers)
