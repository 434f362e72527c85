"""Exported stand-in models and a running LocalModelServer, shared by the
serving tests (exporting and loading take seconds, so once per session)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import fake_models  # noqa: E402


@pytest.fixture(scope="session")
def detector():
    return fake_models.FakeDetector()


@pytest.fixture(scope="session")
def segmenter():
    return fake_models.FakeSegmenter()


@pytest.fixture(scope="session")
def export_root(tmp_path_factory, detector, segmenter):
    from keras_lzu import saved_model_export

    root = tmp_path_factory.mktemp("exports")
    saved_model_export.export(detector, root / "detector")
    saved_model_export.export(segmenter, root / "segmenter")
    return root


@pytest.fixture(scope="session")
def model_config_file(export_root):
    path = export_root / "models.config"
    path.write_text(
        "model_config_list {\n"
        f'  config {{ name: "detector" base_path: "{export_root / "detector"}"'
        ' model_platform: "tensorflow" }\n'
        f'  config {{ name: "segmenter" base_path: "{export_root / "segmenter"}"'
        ' model_platform: "tensorflow" }\n'
        "}\n"
    )
    return path


@pytest.fixture(scope="session")
def server(model_config_file):
    from keras_lzu.serving import LocalModelServer

    server = LocalModelServer(
        model_config_file=str(model_config_file), rest=True,
        max_image_pixels=2000 * 2000, max_message_bytes=16 * 1024 * 1024,
    ).start()
    yield server
    server.stop(grace=1.0)
