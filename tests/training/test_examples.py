"""examples/train_detector.py and examples/train_segmenter.py run with
their `SMOKE_TEST_ARGS` (as `python examples/NAME.py ARGS` runs them, in
this process) and write what their docstrings say."""

import ast
import contextlib
import io
import os
import runpy
import sys

import numpy as np
import pytest

import keras_lzu
from keras_lzu.data import SyntheticDrivingScenes
from keras_lzu.data import coco_semantic_mask
from training_helpers import read_json

pytestmark = pytest.mark.tensorflow_only

EXAMPLES_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "examples")


def run_example(name, out):
    path = os.path.join(EXAMPLES_DIR, name)
    with open(path) as f:
        tree = ast.parse(f.read())
    args = next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign)
                and node.targets[0].id == "SMOKE_TEST_ARGS")
    saved = sys.argv
    sys.argv = [path, *(arg.format(out=out) for arg in args)]
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = saved
    return stdout.getvalue()


def test_train_detector_trains_and_reports_the_validation_ap(tmp_path):
    out = str(tmp_path / "out")
    stdout = run_example("train_detector.py", out)
    metrics = read_json(os.path.join(out, "prior", "metrics.json"))
    assert metrics["task"] == "detection"
    assert metrics["train_images"] == 4 and metrics["val_images"] == 2
    ap = metrics["final"]["AP"]
    assert f"| prior | {ap:.4f} |" in stdout
    model = keras_lzu.load_model(os.path.join(out, "prior", "model.keras"))
    assert model.lzu_metadata["task"] == "detection"


def test_train_segmenter_trains_on_the_masks_it_wrote(tmp_path):
    out = str(tmp_path / "out")
    stdout = run_example("train_segmenter.py", out)
    metrics = read_json(os.path.join(out, "prior", "metrics.json"))
    assert f"| prior | {metrics['final']['mIoU']:.4f} |" in stdout
    # The RLE masks it wrote render to the generator's own masks.
    content = read_json(os.path.join(out, "data", "train", "instances.json"))
    scenes = SyntheticDrivingScenes(image_size=(64, 96), num_classes=3,
                                    seed=0)
    class_of = {k + 1: k + 1 for k in range(3)}
    for image in content["images"]:
        annotations = [a for a in content["annotations"]
                       if a["image_id"] == image["id"]]
        mask = coco_semantic_mask(annotations, 64, 96, class_of)
        expected = scenes.sample(image["id"] - 1, "train")["mask"]
        np.testing.assert_array_equal(mask, expected)
