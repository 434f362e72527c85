"""Scores a detector or segmenter on a COCO dataset (images + instances)."""

import os

import numpy as np

from keras_lzu.evaluation.detection import coco_detection_metrics
from keras_lzu.evaluation.detection import detections_to_coco
from keras_lzu.evaluation.detection import load_ground_truth
from keras_lzu.evaluation.segmentation import SegmentationMetrics

# The truth label of crowd regions in segmentation: not scored.
CROWD_LABEL = -1


class CocoImages:
    """The images of a COCO instances file, checked before any work.

    Args:
        annotation_file: path of a COCO instances JSON file.
        image_dir: directory the images' `file_name`s are relative to.

    Raises:
        FileNotFoundError: the annotation file, `image_dir` or an image
            file is missing.
        ValueError: the file is not a COCO instances file, or an image
            entry lacks `file_name`, `height` or `width`.
    """

    def __init__(self, annotation_file, image_dir):
        self.annotation_file = os.fspath(annotation_file)
        self.dataset = load_ground_truth(self.annotation_file)
        if not os.path.isdir(image_dir):
            raise FileNotFoundError(
                f"`--images` is not a directory: {image_dir!r}")
        self.image_dir = os.fspath(image_dir)
        for image in self.dataset["images"]:
            missing = {"file_name", "height", "width"} - set(image)
            if missing:
                raise ValueError(
                    f"{self.annotation_file!r}: image {image['id']!r} lacks "
                    f"{sorted(missing)}.")
            path = self.path(image)
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"Image {image['id']!r} of {self.annotation_file!r} is "
                    f"missing: {path!r}")
        if not self.dataset["images"]:
            raise ValueError(f"{self.annotation_file!r} has no images.")
        self._annotations = {}
        for annotation in self.dataset["annotations"]:
            self._annotations.setdefault(annotation["image_id"],
                                         []).append(annotation)
        self.categories = sorted(self.dataset["categories"],
                                 key=lambda c: c["id"])
        self.category_ids = [c["id"] for c in self.categories]
        self.class_names = [c.get("name", str(c["id"]))
                            for c in self.categories]

    def path(self, image):
        return os.path.join(self.image_dir, image["file_name"])

    def batches(self, batch_size):
        """Yields `(image records, uint8 (B, H, W, 3))`, images of one size
        together, at most `batch_size` per batch."""
        by_size = {}
        for image in self.dataset["images"]:
            by_size.setdefault((int(image["height"]), int(image["width"])),
                               []).append(image)
        for records in by_size.values():
            for start in range(0, len(records), batch_size):
                chunk = records[start:start + batch_size]
                yield chunk, np.stack([self.read(r) for r in chunk])

    def read(self, image):
        import tensorflow as tf

        path = self.path(image)
        pixels = tf.io.decode_image(tf.io.read_file(path), channels=3,
                                    expand_animations=False).numpy()
        expected = (int(image["height"]), int(image["width"]))
        if pixels.shape[:2] != expected:
            raise ValueError(
                f"{path!r} is {pixels.shape[0]}x{pixels.shape[1]} pixels but "
                f"{self.annotation_file!r} says {expected[0]}x{expected[1]} "
                f"(image {image['id']!r}).")
        return pixels

    def annotations_of(self, image_id):
        """The annotations of one image, in file order."""
        return self._annotations.get(image_id, [])


def evaluate_on_coco(model, annotation_file, image_dir, batch_size=4):
    """COCO box AP (detectors) or mIoU (segmenters) of a model.

    Detectors are scored with `coco_detection_metrics` on their boxes in
    each image's own frame; class `k` of the model is the `k`-th category
    in ascending id order. Segmenters are scored with
    `SegmentationMetrics` against the annotations' polygons / RLEs
    rendered by `keras_lzu.data.coco_semantic_mask`: class 0 is the
    background, class `k + 1` the `k`-th category, crowd regions are not
    scored. Images may differ in size.

    Args:
        model: a `.keras` file, a SavedModel directory (its
            `serving_default`), or a model made by `keras_lzu.wrap`.
        annotation_file: COCO instances JSON file.
        image_dir: directory of the images.
        batch_size: images per model call (images of one size together).

    Returns:
        dict `{"task": "detection" | "segmentation", "num_images": int,
        "metrics": {...}}` with the metrics of `coco_detection_metrics` or
        `SegmentationMetrics.result()`.

    Example:

    >>> report = evaluate_on_coco("lzu.keras", "val/instances.json",
    ...                           "val/images")  # doctest: +SKIP
    >>> report["metrics"]["AP50"]  # doctest: +SKIP
    0.41
    """
    from keras_lzu.evaluation.predictors import check_model_path
    from keras_lzu.evaluation.predictors import load_predictor

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or (
            batch_size < 1):
        raise ValueError("`batch_size` must be a positive integer. "
                         f"Received: {batch_size!r}")
    if isinstance(model, (str, os.PathLike)):
        check_model_path(model)
    images = CocoImages(annotation_file, image_dir)
    predict = load_predictor(model)
    scorer = None
    for records, pixels in images.batches(batch_size):
        outputs = predict(pixels)
        if scorer is None:
            scorer = _scorer(outputs, images)
        scorer.add(records, outputs)
    return {"task": scorer.task, "num_images": len(images.dataset["images"]),
            "metrics": scorer.result()}


def _scorer(outputs, images):
    if "masks" in outputs:
        return _SegmentationScorer(images)
    if {"boxes", "scores", "classes", "num_detections"} <= set(outputs):
        return _DetectionScorer(images)
    raise ValueError(
        "The model's outputs are neither a detector's (boxes, scores, "
        "classes, num_detections) nor a segmenter's (masks): "
        f"{sorted(outputs)}.")


class _DetectionScorer:
    task = "detection"

    def __init__(self, images):
        self.images = images
        self.results = []

    def add(self, records, outputs):
        for i, record in enumerate(records):
            n = int(outputs["num_detections"][i])
            classes = outputs["classes"][i, :n]
            if n and classes.max() >= len(self.images.category_ids):
                raise ValueError(
                    f"The model predicts class {int(classes.max())} but "
                    f"{self.images.annotation_file!r} has "
                    f"{len(self.images.category_ids)} categories.")
            self.results += detections_to_coco(
                record["id"], outputs["boxes"][i, :n],
                outputs["scores"][i, :n], classes, self.images.category_ids)

    def result(self):
        return coco_detection_metrics(self.images.dataset, self.results)


class _SegmentationScorer:
    task = "segmentation"

    def __init__(self, images):
        from keras_lzu.data.coco_masks import coco_semantic_mask

        for annotation in images.dataset["annotations"]:
            if "segmentation" not in annotation:
                raise ValueError(
                    f"{images.annotation_file!r}: annotation "
                    f"{annotation['id']!r} has no 'segmentation'; a "
                    "segmenter is scored against the annotations' polygons "
                    "or RLEs.")
        self.images = images
        self.render = coco_semantic_mask
        self.class_of = {category_id: k + 1 for k, category_id
                         in enumerate(images.category_ids)}
        self.metrics = SegmentationMetrics(
            len(images.category_ids) + 1,
            ["background"] + images.class_names, ignore_index=CROWD_LABEL)

    def add(self, records, outputs):
        for record, predicted in zip(records, outputs["masks"]):
            height, width = int(record["height"]), int(record["width"])
            if predicted.shape != (height, width):
                raise ValueError(
                    f"The model's mask for image {record['id']!r} is "
                    f"{predicted.shape}, not the image's ({height}, {width}).")
            truth = self.render(self.images.annotations_of(record["id"]),
                                height, width, self.class_of,
                                crowd_value=CROWD_LABEL)
            self.metrics.update(truth, predicted)

    def result(self):
        return self.metrics.result()
