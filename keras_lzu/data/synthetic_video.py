"""Synthetic driving video: the scenes of `synthetic.py`, moving in time.

Each video is a short sequence of frames of one road scene seen from a car
that drives forward, with a camera that may pan (turn) and pitch, so that
the region where the small far objects are moves across the frames. Every
object is a track with a fixed class, look and world motion, projected with
the flat-ground pinhole model of `SyntheticDrivingScenes`: far objects are
small and near the horizon, grow and drop as they approach, and leave the
frame at the bottom or the sides; others enter at the horizon or from the
side the camera turns to. By default the far objects gather around a focus
(a crossing, a junction) at a random place of the horizon, and the horizon
itself is at a different height in each video, so that a saliency prior of
a fixed band misses some of them: the setting where saliency from the
previous frame's detections should help.

The drawing (road, clutter, object shapes) is `synthetic.py`'s.
`write_coco` stores videos in the COCO-VID / TAO layout that
`keras_lzu.data.read_video_annotations` reads back.
"""

import json
import os

import numpy as np
import tensorflow as tf

from keras_lzu.data import coco
from keras_lzu.data import synthetic
from keras_lzu.files import write_atomically

SPLITS = synthetic.SPLITS
# Objects nearer than this depth (1 = the bottom row of the frame) have
# passed the camera.
_NEAREST_DEPTH = 0.9
# Objects smaller than this (pixels) are not drawn: they have not yet
# appeared over the horizon.
_MIN_SIDE = 2.0
# At least this fraction of an object's box must be inside the frame for
# it to be labelled (it is drawn anyway).
_MIN_INSIDE_FRACTION = 0.3
_STATIC_CLASSES = ("traffic_sign", "traffic_light")


class SyntheticDrivingVideos:
    """Deterministic generator of synthetic driving videos with tracks.

    Video `index` of `split` depends only on `(seed, split, index)`.

    The world model of a video: the camera sees the ground plane; an object
    at depth `z` (in units where `z = 1` stands on the bottom row) and
    lateral position `x` (in frame widths at depth 1) has, at frame `t`,
    the scale `s = 1 / z`, height `s * r * H` for its class's reference
    height `r` (the `_GEOMETRY` table of `synthetic.py`; poles raise signs
    and lights), its feet on row `horizon[t] + s * (H - horizon[0])` and
    its centre on column `vanishing_x[t] + s * x * W`. Each track moves
    linearly in the world: `z(t) = depth - approach_speed * (t - birth)`,
    `x(t) = lateral + lateral_speed * (t - birth)`; the camera pans and
    pitches linearly: `vanishing_x[t]` and `horizon[t]` move by a constant
    number of pixels per frame. A track exists from frame `birth` until it
    passes the camera (`z < 0.9`).

    `sequence(index, split)` returns a dict:

    * `"frames"`: uint8 `(T, H, W, 3)`;
    * `"boxes"`, `"classes"`, `"track_ids"`: lists of `T` arrays, float32
      `(n_t, 4)` pixel `xyxy` boxes (the drawn shape's extent inside the
      frame, including parts nearer objects hide), int32 `(n_t,)` class
      indices and int32 `(n_t,)` track indices (rows of `"tracks"`), for
      the objects labelled in frame `t`: at least 2 pixels tall, at least
      30% of the box inside the frame and 30% of its pixels visible;
    * `"horizon"`, `"vanishing_x"`: float64 `(T,)` image row of the horizon
      and column of the vanishing point in each frame;
    * `"tracks"`: dict of float64 / int32 arrays, one row per track:
      `"class"`, `"birth"`, `"depth"`, `"lateral"`, `"approach_speed"`,
      `"lateral_speed"`, `"aspect"` (width / height) of the world model
      above.

    Example:

    >>> videos = SyntheticDrivingVideos(image_size=(96, 160), num_frames=4)
    >>> video = videos.sequence(0)
    >>> video["frames"].shape
    (4, 96, 160, 3)
    >>> frames, labels = next(iter(videos.as_dataset(batch_size=2)))
    >>> frames.shape, labels["track_ids"].shape
    (TensorShape([2, 4, 96, 160, 3]), TensorShape([2, 4, 29]))

    Args:
        image_size: `(height, width)` of the frames, at least 32x32.
        num_frames: int, frames per video.
        num_classes: int in `1 .. 5`, the first classes of `CLASS_NAMES`.
        seed: int, the seed of the whole dataset.
        num_far_objects: `(low, high)` inclusive range of far objects in
            the first frame.
        num_near_objects: `(low, high)` inclusive range of near objects in
            the first frame.
        num_entering: `(low, high)` inclusive range of far objects that
            appear later in the video.
        num_distractors: `(low, high)` inclusive range of unlabelled clutter
            shapes.
        far_object_size: `(low, high)` height in pixels of far objects when
            they first appear, relative to a 1200-pixel-high image.
        camera_speed: `(low, high)` range of the depth the camera covers
            per frame (static objects approach at this speed; oncoming
            vehicles faster, vehicles ahead slower or not at all).
        pan_speed: float, largest camera pan in frame widths per frame
            (each video draws its pan from `[-pan_speed, pan_speed]`).
        pitch_speed: float, largest camera pitch in frame heights per
            frame.
        horizon_range: `(low, high)` fractions of the height where the
            first frame's horizon is drawn from.
        focus_spread: float or None. A float: the far objects gather around
            one random column, with a spread (standard deviation) of this
            fraction of the width. `None`: far objects spread over the
            whole width, as in `SyntheticDrivingScenes`.
        train_size: int, videos of the `"train"` split.
        validation_size: int, videos of the `"validation"` split.
        class_colours: bool, see `SyntheticDrivingScenes`.
    """

    def __init__(
        self,
        image_size=(384, 640),
        num_frames=8,
        num_classes=3,
        seed=0,
        num_far_objects=(10, 20),
        num_near_objects=(1, 3),
        num_entering=(2, 6),
        num_distractors=(10, 20),
        far_object_size=(24, 64),
        camera_speed=(0.1, 0.5),
        pan_speed=0.02,
        pitch_speed=0.004,
        horizon_range=(0.3, 0.6),
        focus_spread=0.12,
        train_size=64,
        validation_size=16,
        class_colours=False,
    ):
        # The still-image generator checks the arguments they share.
        self._scenes = synthetic.SyntheticDrivingScenes(
            image_size=image_size, num_classes=num_classes, seed=seed,
            num_far_objects=num_far_objects,
            num_near_objects=num_near_objects,
            num_distractors=num_distractors, far_object_size=far_object_size,
            train_size=train_size, validation_size=validation_size,
            class_colours=class_colours,
        )
        self.image_size = self._scenes.image_size
        self.num_classes = self._scenes.num_classes
        self.seed = self._scenes.seed
        self.num_far_objects = self._scenes.num_far_objects
        self.num_near_objects = self._scenes.num_near_objects
        self.num_distractors = self._scenes.num_distractors
        self.far_object_size = self._scenes.far_object_size
        self.class_colours = self._scenes.class_colours
        self.split_sizes = self._scenes.split_sizes
        self.num_frames = coco._positive_int(num_frames, "num_frames")
        self.num_entering = synthetic._count_range(num_entering,
                                                   "num_entering")
        self.camera_speed = _range(camera_speed, "camera_speed", 0.0)
        self.pan_speed = _non_negative(pan_speed, "pan_speed")
        self.pitch_speed = _non_negative(pitch_speed, "pitch_speed")
        self.horizon_range = _range(horizon_range, "horizon_range", 0.05)
        if self.horizon_range[1] > 0.9:
            raise ValueError(
                "`horizon_range` must lie in [0.05, 0.9]. Received: "
                f"{horizon_range!r}"
            )
        if focus_spread is not None:
            focus_spread = _non_negative(focus_spread, "focus_spread")
        self.focus_spread = focus_spread

    @property
    def class_names(self):
        return synthetic.CLASS_NAMES[: self.num_classes]

    @property
    def max_boxes(self):
        """The largest number of boxes a frame can have."""
        return (self.num_far_objects[1] + self.num_near_objects[1]
                + self.num_entering[1])

    def sequence(self, index, split="train"):
        """Generates video `index` of `split` (see the class docstring)."""
        synthetic._check_split(split)
        if isinstance(index, bool) or int(index) != index or index < 0:
            raise ValueError(
                f"`index` must be a non-negative integer. Received: {index!r}"
            )
        key = [self.seed, SPLITS.index(split), int(index)]
        rng = np.random.default_rng(key)
        height, width = self.image_size
        frames = np.arange(self.num_frames)
        horizon0 = height * rng.uniform(*self.horizon_range)
        vanishing0 = width * rng.uniform(0.3, 0.7)
        pan = width * rng.uniform(-self.pan_speed, self.pan_speed)
        pitch = height * rng.uniform(-self.pitch_speed, self.pitch_speed)
        # Whole-pixel camera motion: each frame is a crop of one panorama.
        shift_x = np.round(pan * frames)
        shift_y = np.clip(np.round(pitch * frames), np.ceil(1 - horizon0),
                          np.floor(height - 2 - horizon0))
        vanishing_x = vanishing0 - shift_x
        horizon = horizon0 + shift_y
        tracks = self._tracks(rng, vanishing0)
        panorama, origin = self._panorama(rng, shift_x, shift_y, horizon0,
                                          vanishing0)
        video = {"frames": [], "boxes": [], "classes": [], "track_ids": []}
        for t in frames:
            top, left = origin
            y0, x0 = int(top - shift_y[t]), int(left + shift_x[t])
            canvas = panorama[y0:y0 + height, x0:x0 + width].copy()
            frame, boxes, classes, ids = self._draw_frame(
                key, t, canvas, tracks, horizon, vanishing_x)
            video["frames"].append(frame)
            video["boxes"].append(boxes)
            video["classes"].append(classes)
            video["track_ids"].append(ids)
        video["frames"] = np.stack(video["frames"])
        video["horizon"] = horizon
        video["vanishing_x"] = vanishing_x
        video["tracks"] = tracks
        return video

    def track_boxes(self, tracks, t, horizon, vanishing_x):
        """The world model's boxes of every track at frame `t`.

        Args:
            tracks: the `"tracks"` dict of a sequence.
            t: frame index.
            horizon, vanishing_x: the sequence's per-frame arrays (the
                first frame's horizon sets the camera height).

        Returns:
            `(boxes (K, 4) float64 xyxy, exists (K,) bool)`: the projected
            object (without its pole), unclipped; `exists` is False for
            tracks not yet born or already passed.
        """
        height, width = self.image_size
        age = t - tracks["birth"]
        depth = tracks["depth"] - tracks["approach_speed"] * age
        exists = (age >= 0) & (depth >= _NEAREST_DEPTH)
        scale = 1.0 / np.maximum(depth, _NEAREST_DEPTH)
        lateral = tracks["lateral"] + tracks["lateral_speed"] * age
        reference = np.array([synthetic._GEOMETRY[synthetic.CLASS_NAMES[c]][0]
                              for c in tracks["class"]])
        pole = np.array([synthetic._GEOMETRY[synthetic.CLASS_NAMES[c]][2]
                         for c in tracks["class"]])
        h = scale * reference * height
        w = h * tracks["aspect"]
        ground = horizon[t] + scale * (height - horizon[0])
        y1 = ground - h * (1 + pole)
        cx = vanishing_x[t] + scale * lateral * width
        boxes = np.stack([cx - w / 2, y1, cx + w / 2, y1 + h], axis=-1)
        return boxes, exists

    def _tracks(self, rng, vanishing0):
        height, width = self.image_size
        counts = self.num_far_objects, self.num_near_objects
        num_far, num_near = (int(rng.integers(a, b + 1)) for a, b in counts)
        num_entering = int(rng.integers(self.num_entering[0],
                                        self.num_entering[1] + 1))
        kinds = ["far"] * num_far + ["near"] * num_near + (
            ["entering"] * num_entering)
        camera_speed = rng.uniform(*self.camera_speed)
        focus = vanishing0 + width * rng.uniform(-0.3, 0.3)
        low, high = np.log(np.asarray(self.far_object_size) * height / 1200)
        rows = {key: [] for key in ("class", "birth", "depth", "lateral",
                                    "approach_speed", "lateral_speed",
                                    "aspect")}
        for kind in kinds:
            label = int(rng.integers(self.num_classes))
            name = synthetic.CLASS_NAMES[label]
            reference, aspects, _, _ = synthetic._GEOMETRY[name]
            if kind == "near":
                scale = rng.uniform(0.25, 0.9)
            else:
                size = np.exp(rng.uniform(low, high))
                scale = size / (reference * height)
            if kind == "near":
                column = vanishing0 + 0.75 * width * scale * rng.uniform(
                    -1.1, 1.1)
            elif self.focus_spread is None:
                column = vanishing0 + width * rng.uniform(-0.45, 0.45)
            else:
                column = focus + width * self.focus_spread * rng.normal()
            if name in _STATIC_CLASSES:
                approach = camera_speed
            elif name == "pedestrian":
                approach = camera_speed * rng.uniform(0.8, 1.2)
            else:
                approach = camera_speed * rng.uniform(-0.2, 1.6)
            rows["class"].append(label)
            rows["birth"].append(
                int(rng.integers(1, self.num_frames)) if kind == "entering"
                and self.num_frames > 1 else 0)
            rows["depth"].append(1.0 / scale)
            rows["lateral"].append((column - vanishing0) / (scale * width))
            rows["approach_speed"].append(approach)
            rows["lateral_speed"].append(rng.uniform(-0.01, 0.01))
            rows["aspect"].append(rng.uniform(*aspects))
        tracks = {key: np.asarray(value, "float64")
                  for key, value in rows.items()}
        for key in ("class", "birth"):
            tracks[key] = tracks[key].astype("int32").reshape(-1)
        return tracks

    def _panorama(self, rng, shift_x, shift_y, horizon0, vanishing0):
        """The static background of the whole video, larger than a frame by
        the camera's travel, and the `(row, column)` of frame 0's origin in
        it: frame `t` is the crop at `(row - shift_y[t], column +
        shift_x[t])`."""
        height, width = self.image_size
        left = int(max(0.0, -shift_x.min()))
        top = int(max(0.0, shift_y.max()))
        pano_width = width + left + int(max(0.0, shift_x.max()))
        pano_height = height + top + int(max(0.0, -shift_y.min()))
        pano_horizon = horizon0 + top
        canvas = synthetic._background(
            rng, pano_height, pano_width, pano_horizon, vanishing0 + left
        )
        area_ratio = pano_height * pano_width / (height * width)
        count = int(rng.integers(self.num_distractors[0],
                                 self.num_distractors[1] + 1) * area_ratio)
        synthetic._draw_clutter(rng, canvas, pano_horizon, count)
        return canvas, (top, left)

    def _draw_frame(self, key, t, canvas, tracks, horizon, vanishing_x):
        """Draws the tracks on frame `t`'s background; returns the frame
        and its labels."""
        height, width = self.image_size
        boxes, exists = self.track_boxes(tracks, t, horizon, vanishing_x)
        sides = boxes[:, 2:] - boxes[:, :2]
        drawn = exists & (sides.min(axis=1) >= _MIN_SIDE)
        order = [k for k in np.argsort(-tracks["depth"]
                                       + tracks["approach_speed"]
                                       * (t - tracks["birth"]),
                                       kind="stable") if drawn[k]]
        instances = np.zeros((height, width), "int32")
        found = {}
        for number, k in enumerate(order, 1):
            name = synthetic.CLASS_NAMES[tracks["class"][k]]
            x1, y1, x2, y2 = boxes[k]
            pole = synthetic._GEOMETRY[name][2]
            centre, half_width = (x1 + x2) / 2, max((x2 - x1) / 8, 1.0)
            if pole and -half_width < centre < width + half_width and (
                    y2 < height):
                ground = y2 + (y2 - y1) * pole
                synthetic._draw_pole(canvas, instances, centre, max(y2, 0.0),
                                     min(ground, height - 1.0), half_width)
            look = np.random.default_rng(key + [1, int(k)])
            box, area = synthetic._draw_object(
                look, canvas, instances, number, name, x1, y1, x2 - x1,
                y2 - y1, self.class_colours,
            )
            found[number] = (k, box, area)
        visible = np.bincount(instances.ravel(), minlength=len(order) + 1)
        labelled = []
        for number, (k, box, area) in found.items():
            x1, y1, x2, y2 = boxes[k]
            inside = (max(0.0, min(x2, width) - max(x1, 0.0))
                      * max(0.0, min(y2, height) - max(y1, 0.0)))
            if (area > 0 and visible[number] >= 0.3 * area
                    and inside >= _MIN_INSIDE_FRACTION * (x2 - x1) * (y2 - y1)):
                labelled.append((k, box))
        noise = np.random.default_rng(key + [2, int(t)]).integers(
            -6, 7, size=(height, width, 1), dtype=np.int16)
        frame = np.clip(canvas + noise, 0, 255).astype("uint8")
        labelled.sort(key=lambda item: item[0])
        ids = np.asarray([k for k, _ in labelled], "int32")
        return (
            frame,
            np.asarray([b for _, b in labelled], "float32").reshape(-1, 4),
            tracks["class"][ids].astype("int32"),
            ids,
        )

    def as_dataset(
        self,
        split="train",
        batch_size=1,
        num_videos=None,
        shuffle=False,
        bounding_box_format="xyxy",
        max_boxes=None,
    ):
        """The videos of a split as a batched `tf.data.Dataset` of sequences.

        Elements are `(frames, {"boxes", "classes", "track_ids"})`: float32
        frames `(B, T, H, W, 3)` in `[0, 255]`, float32 boxes
        `(B, T, max_boxes, 4)` in `bounding_box_format` and classes
        `(B, T, max_boxes)`, int32 track ids `(B, T, max_boxes)` (rows of
        the video's `"tracks"`), all padded with -1. `dataset.unbatch()`
        gives single sequences; `dataset.unbatch().unbatch()` single
        frames with their labels.

        Args:
            split: `"train"` or `"validation"`.
            batch_size: int, videos per batch.
            num_videos: int, videos `0 .. num_videos - 1`; defaults to the
                split's size.
            shuffle: bool, shuffle the videos (seeded, anew each epoch).
            bounding_box_format: one of `keras_lzu.data.BOX_FORMATS`.
            max_boxes: int, rows of the padded labels; defaults to
                `self.max_boxes`.

        Returns:
            A prefetched `tf.data.Dataset`.
        """
        synthetic._check_split(split)
        coco._check_box_format(bounding_box_format)
        max_boxes = coco._positive_int(max_boxes or self.max_boxes,
                                       "max_boxes")
        if num_videos is None:
            num_videos = self.split_sizes[split]
        num_videos = coco._positive_int(num_videos, "num_videos")
        shape = (self.num_frames, *self.image_size, 3)

        def generate(index):
            def fn(i):
                video = self.sequence(int(i), split)
                return (video["frames"],
                        *pad_frame_labels(video, max_boxes))

            frames, boxes, classes, ids = tf.numpy_function(
                fn, [index], ["uint8", "float32", "float32", "int32"],
                stateful=False,
            )
            frames = tf.cast(tf.ensure_shape(frames, shape), "float32")
            boxes = tf.ensure_shape(boxes, (shape[0], max_boxes, 4))
            valid = tf.ensure_shape(classes, shape[:1] + (max_boxes,)) >= 0
            converted = coco.convert_xyxy_boxes(
                boxes, bounding_box_format, self.image_size)
            boxes = tf.where(valid[..., None], converted, boxes)
            return frames, {
                "boxes": boxes,
                "classes": tf.ensure_shape(classes, (shape[0], max_boxes)),
                "track_ids": tf.ensure_shape(ids, (shape[0], max_boxes)),
            }

        dataset = tf.data.Dataset.range(num_videos)
        if shuffle:
            dataset = dataset.shuffle(num_videos, seed=self.seed,
                                      reshuffle_each_iteration=True)
        dataset = dataset.map(generate, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)
        dataset = dataset.batch(coco._positive_int(batch_size, "batch_size"))
        return dataset.prefetch(tf.data.AUTOTUNE)

    def write_coco(self, directory, count, split="train"):
        """Writes `count` videos of `split` in the COCO-VID / TAO layout.

        Creates `directory/instances.json` and the PNG frames
        `directory/images/{split}_{video:04d}/{frame:04d}.png`. The JSON is
        a COCO instances file (any COCO reader, such as
        `keras_lzu.data.load_coco_dataset`, reads its frames as images)
        with, in addition:

        * `"videos"`: `{"id", "name", "width", "height", "num_frames"}`,
          video `index` has id `index + 1`;
        * on each image, `"video_id"` and `"frame_id"` (0-based position
          in the video);
        * on each annotation, `"video_id"` and `"track_id"` (unique in the
          file, the same for one object in every frame);
        * `"tracks"`: `{"id", "category_id", "video_id"}` of every track
          with at least one annotation.

        Category ids are `1 .. num_classes`, image ids count frames from 1
        in video order. Read it back with `read_video_annotations` or
        `load_video_dataset`.

        Args:
            directory: output directory (created if missing).
            count: int, videos `0 .. count - 1` are written.
            split: `"train"` or `"validation"`.

        Returns:
            The path of the annotation file.
        """
        synthetic._check_split(split)
        count = coco._positive_int(count, "count")
        image_dir = os.path.join(directory, "images")
        height, width = self.image_size
        content = {
            "info": {"description":
                     f"keras_lzu synthetic driving video, {split}"},
            "licenses": [],
            "videos": [], "images": [], "annotations": [], "tracks": [],
            "categories": [
                {"id": k + 1, "name": name, "supercategory": "object"}
                for k, name in enumerate(self.class_names)
            ],
        }
        for index in range(count):
            video = self.sequence(index, split)
            name = f"{split}_{index:04d}"
            tf.io.gfile.makedirs(os.path.join(image_dir, name))
            content["videos"].append({
                "id": index + 1, "name": name, "width": width,
                "height": height, "num_frames": self.num_frames,
            })
            track_ids = {}
            for t, frame in enumerate(video["frames"]):
                image_id = len(content["images"]) + 1
                file_name = f"{name}/{t:04d}.png"
                tf.io.write_file(os.path.join(image_dir, file_name),
                                 tf.io.encode_png(frame, compression=1))
                content["images"].append({
                    "id": image_id, "video_id": index + 1, "frame_id": t,
                    "file_name": file_name, "height": height,
                    "width": width,
                })
                for box, label, track in zip(video["boxes"][t],
                                             video["classes"][t],
                                             video["track_ids"][t]):
                    if int(track) not in track_ids:
                        track_ids[int(track)] = len(content["tracks"]) + 1
                        content["tracks"].append({
                            "id": track_ids[int(track)],
                            "category_id": int(label) + 1,
                            "video_id": index + 1,
                        })
                    x1, y1, x2, y2 = (float(v) for v in box)
                    content["annotations"].append({
                        "id": len(content["annotations"]) + 1,
                        "image_id": image_id, "video_id": index + 1,
                        "track_id": track_ids[int(track)],
                        "category_id": int(label) + 1,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1), "iscrowd": 0,
                    })
        path = os.path.join(directory, "instances.json")
        return write_atomically(path, lambda f: json.dump(content, f))


def pad_frame_labels(video, max_boxes):
    """A sequence's per-frame labels as padded arrays.

    Args:
        video: a dict with lists `"boxes"` (`(n_t, 4)`), `"classes"` and
            `"track_ids"` (`(n_t,)`), one entry per frame.
        max_boxes: int, rows per frame; frames with more keep their first
            `max_boxes`.

    Returns:
        `(boxes (T, max_boxes, 4) float32, classes (T, max_boxes) float32,
        track_ids (T, max_boxes) int32)`, padded with -1.
    """
    count = len(video["boxes"])
    boxes = -np.ones((count, max_boxes, 4), "float32")
    classes = -np.ones((count, max_boxes), "float32")
    ids = -np.ones((count, max_boxes), "int32")
    for t in range(count):
        n = min(len(video["boxes"][t]), max_boxes)
        boxes[t, :n] = video["boxes"][t][:n]
        classes[t, :n] = video["classes"][t][:n]
        ids[t, :n] = video["track_ids"][t][:n]
    return boxes, classes, ids


def _range(value, name, minimum):
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not minimum <= low <= high or not np.isfinite(high):
        raise ValueError(
            f"`{name}` must be (low, high) with {minimum} <= low <= high. "
            f"Received: {name}={value!r}"
        )
    return low, high


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(
            value, (int, float, np.integer, np.floating)) or not (
            np.isfinite(value) and value >= 0):
        raise ValueError(
            f"`{name}` must be a non-negative number. Received: "
            f"{name}={value!r}"
        )
    return float(value)
