"""`lzu demo` end to end with a tiny configuration: the COCO dataset it
writes, both `lzu train` runs, their COCO metrics (checked against
pycocotools on the saved models' detections), the gRPC check, the figures,
the report and the command lines it prints."""

import json
import os
import shlex

import numpy as np
import pytest

pytest.importorskip("keras_hub")
pytest.importorskip("pycocotools")
pytest.importorskip("grpc")

from PIL import Image  # noqa: E402

import keras_lzu  # noqa: E402
from keras_lzu import demo  # noqa: E402
from keras_lzu.training import cli as train_cli  # noqa: E402
from keras_lzu.training import models as training_models  # noqa: E402

pytestmark = pytest.mark.tensorflow_only

TINY = ["--steps", "100", "--canvas", "128", "192", "--output-size", "64", "96",
        "--train-images", "4", "--val-images", "2", "--batch-size", "2",
        "--num-classes", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The demo's result with the tiny configuration. The objects are
    large for the canvas and the detectors keep boxes of any confidence:
    after 100 steps (a few seconds at this size) some boxes find objects,
    so the metrics have something to score and gRPC boxes to compare."""
    config = demo.parse_args(TINY + [
        "--out", str(tmp_path_factory.mktemp("demo") / "out")])
    config.serving_images = 2
    config.far_object_size = (150, 300)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training_models, "MIN_CONFIDENCE", 0.0)
        result = demo.run_demo(config, log=lambda *args: None)
    return config, result


def read_json(path):
    with open(path) as f:
        return json.load(f)


def pycocotools_stats(model_path, annotation_file, image_dir, batch_size):
    """COCOeval's stats of a saved model's detections, computed here: the
    images read with Pillow, the model called as `lzu train` evaluates it
    (batches in file order), pycocotools called directly."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    model = keras_lzu.load_model(model_path)
    truth = COCO(annotation_file)
    records = truth.dataset["images"]
    results = []
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        pixels = np.stack([np.asarray(Image.open(
            os.path.join(image_dir, r["file_name"])).convert("RGB"))
            for r in chunk])
        outputs = model.infer(pixels.astype("float32"))
        for i, record in enumerate(chunk):
            for k in range(int(outputs["num_detections"][i])):
                x1, y1, x2, y2 = (float(v) for v in outputs["boxes"][i, k])
                results.append({
                    "image_id": record["id"],
                    "category_id": int(outputs["classes"][i, k]) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(outputs["scores"][i, k])})
    evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return evaluation.stats


def test_writes_a_coco_dataset_of_the_synthetic_scenes(run):
    config, _ = run
    for split, count in (("train", 4), ("validation", 2)):
        content = read_json(os.path.join(config.split_dir(split),
                                         "instances.json"))
        assert len(content["images"]) == count
        assert [c["name"] for c in content["categories"]] == [
            "car", "pedestrian"]
        image = content["images"][0]
        assert (image["height"], image["width"]) == (128, 192)
        assert content["annotations"]


def test_both_runs_share_the_training_config_but_the_saliency(run):
    config, result = run
    uniform, lzu = (read_json(os.path.join(result["runs"][name],
                                           "metrics.json"))
                    for name in ("uniform", "LZU"))
    assert (uniform["saliency"], lzu["saliency"]) == ("uniform", "prior")
    for key in ("output_size", "canvas", "steps", "batch_size", "backbone",
                "train_images", "val_images"):
        assert uniform[key] == lzu[key], key
    assert lzu["output_size"] == [64, 96] and lzu["steps"] == 100
    assert os.path.isfile(os.path.join(result["runs"]["LZU"], "export", "1",
                                       "saved_model.pb"))
    assert not os.path.exists(os.path.join(result["runs"]["uniform"],
                                           "export"))


@pytest.mark.parametrize("name", ["uniform", "LZU"])
def test_metrics_are_pycocotools_on_the_saved_models_detections(run, name):
    config, result = run
    training = config.training_config(demo.MODELS[name])
    stats = pycocotools_stats(training.model_path, training.val_annotations,
                              training.val_images, config.batch_size)
    metrics = result["metrics"][name]
    for key, index in (("AP", 0), ("AP50", 1), ("AP75", 2), ("AP_small", 3),
                       ("AR100", 8)):
        expected = None if stats[index] < 0 else stats[index]
        assert metrics[key] == pytest.approx(expected, abs=1e-9), key
    assert stats[8] > 0  # some boxes were found
    assert np.isfinite(metrics["ms/image"]) and metrics["ms/image"] > 0


def test_grpc_answers_equal_in_process_predictions(run):
    serving = run[1]["serving"]
    assert serving["ok"], serving
    assert serving["target"].startswith("127.0.0.1:")
    assert serving["images"] == 2 and serving["same_counts"]
    # Boxes of any confidence: 100 per image to compare.
    assert serving["detections"] == 200
    assert serving["max_box_diff"] <= 1e-2
    assert serving["max_score_diff"] <= 1e-2


def test_figures_are_pictures_of_the_expected_layout(run):
    _, result = run
    sizes = {}
    for name, path in result["figures"].items():
        assert not os.path.basename(path).startswith(".")
        with Image.open(path) as picture:
            sizes[name] = picture.size
    assert sizes["zoomed"] == (96, 64)  # the zoomed image, width x height
    width, height = sizes["saliency"]
    assert width > 2.5 * height  # three panels side by side
    width, height = sizes["detections"]
    assert width > 2.5 * height  # two 192x128 panels side by side


def test_report_has_the_table_the_serving_check_and_the_commands(run):
    config, result = run
    with open(result["report"]) as f:
        report = f.read()
    assert result["table"] in report
    assert result["table"].splitlines()[2].startswith("| uniform | ")
    assert result["table"].splitlines()[3].startswith("| LZU | ")
    assert "**OK**" in report
    for path in result["figures"].values():
        assert f"({os.path.basename(path)})" in report
    for line in result["commands"]:
        assert line in report
    assert sorted(os.listdir(config.out)) == [
        "data", "detections.png", "prior", "report.md", "saliency_grid.png",
        "uniform", "zoomed.png"]


def test_printed_commands_redo_both_training_runs(run):
    config, result = run
    train_lines = [shlex.split(line) for line in result["commands"]
                   if line.startswith("lzu train ")]
    assert len(train_lines) == 2
    for argv, saliency in zip(train_lines, demo.MODELS.values()):
        parsed = train_cli.config_from_args(train_cli.parse_args(argv[2:]))
        assert parsed == config.training_config(saliency)
    evaluate = shlex.split(result["commands"][-1])
    assert evaluate[:4] == ["lzu", "evaluate", "--model",
                            config.training_config("prior").model_path]


def test_demo_flags_reach_the_training_configs(tmp_path):
    config = demo.parse_args(TINY + ["--seed", "5", "--out", str(tmp_path)])
    for saliency in ("uniform", "prior"):
        training = config.training_config(saliency)
        assert training.output_size == (64, 96)
        assert (training.steps, training.batch_size, training.seed) == (
            100, 2, 5)
        assert training.out == os.path.join(str(tmp_path), saliency)
    assert config.canvas == (128, 192) and config.num_classes == 2
