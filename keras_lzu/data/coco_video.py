"""COCO-VID / TAO-style video detection files and their `tf.data` pipeline.

A video file is a COCO instances file with, in addition, a list `videos`
(each with a unique `id`), a `video_id` and a `frame_id` on every image
(its video and its position in it) and a `track_id` on every annotation
(one object across the frames of its video). `read_video_annotations`
checks all of it, naming the file and the field at fault, and returns the
frames of each video in order; `load_video_dataset` streams clips of
consecutive frames with their boxes, classes and track ids. The frames
alone are a plain COCO dataset: `load_coco_dataset` reads the same file.
"""

import os

import numpy as np
import tensorflow as tf

from keras_lzu.data import coco
from keras_lzu.data import coco_checks


def read_video_annotations(annotation_file, include_crowd=False):
    """Reads and checks a COCO-VID-style JSON file, frames grouped by video.

    Beyond the checks of a COCO instances file: the top level has a list
    `videos` whose entries have unique `id`s; every image has a `video_id`
    of a listed video and a non-negative integer `frame_id`, unique within
    its video; every annotation has an integer `track_id`, and all
    annotations of one track are in one video and of one category; an
    annotation's own `video_id`, when present, is its image's.

    Args:
        annotation_file: path of the JSON file.
        include_crowd: bool, keep annotations marked `iscrowd=1`.

    Returns:
        A dict with `"videos"`, a list in file order of dicts `{"id",
        "name", "frames"}` whose `"frames"` are the records of
        `read_coco_annotations` sorted by `frame_id`, each with
        `"frame_id"` and `"track_ids"` (int64 `(N,)`, aligned with
        `"boxes"` and `"classes"`); and `"category_ids"`,
        `"category_names"` as in `read_coco_annotations`.

    Raises:
        FileNotFoundError: the file does not exist.
        CocoFormatError: the file is not valid JSON or a field is wrong;
            the message names the file and the field.

    Example:

    >>> records = read_video_annotations("videos.json")  # doctest: +SKIP
    >>> [len(video["frames"]) for video in records["videos"]][:3]
    ... # doctest: +SKIP
    [8, 8, 8]
    """
    content = coco_checks.load_coco_json(annotation_file)
    coco_checks.check_coco_content(content, annotation_file)
    _check_video_content(content, annotation_file)
    records = coco.read_coco_annotations(annotation_file, include_crowd)
    # `read_coco_annotations` keeps the file's annotation order per image;
    # the track ids follow the same filter.
    tracks = {image["id"]: [] for image in content["images"]}
    for annotation in content["annotations"]:
        if annotation.get("iscrowd", 0) and not include_crowd:
            continue
        _, _, w, h = (float(v) for v in annotation["bbox"])
        if w > 0 and h > 0:
            tracks[annotation["image_id"]].append(annotation["track_id"])
    by_image = {image["id"]: image for image in content["images"]}
    videos = {video["id"]: {"id": video["id"],
                            "name": video.get("name", str(video["id"])),
                            "frames": []}
              for video in content["videos"]}
    for record in records["images"]:
        image = by_image[record["id"]]
        record["frame_id"] = int(image["frame_id"])
        record["track_ids"] = np.asarray(tracks[record["id"]], "int64")
        videos[image["video_id"]]["frames"].append(record)
    for video in videos.values():
        video["frames"].sort(key=lambda r: r["frame_id"])
    return {
        "videos": list(videos.values()),
        "category_ids": records["category_ids"],
        "category_names": records["category_names"],
    }


def load_video_dataset(
    annotation_file,
    image_dir,
    sequence_length=None,
    stride=None,
    batch_size=1,
    shuffle=False,
    seed=None,
    bounding_box_format="xyxy",
    max_boxes=None,
    include_crowd=False,
):
    """A `tf.data.Dataset` of clips of consecutive frames with their labels.

    Elements are `(frames, {"boxes", "classes", "track_ids"})`: float32
    frames `(B, T, H, W, 3)` in `[0, 255]`, float32 boxes
    `(B, T, max_boxes, 4)` in `bounding_box_format` (pixels of the frame
    unless relative), float32 classes `(B, T, max_boxes)` (contiguous
    indices in sorted category id order) and int32 track ids
    `(B, T, max_boxes)`, padded with -1. A clip is `sequence_length`
    frames in `frame_id` order, one every `stride` frames of a video;
    frames need not have consecutive `frame_id`s. `dataset.unbatch()`
    gives single clips.

    Args:
        annotation_file: path of a COCO-VID-style JSON file (see
            `read_video_annotations`).
        image_dir: directory the images' `file_name`s are relative to.
        sequence_length: int, frames per clip. `None`: whole videos, which
            must then all have the same number of frames unless
            `batch_size` is 1. Videos shorter than `sequence_length` give
            no clip.
        stride: int, frames between the starts of two clips of a video;
            defaults to `sequence_length` (clips do not overlap).
        batch_size: int, clips per batch.
        shuffle: bool, shuffle the clips (anew each epoch).
        seed: optional int, makes the shuffled order deterministic.
        bounding_box_format: one of `keras_lzu.data.BOX_FORMATS`.
        max_boxes: int, rows of the padded labels; defaults to the most
            boxes of any frame.
        include_crowd: bool, keep `iscrowd=1` annotations.

    Returns:
        A prefetched `tf.data.Dataset`.

    Raises:
        FileNotFoundError: the file, `image_dir` or a frame is missing.
        CocoFormatError: the file is malformed (see
            `read_video_annotations`).
        ValueError: bad arguments, no clip, or frames of different sizes.
    """
    coco._check_box_format(bounding_box_format)
    batch_size = coco._positive_int(batch_size, "batch_size")
    if not tf.io.gfile.isdir(image_dir):
        raise FileNotFoundError(
            f"`image_dir` is not a directory: {image_dir!r}")
    videos = read_video_annotations(annotation_file, include_crowd)["videos"]
    clips = _clips(videos, sequence_length, stride, batch_size,
                   annotation_file)
    frames = [frame for clip in clips for frame in clip]
    sizes = {(f["height"], f["width"]) for f in frames}
    if len(sizes) > 1:
        raise ValueError(
            f"The frames of {annotation_file!r} have different sizes "
            f"(height, width): {sorted(sizes)[:5]}; clips need one size.")
    paths = [os.path.join(image_dir, f["file_name"]) for f in frames]
    coco._check_files_exist(paths, image_dir)
    if max_boxes is None:
        max_boxes = max(max(len(f["classes"]) for f in frames), 1)
    max_boxes = coco._positive_int(max_boxes, "max_boxes")
    boxes, classes, track_ids = (np.stack(arrays) for arrays in zip(
        *(_padded_labels(f, max_boxes) for f in frames)))
    length = len(clips[0]) if len({len(c) for c in clips}) == 1 else None
    offsets = np.cumsum([0] + [len(c) for c in clips]).astype("int64")
    paths, offsets = tf.constant(paths), tf.constant(offsets)
    boxes, classes = tf.constant(boxes), tf.constant(classes)
    track_ids = tf.constant(track_ids)
    height, width = next(iter(sizes))

    def load(index):
        rows = tf.range(offsets[index], offsets[index + 1])

        def read(row):
            image = tf.io.decode_image(tf.io.read_file(paths[row]),
                                       channels=3, expand_animations=False)
            return tf.cast(tf.ensure_shape(image, (height, width, 3)),
                           "float32")

        clip = tf.map_fn(read, rows, fn_output_signature=tf.float32)
        clip_boxes = tf.gather(boxes, rows)
        clip_classes = tf.gather(classes, rows)
        converted = coco.convert_xyxy_boxes(
            clip_boxes, bounding_box_format, (height, width))
        clip_boxes = tf.where(clip_classes[..., None] >= 0, converted,
                              clip_boxes)
        return (tf.ensure_shape(clip, (length, height, width, 3)), {
            "boxes": tf.ensure_shape(clip_boxes, (length, max_boxes, 4)),
            "classes": tf.ensure_shape(clip_classes, (length, max_boxes)),
            "track_ids": tf.ensure_shape(tf.gather(track_ids, rows),
                                         (length, max_boxes)),
        })

    dataset = tf.data.Dataset.range(len(clips))
    if shuffle:
        dataset = dataset.shuffle(len(clips), seed=seed,
                                  reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _clips(videos, sequence_length, stride, batch_size, annotation_file):
    if sequence_length is None:
        if stride is not None:
            raise ValueError("`stride` needs a `sequence_length`.")
        clips = [video["frames"] for video in videos if video["frames"]]
        lengths = {len(clip) for clip in clips}
        if batch_size > 1 and len(lengths) > 1:
            raise ValueError(
                f"The videos of {annotation_file!r} have different numbers "
                f"of frames ({sorted(lengths)[:5]}): pass `sequence_length` "
                "to cut them into clips of one length, or `batch_size=1`.")
    else:
        sequence_length = coco._positive_int(sequence_length,
                                             "sequence_length")
        stride = coco._positive_int(stride or sequence_length, "stride")
        clips = [video["frames"][start:start + sequence_length]
                 for video in videos
                 for start in range(0, len(video["frames"])
                                    - sequence_length + 1, stride)]
    if not clips:
        raise ValueError(
            f"{annotation_file!r} has no clip of {sequence_length} frames: "
            "its videos are shorter or have no frames.")
    return clips


def _padded_labels(frame, max_boxes):
    n = min(len(frame["classes"]), max_boxes)
    boxes = -np.ones((max_boxes, 4), "float32")
    classes = -np.ones((max_boxes,), "float32")
    track_ids = -np.ones((max_boxes,), "int32")
    boxes[:n] = frame["boxes"][:n]
    classes[:n] = frame["classes"][:n]
    track_ids[:n] = frame["track_ids"][:n]
    return boxes, classes, track_ids


def _check_video_content(content, annotation_file):
    """The video fields of a COCO-VID file (after `check_coco_content`)."""
    where = coco_checks._Where(annotation_file)
    if not isinstance(content.get("videos"), list):
        where.fail(
            "is not a COCO-VID video file: it has no list named 'videos'")
    video_ids = set()
    for index, video in enumerate(content["videos"]):
        field = f"videos[{index}]"
        where.check_keys(video, field, ("id",))
        if video["id"] in video_ids:
            where.fail(f"{field}.id {video['id']!r} is not unique")
        video_ids.add(video["id"])
    frames = set()
    video_of = {}
    for index, image in enumerate(content["images"]):
        field = f"images[{index}]"
        where.check_keys(image, field, ("video_id", "frame_id"))
        if image["video_id"] not in video_ids:
            where.fail(
                f"{field}.video_id {image['video_id']!r} is not in "
                "'videos'")
        frame_id = image["frame_id"]
        if isinstance(frame_id, bool) or not isinstance(frame_id, int) or (
                frame_id < 0):
            where.fail(
                f"{field}.frame_id must be a non-negative integer. "
                f"Received: {frame_id!r}")
        if (image["video_id"], frame_id) in frames:
            where.fail(
                f"{field}.frame_id {frame_id} appears twice in video "
                f"{image['video_id']!r}")
        frames.add((image["video_id"], frame_id))
        video_of[image["id"]] = image["video_id"]
    track_of = {}
    for index, annotation in enumerate(content["annotations"]):
        field = f"annotations[{index}]"
        where.check_keys(annotation, field, ("track_id",))
        track_id = annotation["track_id"]
        if isinstance(track_id, bool) or not isinstance(track_id, int):
            where.fail(
                f"{field}.track_id must be an integer. Received: "
                f"{track_id!r}")
        video_id = video_of[annotation["image_id"]]
        if annotation.get("video_id", video_id) != video_id:
            where.fail(
                f"{field}.video_id {annotation['video_id']!r} is not the "
                f"video of its image {annotation['image_id']!r} "
                f"({video_id!r})")
        owner = (video_id, annotation["category_id"])
        if track_of.setdefault(track_id, owner) != owner:
            where.fail(
                f"{field}.track_id {track_id} is also used in video "
                f"{track_of[track_id][0]!r} with category "
                f"{track_of[track_id][1]!r}: a track stays in one video "
                "and one category")
