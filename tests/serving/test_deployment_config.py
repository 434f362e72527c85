"""The files in serving/ are what TF Serving accepts."""

import os

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import text_format
from google.protobuf import wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

SERVING_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "serving")

# tensorflow-serving-api's wheel does not ship session_bundle_config_pb2, so
# BatchingParameters is rebuilt from its definition in tensorflow/serving's
# tensorflow_serving/servables/tensorflow/session_bundle_config.proto:
# (name, number, wrapper type or scalar type, repeated).
BATCHING_PARAMETERS_FIELDS = [
    ("max_batch_size", 1, ".google.protobuf.Int64Value", False),
    ("batch_timeout_micros", 2, ".google.protobuf.Int64Value", False),
    ("max_enqueued_batches", 3, ".google.protobuf.Int64Value", False),
    ("num_batch_threads", 4, ".google.protobuf.Int64Value", False),
    ("thread_pool_name", 5, ".google.protobuf.StringValue", False),
    ("allowed_batch_sizes", 6, "int64", True),
    ("pad_variable_length_inputs", 7, "bool", False),
]


def _batching_parameters_class():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(
        wrappers_pb2.DESCRIPTOR.serialized_pb)
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="session_bundle_config_subset.proto",
        package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = file_proto.message_type.add(name="BatchingParameters")
    field_type = descriptor_pb2.FieldDescriptorProto
    for name, number, kind, repeated in BATCHING_PARAMETERS_FIELDS:
        field = message.field.add(name=name, number=number)
        field.label = (field_type.LABEL_REPEATED if repeated
                       else field_type.LABEL_OPTIONAL)
        if kind.startswith("."):
            field.type = field_type.TYPE_MESSAGE
            field.type_name = kind
        else:
            field.type = {"int64": field_type.TYPE_INT64,
                          "bool": field_type.TYPE_BOOL}[kind]
    pool.Add(file_proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def _read(name):
    with open(os.path.join(SERVING_DIR, name)) as f:
        return f.read()


def test_models_config_is_a_model_server_config():
    config = text_format.Parse(
        _read("models.config"), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == "lzu"
    assert model.base_path == "/models/lzu"
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.latest.num_versions == 1


def test_batching_config_is_batching_parameters():
    try:
        from tensorflow_serving.servables.tensorflow import (
            session_bundle_config_pb2,
        )
        message_class = session_bundle_config_pb2.BatchingParameters
    except ImportError:
        message_class = _batching_parameters_class()
    parameters = text_format.Parse(_read("batching.config"), message_class())
    assert parameters.max_batch_size.value == 8
    assert parameters.num_batch_threads.value >= 1
    assert parameters.batch_timeout_micros.value > 0


def test_local_server_reads_the_models_config():
    from keras_lzu.serving import repository

    (model,) = repository.read_model_config_file(
        os.path.join(SERVING_DIR, "models.config"))
    assert model.name == "lzu"


def test_compose_file_runs_tf_serving_with_both_configs():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load(_read("docker-compose.yml"))
    service = compose["services"]["tf-serving"]
    assert service["image"].startswith("tensorflow/serving:")
    flags = service["command"]
    for flag in ("--port=8500", "--rest_api_port=8501",
                 "--model_config_file=/config/models.config",
                 "--enable_batching=true",
                 "--batching_parameters_file=/config/batching.config",
                 "--xla_cpu_compilation_enabled=true"):
        assert flag in flags
    assert "127.0.0.1:8500:8500" in service["ports"]
    assert "127.0.0.1:8501:8501" in service["ports"]
    assert "/v1/models/lzu" in " ".join(service["healthcheck"]["test"])
