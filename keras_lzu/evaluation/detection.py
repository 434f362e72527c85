"""COCO box AP of detections, computed by pycocotools' `COCOeval`."""

import contextlib
import copy
import io
import json
import math
import os

import numpy as np

METRIC_NAMES = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
                "AR100")
# Positions of the metrics in `COCOeval.stats`, in `METRIC_NAMES` order.
_STATS_INDEX = (0, 1, 2, 3, 4, 5, 8)


def coco_detection_metrics(ground_truth, detections, class_names=None):
    """COCO box AP and AR of `detections` against `ground_truth`.

    Runs pycocotools' `COCOeval` ("bbox", its default parameters: IoU
    thresholds 0.50:0.05:0.95, at most 100 detections per image, area
    ranges small < 32^2 <= medium < 96^2 <= large pixels of the annotation's
    `area`) without printing.

    Edge cases, where pycocotools answers -1:

    * no detections at all (or none for a class): AP and AR are 0.0, the
      value of a detector that finds nothing;
    * no ground-truth object in an area range (e.g. no large objects):
      that metric is `None` ("n/a"), not 0 and not -1;
    * classes with no ground-truth object are left out of `per_class`.

    Args:
        ground_truth: a COCO instances dict (`"images"`, `"annotations"`,
            `"categories"`) or the path of such a JSON file. Annotations
            without `"area"` get their box area, without `"iscrowd"` 0.
        detections: list of COCO result dicts `{"image_id", "category_id",
            "bbox": [x, y, w, h], "score"}`, boxes in pixels of their image
            (see `detections_to_coco`).
        class_names: optional list of names of the categories in ascending
            id order, for `per_class`. Defaults to the categories' `"name"`.

    Returns:
        dict `{"AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
        "AR100"}` of floats in `[0, 1]` (or `None`, see above), and
        `"per_class"`: `{class name: AP}`.

    Raises:
        FileNotFoundError: `ground_truth` is a path that does not exist.
        ValueError: malformed ground truth or detections (the message names
            the file or argument and the field).

    Example:

    >>> gt = {"images": [{"id": 1, "height": 100, "width": 100}],
    ...       "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
    ...                        "bbox": [10, 10, 40, 40]}],
    ...       "categories": [{"id": 1, "name": "car"}]}
    >>> found = [{"image_id": 1, "category_id": 1,
    ...           "bbox": [10, 10, 40, 40], "score": 0.9}]
    >>> metrics = coco_detection_metrics(gt, found)
    >>> round(metrics["AP"], 6), round(metrics["per_class"]["car"], 6)
    (1.0, 1.0)
    """
    dataset = load_ground_truth(ground_truth)
    category_ids = sorted(c["id"] for c in dataset["categories"])
    names = _class_names(dataset, category_ids, class_names)
    results = _checked_detections(detections, dataset)

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        predicted = COCO()
        predicted.dataset = {"images": dataset["images"],
                             "categories": dataset["categories"],
                             "annotations": results}
        predicted.createIndex()
        evaluation = COCOeval(truth, predicted, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    metrics = {name: _defined(evaluation.stats[index])
               for name, index in zip(METRIC_NAMES, _STATS_INDEX)}
    metrics["per_class"] = _per_class_ap(evaluation, category_ids, names)
    return metrics


def detections_to_coco(image_id, boxes_xyxy, scores, classes, category_ids):
    """One image's decoded detections as COCO result dicts.

    Args:
        image_id: the COCO id of the image.
        boxes_xyxy: `(N, 4)` boxes `[x1, y1, x2, y2]` in pixels of the image.
        scores: `(N,)` confidences.
        classes: `(N,)` class indices `0 .. K-1`; rows with a negative class
            (KerasCV's `-1` padding) are skipped.
        category_ids: the COCO category id of each class index (class `k`
            is `category_ids[k]`), e.g. `read_coco_annotations(...)
            ["category_ids"]`.

    Returns:
        list of `{"image_id", "category_id", "bbox": [x, y, w, h],
        "score"}` with Python numbers.

    Raises:
        ValueError: mismatched lengths, boxes not `(N, 4)`, non-finite
            values, or a class index with no category id.

    Example:

    >>> detections_to_coco(7, [[10, 20, 30, 60]], [0.8], [0], [3])
    [{'image_id': 7, 'category_id': 3, 'bbox': [10.0, 20.0, 20.0, 40.0], \
'score': 0.8}]
    """
    boxes = np.asarray(boxes_xyxy, "float64")
    scores = np.asarray(scores, "float64").reshape(-1)
    classes = np.asarray(classes).reshape(-1)
    if boxes.size == 0 and boxes.ndim < 2:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError("`boxes_xyxy` must have shape (N, 4). Received "
                         f"shape {boxes.shape}.")
    if not len(boxes) == len(scores) == len(classes):
        raise ValueError(
            "`boxes_xyxy`, `scores` and `classes` must have one row per "
            f"detection. Received {len(boxes)}, {len(scores)} and "
            f"{len(classes)} rows.")
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise ValueError("`boxes_xyxy` and `scores` must be finite.")
    if np.any(classes != np.round(classes)):
        raise ValueError("`classes` must be integer class indices. Received "
                         f"{classes[classes != np.round(classes)][:3]}.")
    category_ids = list(category_ids)
    classes = classes.astype("int64")
    keep = classes >= 0
    if np.any(classes[keep] >= len(category_ids)):
        raise ValueError(
            f"`classes` has index {int(classes.max())} but `category_ids` "
            f"has only {len(category_ids)} entries.")
    return [
        {"image_id": image_id,
         "category_id": category_ids[label],
         "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
         "score": float(score)}
        for (x1, y1, x2, y2), score, label
        in zip(boxes[keep], scores[keep], classes[keep])
    ]


def load_ground_truth(ground_truth):
    """A checked copy of a COCO instances dict, or of the file at a path.

    Annotations get the defaults pycocotools needs (`"id"`, `"area"` = box
    area, `"iscrowd"` = 0). Raises FileNotFoundError or ValueError naming
    the file (or `ground_truth`) and the field.
    """
    if isinstance(ground_truth, (str, os.PathLike)):
        source = os.fspath(ground_truth)
        if not os.path.isfile(source):
            raise FileNotFoundError(
                f"Ground-truth annotation file not found: {source!r}")
        with open(source) as f:
            try:
                content = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"{source!r} is not valid JSON: {error}"
                                 ) from None
    elif isinstance(ground_truth, dict):
        source, content = "`ground_truth`", copy.deepcopy(ground_truth)
    else:
        raise ValueError(
            "`ground_truth` must be a COCO instances dict or a JSON path. "
            f"Received a {type(ground_truth).__name__}.")
    _check_ground_truth(content, source)
    annotations = []
    for number, annotation in enumerate(content["annotations"], start=1):
        annotation = dict(annotation)
        annotation.setdefault("id", number)
        width, height = (float(v) for v in annotation["bbox"][2:])
        annotation.setdefault("area", width * height)
        annotation.setdefault("iscrowd", 0)
        annotations.append(annotation)
    content["annotations"] = annotations
    return content


def _check_ground_truth(content, source):
    def fail(what):
        raise ValueError(f"{source} is not a COCO instances file: {what}")

    if not isinstance(content, dict):
        fail(f"the top level is a {type(content).__name__}, not an object.")
    for key in ("images", "annotations", "categories"):
        if not isinstance(content.get(key), list):
            fail(f"it has no list named {key!r}.")
    for category in content["categories"]:
        if not isinstance(category, dict) or "id" not in category:
            fail(f"a category lacks 'id': {category!r}.")
    image_ids = set()
    for image in content["images"]:
        if not isinstance(image, dict) or "id" not in image:
            fail(f"an image lacks 'id': {image!r}.")
        image_ids.add(image["id"])
    category_ids = {c["id"] for c in content["categories"]}
    for annotation in content["annotations"]:
        if not isinstance(annotation, dict):
            fail(f"an annotation is not an object: {annotation!r}.")
        missing = {"image_id", "category_id", "bbox"} - set(annotation)
        if missing:
            fail(f"an annotation lacks {sorted(missing)}: {annotation!r}.")
        if not _is_box(annotation["bbox"]):
            fail("an annotation's 'bbox' is not [x, y, w, h] of finite "
                 f"numbers: {annotation!r}.")
        if annotation["image_id"] not in image_ids:
            fail(f"annotation {annotation.get('id')!r} has 'image_id' "
                 f"{annotation['image_id']!r}, which is not in 'images'.")
        if annotation["category_id"] not in category_ids:
            fail(f"annotation {annotation.get('id')!r} has 'category_id' "
                 f"{annotation['category_id']!r}, which is not in "
                 "'categories'.")


def _checked_detections(detections, dataset):
    """COCO result dicts as pycocotools' `loadRes` would make them."""
    if isinstance(detections, (str, bytes, dict)) or not hasattr(
            detections, "__iter__"):
        raise ValueError("`detections` must be a list of COCO result dicts. "
                         f"Received a {type(detections).__name__}.")
    image_ids = {image["id"] for image in dataset["images"]}
    category_ids = {c["id"] for c in dataset["categories"]}
    results = []
    for index, detection in enumerate(detections):
        where = f"detections[{index}]"
        if not isinstance(detection, dict):
            raise ValueError(f"{where} is not a dict: {detection!r}.")
        missing = {"image_id", "category_id", "bbox", "score"} - set(detection)
        if missing:
            raise ValueError(f"{where} lacks {sorted(missing)}.")
        if not _is_box(detection["bbox"]):
            raise ValueError(f"{where}['bbox'] is not [x, y, w, h] of finite "
                             f"numbers: {detection['bbox']!r}.")
        if not _is_finite_number(detection["score"]):
            raise ValueError(f"{where}['score'] is not a finite number: "
                             f"{detection['score']!r}.")
        if detection["image_id"] not in image_ids:
            raise ValueError(f"{where}['image_id'] {detection['image_id']!r} "
                             "is not an image of the ground truth.")
        if detection["category_id"] not in category_ids:
            raise ValueError(
                f"{where}['category_id'] {detection['category_id']!r} is not "
                "a category of the ground truth.")
        x, y, w, h = (float(v) for v in detection["bbox"])
        results.append({
            "id": index + 1, "image_id": detection["image_id"],
            "category_id": detection["category_id"], "bbox": [x, y, w, h],
            "score": float(detection["score"]), "area": w * h, "iscrowd": 0,
        })
    return results


def _class_names(dataset, category_ids, class_names):
    if class_names is None:
        by_id = {c["id"]: c.get("name", str(c["id"]))
                 for c in dataset["categories"]}
        return [by_id[i] for i in category_ids]
    class_names = [str(name) for name in class_names]
    if len(class_names) != len(category_ids):
        raise ValueError(
            f"`class_names` has {len(class_names)} names but the ground "
            f"truth has {len(category_ids)} categories.")
    return class_names


def _defined(value):
    """pycocotools' -1 (no ground truth in the range) as None."""
    value = float(value)
    return value if value >= 0 else None


def _per_class_ap(evaluation, category_ids, names):
    """AP of each class with ground truth (all areas, 100 detections)."""
    precision = evaluation.eval["precision"]  # [T, R, K, A, M]
    per_class = {}
    for k, category_id in enumerate(evaluation.params.catIds):
        values = precision[:, :, k, 0, -1]
        defined = values[values > -1]
        if defined.size:
            per_class[names[category_ids.index(category_id)]] = float(
                defined.mean())
    return per_class


def _is_box(value):
    return (isinstance(value, (list, tuple)) and len(value) == 4
            and all(_is_finite_number(v) for v in value))


def _is_finite_number(value):
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and math.isfinite(value))
