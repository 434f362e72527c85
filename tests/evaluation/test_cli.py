"""`lzu evaluate` on tiny COCO datasets written by `keras_lzu.data`, against
pycocotools and NumPy run on the same model outputs in the test."""

import contextlib
import io
import json
import os
import sys

import numpy as np
import pytest

pytest.importorskip("pycocotools")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "serving"))

import fake_models  # noqa: E402
import keras_lzu  # noqa: E402
from keras_lzu import cli  # noqa: E402
from keras_lzu.data import SyntheticDrivingScenes  # noqa: E402

pytestmark = pytest.mark.tensorflow_only

# Two image sizes: the evaluation must batch only images of one size.
PARTS = (((48, 80), 2), ((40, 64), 1))
NUM_CLASSES = 2


def write_mixed_coco(root):
    """One COCO dataset from two `write_coco` outputs of different sizes.

    Returns `(annotation path, image dir, [(image record, sample)])`.
    """
    content, samples = None, []
    for part, (size, count) in enumerate(PARTS):
        scenes = SyntheticDrivingScenes(image_size=size,
                                        num_classes=NUM_CLASSES, seed=part)
        with open(scenes.write_coco(root / f"part{part}", count,
                                    "validation")) as f:
            written = json.load(f)
        offset = len(content["images"]) if content else 0
        for image in written["images"]:
            index = image["id"] - 1
            image["file_name"] = f"part{part}/images/{image['file_name']}"
            image["id"] += offset
            samples.append((image, scenes.sample(index, "validation")))
        for annotation in written["annotations"]:
            annotation["image_id"] += offset
        if content is None:
            content = written
        else:
            content["images"] += written["images"]
            content["annotations"] += written["annotations"]
    for number, annotation in enumerate(content["annotations"], start=1):
        annotation["id"] = number
    return content, samples


def save_json(path, content):
    with open(path, "w") as f:
        json.dump(content, f)
    return str(path)


def read_png(root, image):
    return tf.io.decode_png(tf.io.read_file(
        os.path.join(root, image["file_name"]))).numpy()


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["evaluate"] + argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    content, samples = write_mixed_coco(root)
    return root, content, samples


@pytest.fixture(scope="module")
def detection_case(coco, tmp_path_factory):
    """An exported fake detector, and ground truth with objects where it
    looks besides the generator's."""
    root, content, samples = coco
    detector = fake_models.FakeDetector(num_classes=NUM_CLASSES)
    content = json.loads(json.dumps(content))
    outputs = {}
    for image, _ in samples:
        outputs[image["id"]] = {k: np.asarray(v)[0] for k, v in
                                detector.infer(read_png(root, image)[None]
                                               .astype("float32")).items()}
        # Its top box grown by 5% a side (IoU 0.83) and its third box.
        for rank, grow in ((0, 0.05), (2, 0.0)):
            x1, y1, x2, y2 = (float(v) for v in
                              outputs[image["id"]]["boxes"][rank])
            w, h = (x2 - x1) * (1 + 2 * grow), (y2 - y1) * (1 + 2 * grow)
            content["annotations"].append({
                "id": len(content["annotations"]) + 1,
                "image_id": image["id"],
                "category_id": int(outputs[image["id"]]["classes"][rank]) + 1,
                "bbox": [x1 - grow * (x2 - x1), y1 - grow * (y2 - y1), w, h],
                "area": w * h, "iscrowd": 0})
    export_dir = tmp_path_factory.mktemp("export") / "detector"
    keras_lzu.export(detector, str(export_dir))
    annotations = save_json(root / "detection.json", content)
    return export_dir, annotations, content, outputs


def pycocotools_stats(content, results):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = content
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


def test_detection_ap_of_a_saved_model_equals_pycocotools(
        coco, detection_case, tmp_path):
    root, _, _ = coco
    export_dir, annotations, content, outputs = detection_case
    results = []
    for image_id, out in outputs.items():
        for k in range(int(out["num_detections"])):
            x1, y1, x2, y2 = (float(v) for v in out["boxes"][k])
            results.append({"image_id": image_id,
                            "category_id": int(out["classes"][k]) + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(out["scores"][k])})
    expected = pycocotools_stats(content, results)

    report_path = tmp_path / "metrics.json"
    code, out, err = run_cli([
        "--model", str(export_dir), "--annotations", annotations,
        "--images", str(root), "--json", str(report_path),
        "--batch-size", "2"])
    assert code == 0, err
    with open(report_path) as f:
        report = json.load(f)
    assert report["task"] == "detection"
    assert report["num_images"] == sum(count for _, count in PARTS)
    metrics = report["metrics"]
    assert expected[1] > 0  # the test would be vacuous at AP50 0
    for key, index in (("AP", 0), ("AP50", 1), ("AP75", 2), ("AP_small", 3),
                       ("AP_medium", 4), ("AP_large", 5), ("AR100", 8)):
        if expected[index] < 0:
            assert metrics[key] is None
        else:
            assert metrics[key] == pytest.approx(expected[index], abs=1e-6)
    assert f"| AP50 | {metrics['AP50']:.4f} |" in out
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def tiny_segmenter(num_classes):
    keras.utils.set_random_seed(3)
    images = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 255.0)(images)
    stem = keras.layers.Conv2D(8, 3, strides=2, padding="same",
                               activation="relu", name="stem")(x)
    scores = keras.layers.Conv2D(num_classes, 1, name="head")(stem)
    return keras.Model(images, scores)


def test_segmentation_miou_of_a_keras_file_equals_numpy(coco, tmp_path):
    root, content, samples = coco
    content = json.loads(json.dumps(content))
    # One annotation per class and image, an uncompressed RLE of its pixels
    # (COCO's column-major runs) from the generator's own mask.
    content["annotations"] = []
    for image, sample in samples:
        for k in range(1, NUM_CLASSES + 1):
            pixels = (sample["mask"] == k).ravel(order="F")
            if not pixels.any():
                continue
            edges = np.flatnonzero(np.diff(np.r_[0, pixels, 0]))
            counts = np.diff(np.r_[0, edges, pixels.size]).tolist()
            content["annotations"].append({
                "id": len(content["annotations"]) + 1,
                "image_id": image["id"], "category_id": k,
                "bbox": [0, 0, 1, 1],
                "segmentation": {"size": list(sample["mask"].shape),
                                 "counts": counts}})
    annotations = save_json(tmp_path / "segmentation.json", content)
    model = keras_lzu.wrap(tiny_segmenter(NUM_CLASSES + 1), (32, 48),
                           feature_layers=["stem"])
    model_path = str(tmp_path / "segmenter.keras")
    model.save(model_path)

    truth, predicted = [], []
    for image, sample in samples:
        truth.append(sample["mask"].ravel())
        predicted.append(np.asarray(model.infer(
            read_png(root, image)[None].astype("float32"))["masks"]).ravel())
    truth, predicted = np.concatenate(truth), np.concatenate(predicted)
    ious = {}
    for k, name in enumerate(["background", "car", "pedestrian"]):
        union = np.sum((truth == k) | (predicted == k))
        if union:
            ious[name] = np.sum((truth == k) & (predicted == k)) / union

    report_path = tmp_path / "metrics.json"
    code, out, err = run_cli([
        "--model", model_path, "--annotations", annotations,
        "--images", str(root), "--json", str(report_path)])
    assert code == 0, err
    with open(report_path) as f:
        report = json.load(f)
    assert report["task"] == "segmentation"
    assert report["metrics"]["per_class"] == pytest.approx(ious)
    assert report["metrics"]["mIoU"] == pytest.approx(
        np.mean(list(ious.values())))
    assert report["metrics"]["pixel_accuracy"] == pytest.approx(
        np.mean(truth == predicted))
    assert "| IoU car |" in out


def test_errors_name_the_file_before_loading_the_model(coco, tmp_path):
    root, content, _ = coco
    # Not a model at all: loading it would fail with a different error.
    model = tmp_path / "broken.keras"
    model.write_bytes(b"not a zip file")
    good = save_json(tmp_path / "good.json", content)
    missing_image = json.loads(json.dumps(content))
    missing_image["images"][0]["file_name"] = "nowhere.png"
    cases = [
        (["--annotations", str(tmp_path / "none.json")], "none.json"),
        (["--annotations", save_json(tmp_path / "x.json", [1])], "x.json"),
        (["--annotations", save_json(tmp_path / "m.json", missing_image)],
         "nowhere.png"),
        (["--annotations", good, "--model", str(tmp_path / "no.keras")],
         "`--model` not found"),
        (["--annotations", good, "--model", str(tmp_path)],
         "not a SavedModel"),
        (["--annotations", good, "--images", str(tmp_path / "no_dir")],
         "no_dir"),
    ]
    for argv, message in cases:
        defaults = {"--model": str(model), "--images": str(root)}
        for flag, value in defaults.items():
            if flag not in argv:
                argv = argv + [flag, value]
        code, _, err = run_cli(argv)
        assert code == 2, (argv, err)
        assert message in err, (argv, err)


def test_missing_pycocotools_names_the_eval_extra(monkeypatch):
    for name in list(sys.modules):
        if name.startswith(("keras_lzu.evaluation", "pycocotools")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    code, _, err = run_cli(["--model", "m.keras", "--annotations", "a.json",
                            "--images", "."])
    assert code == 2
    assert "pip install 'keras-lzu[eval]'" in err
