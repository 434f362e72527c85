"""`write_atomically`: complete files or none, with ordinary permissions."""

import os
import stat

import pytest

from keras_lzu.files import write_atomically


def test_writes_the_file_with_the_permissions_open_would_give(tmp_path):
    path = tmp_path / "report.md"
    assert write_atomically(str(path), lambda f: f.write("table")) == str(
        path)
    assert path.read_text() == "table"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["report.md"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "figure.png"
    path.write_bytes(b"old")

    def fail(f):
        f.write(b"half a pic")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(str(path), fail, binary=True)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["figure.png"]
