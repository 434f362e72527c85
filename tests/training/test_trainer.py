"""`save_model_atomically`: a crash never leaves a truncated model.keras."""

import os

import pytest

from keras_lzu.training.trainer import save_model_atomically


class PartlyWritingModel:
    """Writes `content` to the path it is saved to, then fails if told."""

    def __init__(self, content, fail):
        self.content, self.fail = content, fail

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.content)
        if self.fail:
            raise RuntimeError("disk full")


def test_a_failed_save_keeps_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"the previous model")
    with pytest.raises(RuntimeError, match="disk full"):
        save_model_atomically(PartlyWritingModel(b"trunc", True), str(path))
    assert path.read_bytes() == b"the previous model"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_a_successful_save_replaces_the_file(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"the previous model")
    save_model_atomically(PartlyWritingModel(b"the new model", False),
                          str(path))
    assert path.read_bytes() == b"the new model"
    assert os.listdir(tmp_path) == ["model.keras"]
