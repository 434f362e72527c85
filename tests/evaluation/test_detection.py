"""`keras_lzu.evaluation` box AP against hand-computed values and against
pycocotools driven directly."""

import contextlib
import importlib
import io
import json
import sys

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from keras_lzu.evaluation import coco_detection_metrics  # noqa: E402
from keras_lzu.evaluation import detections_to_coco  # noqa: E402

# COCOeval interpolates precision at 101 recall points 0, 0.01, ..., 1: a
# detector that finds half the objects with precision 1 scores 51/101.
HALF_RECALL_AP = 51 / 101


def ground_truth(boxes_by_image, size=(100, 120), categories=(1, 2)):
    """A COCO dict; `boxes_by_image` lists `(category_id, [x, y, w, h])`."""
    images, annotations = [], []
    for image_id, boxes in enumerate(boxes_by_image, start=1):
        images.append({"id": image_id, "height": size[0], "width": size[1],
                       "file_name": f"{image_id}.png"})
        for category_id, bbox in boxes:
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id,
                "category_id": category_id, "bbox": list(bbox),
                "area": bbox[2] * bbox[3], "iscrowd": 0})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": c, "name": f"class{c}"}
                           for c in categories]}


def pycocotools_stats(truth, results):
    """COCOeval's stats, run the way its README shows."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(truth))
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


def test_perfect_detections_score_one():
    truth = ground_truth([[(1, [10, 10, 10, 12]), (2, [50, 40, 40, 30])],
                          [(1, [5, 60, 50, 30])]])
    results = [{"image_id": a["image_id"], "category_id": a["category_id"],
                "bbox": a["bbox"], "score": 0.9}
               for a in truth["annotations"]]
    metrics = coco_detection_metrics(truth, results)
    for key in ("AP", "AP50", "AP75", "AR100"):
        assert metrics[key] == pytest.approx(1.0)
    assert metrics["per_class"] == pytest.approx({"class1": 1.0,
                                                  "class2": 1.0})


def test_one_of_two_objects_found_at_iou_0_62():
    # The detection covers 62 of the object's 100 columns: IoU 0.62, a
    # match at the thresholds 0.50, 0.55 and 0.60 of the ten.
    truth = ground_truth([[(1, [0, 0, 100, 100]), (1, [0, 0, 10, 10])]],
                         size=(200, 200), categories=(1,))
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 62, 100],
                "score": 0.7}]
    metrics = coco_detection_metrics(truth, results)
    assert metrics["AP50"] == pytest.approx(HALF_RECALL_AP)
    assert metrics["AP75"] == 0.0
    assert metrics["AP"] == pytest.approx(3 * HALF_RECALL_AP / 10)
    assert metrics["AR100"] == pytest.approx(3 * 0.5 / 10)
    # The found object is large (100x100 > 96^2), the missed one small.
    assert metrics["AP_small"] == 0.0
    assert metrics["AP_medium"] is None
    assert metrics["AP_large"] == pytest.approx(3 / 10)


def test_metrics_equal_pycocotools_on_noisy_detections(rng):
    boxes_by_image, results = [], []
    for image_id in range(1, 5):
        objects = []
        for _ in range(4):
            x, y = rng.uniform(0, 80, 2)
            w, h = rng.uniform(4, 60, 2)
            category = int(rng.integers(1, 3))
            objects.append((category, [x, y, w, h]))
            jitter = rng.normal(0, 3, 4)
            # One detection in five has the other class.
            found = category if rng.uniform() < 0.8 else 3 - category
            results.append({
                "image_id": image_id,
                "category_id": found,
                "bbox": [x + jitter[0], y + jitter[1], max(w + jitter[2], 1),
                         max(h + jitter[3], 1)],
                "score": float(rng.uniform())})
        boxes_by_image.append(objects)
    truth = ground_truth(boxes_by_image)
    expected = pycocotools_stats(truth, results)
    metrics = coco_detection_metrics(truth, results)
    for key, index in (("AP", 0), ("AP50", 1), ("AP75", 2), ("AP_small", 3),
                       ("AP_medium", 4), ("AP_large", 5), ("AR100", 8)):
        if expected[index] < 0:
            assert metrics[key] is None
        else:
            assert metrics[key] == pytest.approx(expected[index])


def test_no_detections_score_zero_and_classes_without_truth_are_left_out():
    truth = ground_truth([[(1, [10, 10, 20, 20])]], categories=(1, 2))
    metrics = coco_detection_metrics(truth, [])
    assert metrics["AP"] == 0.0 and metrics["AP50"] == 0.0
    assert metrics["AR100"] == 0.0
    assert metrics["per_class"] == {"class1": 0.0}


def test_ground_truth_from_a_file_and_class_names(tmp_path):
    truth = ground_truth([[(2, [10, 10, 20, 20])]])
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(truth))
    results = [{"image_id": 1, "category_id": 2, "bbox": [10, 10, 20, 20],
                "score": 0.5}]
    metrics = coco_detection_metrics(str(path), results, ["car", "truck"])
    assert metrics["per_class"] == pytest.approx({"truck": 1.0})


def test_ground_truth_without_area_and_iscrowd_gets_the_box_area():
    truth = ground_truth([[(1, [0, 0, 20, 20])]])
    for annotation in truth["annotations"]:
        del annotation["area"], annotation["iscrowd"]
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20],
                "score": 0.5}]
    metrics = coco_detection_metrics(truth, results)
    # 20x20 = 400 px < 32^2: small.
    assert metrics["AP_small"] == pytest.approx(1.0)
    assert metrics["AP_medium"] is None


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"images": []}', "no list named 'annotations'"),
    ('{"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": '
     '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]}', "'bbox'"),
    ('{"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": '
     '[{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]}]}',
     "'image_id' 9"),
])
def test_malformed_ground_truth_file_is_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        coco_detection_metrics(str(path), [])
    assert "bad.json" in str(error.value)


def test_missing_ground_truth_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        coco_detection_metrics(str(tmp_path / "nowhere.json"), [])


@pytest.mark.parametrize("detection, message", [
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]},
     r"detections\[0\].*'score'"),
    ({"image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1},
     r"detections\[0\]\['image_id'\] 7"),
    ({"image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 1},
     r"detections\[0\]\['category_id'\] 5"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
      "score": float("nan")}, r"detections\[0\]\['score'\]"),
])
def test_malformed_detections_are_named(detection, message):
    truth = ground_truth([[(1, [0, 0, 5, 5])]])
    with pytest.raises(ValueError, match=message):
        coco_detection_metrics(truth, [detection])


def test_detections_to_coco_converts_boxes_and_class_indices():
    results = detections_to_coco(
        4, np.array([[10, 20, 30, 60], [0, 0, 0, 0]], "float32"),
        np.array([0.25, 0.0]), np.array([1, -1]), category_ids=[3, 8])
    assert results == [{"image_id": 4, "category_id": 8,
                        "bbox": [10.0, 20.0, 20.0, 40.0], "score": 0.25}]
    assert isinstance(results[0]["bbox"][0], float)


@pytest.mark.parametrize("boxes, scores, classes, message", [
    ([[0, 0, 1]], [1.0], [0], r"\(N, 4\)"),
    ([[0, 0, 1, 1]], [1.0, 0.5], [0], "one row per detection"),
    ([[0, 0, 1, 1]], [1.0], [2], "index 2"),
    ([[0, 0, np.inf, 1]], [1.0], [0], "finite"),
])
def test_detections_to_coco_rejects_bad_input(boxes, scores, classes,
                                              message):
    with pytest.raises(ValueError, match=message):
        detections_to_coco(1, boxes, scores, classes, [1, 2])


def test_import_without_pycocotools_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name.startswith(("keras_lzu.evaluation", "pycocotools")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    with pytest.raises(ImportError, match=r"pip install 'keras-lzu\[eval\]'"):
        importlib.import_module("keras_lzu.evaluation")
