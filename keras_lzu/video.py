"""Adaptive LZU on video: each frame's detections steer the next frame's zoom.

`predict_video` runs a detector wrapped with box saliency
(`keras_lzu.wrap(model, output_size, saliency="boxes" | "prior+boxes")`,
whose inputs are `{"images", "prior_boxes"}`) over a sequence of frames,
feeding each frame's confident detections to the next frame as its
`prior_boxes`, as FOVEA and LZU do on driving video. `read_video_frames`
reads a video file (the `video` extra).
"""

import numpy as np
import tensorflow as tf

from keras_lzu.data import coco
from keras_lzu.extras import import_optional

# Rows of `prior_boxes` when the model's input does not fix them.
DEFAULT_MAX_PRIOR_BOXES = 32
PADDING_VALUE = -1.0
_SCORE_KEYS = ("confidence", "scores")
_CLASS_KEYS = ("classes", "labels")


def predict_video(model, frames, score_threshold=0.3, max_prior_boxes=None):
    """Runs a box-saliency LZU detector over video frames, in order.

    Frame `t` is predicted with `prior_boxes` made of the detections of
    frame `t - 1` whose score is at least `score_threshold`, the most
    confident first, at most `max_prior_boxes`, in the model's
    `bounding_box_format` and in pixels of the frame (frames of a video
    have one size), padded with -1 rows. The first frame, and any frame
    after one without such detections, gets only padding rows: the model
    then zooms with its fixed prior (`"prior+boxes"`) or not at all
    (`"boxes"`, a uniform resize). Each stream of a batch is fed its own
    detections.

    Args:
        model: a model made by `keras_lzu.wrap(..., saliency="boxes")` or
            `"prior+boxes"`, or any object with `predict_on_batch(
            {"images", "prior_boxes"})` returning KerasCV- or KerasHub-style
            detections (`"boxes"` in its `bounding_box_format`, `"xyxy"`
            if it has none; `"confidence"` or `"scores"`; `"classes"` or
            `"labels"`; `"num_detections"`).
        frames: the frames in order: an iterable (a list, a generator, a
            NumPy array, a `tf.data.Dataset`) of images `(H, W, 3)` (one
            video) or of batches `(B, H, W, 3)` (`B` independent videos
            side by side, frame `t` of each in element `t`). Dataset
            elements may also be `(images, labels)` or `{"images": ...}`.
            A batch of clips `(B, T, H, W, 3)` of `load_video_dataset` is
            `np.swapaxes(clips, 0, 1)`.
        score_threshold: float in `[0, 1]`, the score a detection needs to
            steer the next frame.
        max_prior_boxes: int, rows of `prior_boxes`. Defaults to the
            model's `prior_boxes` input size when it is fixed, else 32.

    Returns:
        A list with one entry per frame. For frames `(H, W, 3)`, the entry
        is a dict of NumPy arrays: `"boxes"` float32 `(n, 4)` pixel `xyxy`
        in the frame, `"scores"` float32 `(n,)`, `"classes"` int32 `(n,)`
        (the frame's detections), and `"prior_boxes"` float32 `(m, 4)`
        pixel `xyxy`, the previous detections the frame was zoomed with
        (`m = 0`: the fixed prior). For batches, the entry is a list of
        `B` such dicts.

    Raises:
        ValueError: bad arguments, an empty sequence, frames that are not
            `(H, W, 3)` or `(B, H, W, 3)`, or a frame whose shape differs
            from the first frame's.

    Example:

    ```python
    model = keras_lzu.wrap(detector, (256, 416), saliency="prior+boxes",
                           prior=prior)
    found = keras_lzu.predict_video(model, video_frames, score_threshold=0.4)
    found[3]["boxes"]  # (n, 4) pixel xyxy of frame 3
    ```
    """
    if isinstance(score_threshold, bool) or not isinstance(
            score_threshold, (int, float, np.integer, np.floating)) or not (
            0.0 <= score_threshold <= 1.0):
        raise ValueError(
            "`score_threshold` must be a number in [0, 1]. Received: "
            f"score_threshold={score_threshold!r}")
    if not callable(getattr(model, "predict_on_batch", None)):
        raise ValueError(
            "`model` must be a detector wrapped with keras_lzu.wrap(..., "
            'saliency="boxes" or "prior+boxes"), with predict_on_batch. '
            f"Received: {type(model).__name__}")
    max_prior_boxes = _max_prior_boxes(model, max_prior_boxes)
    box_format = getattr(model, "bounding_box_format", None) or "xyxy"
    if box_format not in coco.BOX_FORMATS:
        raise ValueError(
            f"The model's bounding_box_format {box_format!r} is not one of "
            f"{coco.BOX_FORMATS}.")
    if hasattr(frames, "shape") and len(frames.shape) not in (4, 5):
        raise ValueError(
            "`frames` as one array must be (T, H, W, 3) or (T, B, H, W, 3). "
            f"Received: frames.shape={tuple(frames.shape)}")
    results, previous, first_shape = [], None, None
    for t, element in enumerate(frames):
        images, batched = _frame_batch(element, t)
        if first_shape is None:
            first_shape = images.shape
        elif images.shape != first_shape:
            raise ValueError(
                f"Frame {t} is a batch of shape {images.shape} (images "
                f"get a batch axis of 1), but frame 0 is {first_shape}: "
                "the frames of a video and the number of streams must stay "
                "the same.")
        size = images.shape[1:3]
        if previous is None:
            prior_xyxy = np.full((len(images), max_prior_boxes, 4),
                                 PADDING_VALUE, "float32")
        else:
            prior_xyxy = _prior_boxes(previous, score_threshold,
                                      max_prior_boxes)
        prior_boxes = _from_xyxy(prior_xyxy, box_format, size)
        outputs = model.predict_on_batch(
            {"images": images, "prior_boxes": prior_boxes})
        previous = _detections(outputs, box_format, size, len(images))
        for found, prior in zip(previous, prior_xyxy):
            found["prior_boxes"] = prior[prior[:, 0] >= 0]
        results.append(previous if batched else previous[0])
    if not results:
        raise ValueError("`frames` holds no frames.")
    return results


def read_video_frames(path, max_frames=None):
    """Yields the frames of a video file as uint8 `(H, W, 3)` arrays.

    Uses imageio (`pip install 'keras-lzu[video]'`, with its FFmpeg
    plugin for MP4 and the like; GIF needs only imageio). Feed the frames
    to `predict_video`.

    Args:
        path: the video file.
        max_frames: optional int, stop after this many frames.

    Yields:
        uint8 `(H, W, 3)` RGB frames, in order.

    Raises:
        MissingExtraError: imageio is not installed.
        FileNotFoundError: `path` does not exist.

    Example:

    ```python
    found = keras_lzu.predict_video(model, read_video_frames("drive.mp4"))
    ```
    """
    import os

    iio = import_optional("imageio.v3", "video", "Reading video files")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`path` is not a video file: {path!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or not
                                   isinstance(max_frames, int)
                                   or max_frames < 1):
        raise ValueError("`max_frames` must be a positive integer. "
                         f"Received: {max_frames!r}")
    for count, frame in enumerate(iio.imiter(path)):
        if max_frames is not None and count >= max_frames:
            return
        frame = np.asarray(frame)
        if frame.ndim == 2:
            frame = np.repeat(frame[..., None], 3, axis=-1)
        yield np.ascontiguousarray(frame[..., :3]).astype("uint8")


def _max_prior_boxes(model, max_prior_boxes):
    if max_prior_boxes is None:
        inputs = getattr(model, "input", None)
        if isinstance(inputs, dict) and "prior_boxes" in inputs:
            rows = inputs["prior_boxes"].shape[1]
            if rows is not None:
                return int(rows)
        return DEFAULT_MAX_PRIOR_BOXES
    if isinstance(max_prior_boxes, bool) or not isinstance(
            max_prior_boxes, (int, np.integer)) or max_prior_boxes < 1:
        raise ValueError(
            "`max_prior_boxes` must be a positive integer. Received: "
            f"max_prior_boxes={max_prior_boxes!r}")
    return int(max_prior_boxes)


def _frame_batch(element, t):
    """`(float32 (B, H, W, 3), batched)` of one element of `frames`."""
    if isinstance(element, dict):
        element = element["images"]
    elif isinstance(element, (list, tuple)):
        element = element[0]
    images = np.asarray(element, "float32")
    if images.ndim not in (3, 4) or images.shape[-1] != 3 or (
            0 in images.shape):
        raise ValueError(
            f"Frame {t} must be an image (H, W, 3) or a batch of images "
            f"(B, H, W, 3). Received shape {images.shape}")
    if not np.isfinite(images).all():
        raise ValueError(f"Frame {t} has non-finite pixel values.")
    batched = images.ndim == 4
    return (images if batched else images[None]), batched


def _prior_boxes(detections, score_threshold, rows):
    """Each stream's confident detections, best first, padded with -1."""
    prior = np.full((len(detections), rows, 4), PADDING_VALUE, "float32")
    for b, found in enumerate(detections):
        keep = np.flatnonzero(found["scores"] >= score_threshold)
        keep = keep[np.argsort(-found["scores"][keep], kind="stable")][:rows]
        prior[b, :len(keep)] = found["boxes"][keep]
    return prior


def _detections(outputs, box_format, size, batch):
    """Per-stream `{"boxes" xyxy, "scores", "classes"}` of the model's
    decoded outputs."""
    outputs = {key: np.asarray(value) for key, value in outputs.items()}
    scores = _first_key(outputs, _SCORE_KEYS)
    classes = _first_key(outputs, _CLASS_KEYS)
    boxes = coco.xyxy_from_boxes(outputs["boxes"], box_format, size).numpy()
    counts = outputs.get("num_detections")
    found = []
    for b in range(batch):
        n = boxes.shape[1] if counts is None else int(counts[b])
        valid = classes[b, :n] >= 0
        found.append({
            "boxes": boxes[b, :n][valid],
            "scores": scores[b, :n][valid].astype("float32"),
            "classes": classes[b, :n][valid].astype("int32"),
        })
    return found


def _first_key(outputs, keys):
    for key in keys:
        if key in outputs:
            return outputs[key]
    raise ValueError(
        f"The model's detections have none of {keys}: {sorted(outputs)}")


def _from_xyxy(boxes, box_format, size):
    """Pixel `xyxy` boxes to a KerasCV box format; -1 rows stay -1."""
    converted = coco.convert_xyxy_boxes(
        tf.constant(boxes), box_format, size).numpy()
    return np.where(boxes[..., :1] >= 0, converted, PADDING_VALUE).astype(
        "float32")
