"""`lzu train --distribute multi-worker`: two worker processes on loopback,
configured by TF_CONFIG as on a cluster, end with the same weights."""

import json
import os
import socket
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

from training_helpers import OUTPUT_SIZE
from training_helpers import coco_args
from training_helpers import read_json

pytestmark = pytest.mark.tensorflow_only

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weights(model_path, directory):
    """`{path: array}` of a `.keras` file's weights, read with h5py."""
    with zipfile.ZipFile(model_path) as archive:
        archive.extract("model.weights.h5", directory)
    found = {}
    with h5py.File(os.path.join(directory, "model.weights.h5")) as f:
        f.visititems(lambda name, item: found.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return found


def test_two_workers_train_together_and_end_with_the_same_weights(coco,
                                                                   tmp_path):
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(2)]}
    out = str(tmp_path / "run")
    command = [
        sys.executable, "-m", "keras_lzu.cli", "train", "--task", "detection",
        *coco_args(coco, val=False), "--output-size", *map(str, OUTPUT_SIZE),
        "--backbone", "tiny", "--saliency", "fixed", "--anchor-size", "2",
        "--steps", "2", "--batch-size", "2", "--distribute", "multi-worker",
        "--out", out,
    ]
    workers = []
    for index in range(2):
        env = dict(os.environ, KERAS_BACKEND="tensorflow", PYTHONPATH=ROOT,
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {
                       "type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    try:
        logs = [worker.communicate(timeout=400)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, log in zip(workers, logs):
        assert worker.returncode == 0, log[-4000:]

    chief = weights(os.path.join(out, "model.keras"), tmp_path / "chief")
    other = weights(os.path.join(out, "worker-1", "model.keras"),
                    tmp_path / "other")
    assert chief.keys() == other.keys()
    for name, value in chief.items():
        np.testing.assert_allclose(other[name], value, atol=1e-6,
                                   err_msg=name)
    # The learned saliency (uniform, log 0, at first) moved: they trained.
    saliency = [v for k, v in chief.items() if "saliency" in k]
    assert saliency and np.abs(saliency[0]).max() > 0
    metrics = read_json(os.path.join(out, "metrics.json"))
    assert metrics["replicas"] == 2
    assert not os.path.exists(os.path.join(out, "worker-1", "metrics.json"))
