"""`predict_main` / `export_main` against a running LocalModelServer."""

import os

import numpy as np
import pytest
from PIL import Image

import fake_models
from keras_lzu.serving import cli_commands

pytestmark = pytest.mark.tensorflow_only


@pytest.fixture
def image_file(tmp_path, rng):
    path = tmp_path / "street.png"
    Image.fromarray(fake_models.random_images(rng, 1, 40, 60)[0]).save(path)
    return path


@pytest.mark.parametrize("signature", ["serving_default", "predict_encoded"])
def test_predict_prints_detections_and_writes_png(server, image_file,
                                                  tmp_path, capsys,
                                                  signature):
    output = tmp_path / "out.png"
    code = cli_commands.predict_main([
        "--server", server.target, "--model_name", "detector",
        "--signature", signature, "--output", str(output), str(image_file),
    ])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    detections = [line for line in lines if "score=" in line]
    assert detections and all("class=" in line and "box=[" in line
                              for line in detections)
    with Image.open(output) as image:
        assert image.size == (60, 40)


def test_predict_reports_server_errors(server, image_file, capsys):
    code = cli_commands.predict_main([
        "--server", server.target, "--model_name", "nope", str(image_file)])
    assert code == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_serve_requires_a_model_source():
    with pytest.raises(SystemExit):
        cli_commands.serve_main(["--port", "0"])


def test_format_outputs_of_segmentation():
    lines = cli_commands.format_outputs(
        "x.png", {"masks": np.array([[0, 1], [1, 1]], np.int32)})
    assert lines == ["x.png class=0 pixels=1", "x.png class=1 pixels=3"]


def test_export_main_reports_missing_model(tmp_path, capsys):
    code = cli_commands.export_main([
        "--model", str(tmp_path / "missing.keras"),
        "--export_dir", str(tmp_path / "out")])
    assert code == 2
    assert not os.path.exists(tmp_path / "out" / "1")
