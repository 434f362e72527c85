"""Semantic segmentation metrics from a streaming confusion matrix."""

import numpy as np


class SegmentationMetrics:
    """Mean IoU, per-class IoU and pixel accuracy, accumulated over batches.

    Every `update` adds its pixels to a `(num_classes, num_classes)`
    confusion matrix (rows: truth, columns: prediction), so the result is
    the IoU over all pixels seen, not a mean of per-image IoUs.

    The IoU of class `k` is `TP / (TP + FP + FN)` over all pixels. A class
    absent from both the truth and the predictions has no IoU: it is left
    out of `per_class` and of the mean (it is neither 0 nor 1).

    Example:

    >>> metrics = SegmentationMetrics(3, class_names=["bg", "car", "sign"])
    >>> metrics.update(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]]))
    >>> metrics.result()
    {'mIoU': 0.5833333333333333, 'pixel_accuracy': 0.75, \
'per_class': {'bg': 0.5, 'car': 0.6666666666666666}}

    Args:
        num_classes: int, the number of classes; labels are `0 ..
            num_classes - 1`.
        class_names: optional `num_classes` names for `per_class` (default
            `"0"`, `"1"`, ...).
        ignore_index: optional int, a truth label whose pixels are not
            counted (e.g. 255 for "void"), whatever is predicted there.
    """

    def __init__(self, num_classes, class_names=None, ignore_index=None):
        if (isinstance(num_classes, bool) or not isinstance(
                num_classes, (int, np.integer)) or num_classes < 1):
            raise ValueError("`num_classes` must be a positive integer. "
                             f"Received: {num_classes!r}")
        self.num_classes = int(num_classes)
        if class_names is None:
            class_names = [str(k) for k in range(self.num_classes)]
        self.class_names = [str(name) for name in class_names]
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"`class_names` must have `num_classes` ({self.num_classes}) "
                f"names. Received {len(self.class_names)}.")
        if ignore_index is not None and (
                isinstance(ignore_index, bool)
                or not isinstance(ignore_index, (int, np.integer))):
            raise ValueError("`ignore_index` must be an integer or None. "
                             f"Received: {ignore_index!r}")
        self.ignore_index = ignore_index
        self.reset()

    def reset(self):
        """Forgets every pixel seen so far."""
        self.confusion_matrix = np.zeros(
            (self.num_classes, self.num_classes), "int64")

    def update(self, y_true, y_pred):
        """Adds the pixels of one batch.

        Args:
            y_true: integer labels of any shape (NumPy array or tensor).
            y_pred: integer labels of the same shape (e.g. the argmax of a
                segmenter's scores).

        Raises:
            ValueError: the shapes differ, a value is not an integer, or a
                label is outside `0 .. num_classes - 1` (and is not
                `ignore_index` in `y_true`).
        """
        y_true = _integer_labels(y_true, "y_true")
        y_pred = _integer_labels(y_pred, "y_pred")
        if y_true.shape != y_pred.shape:
            raise ValueError("`y_true` and `y_pred` must have the same shape. "
                             f"Received {y_true.shape} and {y_pred.shape}.")
        if self.ignore_index is not None:
            counted = y_true != self.ignore_index
            y_true, y_pred = y_true[counted], y_pred[counted]
        for labels, name in ((y_true, "y_true"), (y_pred, "y_pred")):
            outside = (labels < 0) | (labels >= self.num_classes)
            if np.any(outside):
                raise ValueError(
                    f"`{name}` has label {int(labels[outside][0])}, outside "
                    f"0 .. {self.num_classes - 1} (`num_classes` "
                    f"{self.num_classes}).")
        index = y_true.ravel() * self.num_classes + y_pred.ravel()
        self.confusion_matrix += np.bincount(
            index, minlength=self.num_classes ** 2).reshape(
                self.num_classes, self.num_classes)

    def result(self):
        """The metrics of every pixel seen since the last `reset`.

        Returns:
            dict `{"mIoU": float, "pixel_accuracy": float, "per_class":
            {name: IoU}}`; classes in neither truth nor prediction are left
            out of `per_class` and of `mIoU`.

        Raises:
            ValueError: no pixel has been counted yet.
        """
        confusion = self.confusion_matrix
        total = confusion.sum()
        if total == 0:
            raise ValueError("SegmentationMetrics has counted no pixels: call "
                             "`update` with at least one labelled pixel.")
        intersection = np.diag(confusion)
        union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
        present = union > 0
        ious = intersection[present] / union[present]
        names = [n for n, p in zip(self.class_names, present) if p]
        return {
            "mIoU": float(ious.mean()),
            "pixel_accuracy": float(intersection.sum() / total),
            "per_class": {name: float(iou) for name, iou in zip(names, ious)},
        }


def _integer_labels(values, name):
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype("int64")
    if values.dtype.kind == "f" and np.all(values == np.round(values)):
        return values.astype("int64")
    raise ValueError(f"`{name}` must hold integer class labels. Received "
                     f"dtype {values.dtype}.")
