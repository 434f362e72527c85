"""Serving LZU models: TF Serving clients and a local TF Serving-compatible
server.

`GrpcPredictionClient` and `RestPredictionClient` talk to
`tensorflow_model_server` (production) or `LocalModelServer` (`lzu serve`:
tests, CI, laptops) alike. Importing this package is cheap; each name loads
its module (and gRPC / TF Serving's protos) on first use. Needs the
`serving` extra (`tensorflow-serving-api`, `grpcio`).
"""

import importlib

_LAZY = {
    "GrpcPredictionClient": "keras_lzu.serving.grpc_client",
    "RestPredictionClient": "keras_lzu.serving.rest_client",
    "RestError": "keras_lzu.serving.rest_client",
    "LocalModelServer": "keras_lzu.serving.server",
    "ServingError": "keras_lzu.serving.errors",
    "DetectionStream": "keras_lzu.serving.streams",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(
        f"module 'keras_lzu.serving' has no attribute {name!r}"
    )


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
