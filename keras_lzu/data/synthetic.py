"""Synthetic high-resolution driving scenes with many small objects.

The scenes imitate the setting LZU was designed for (Argoverse-HD at
1920x1200): a sky, a road converging to a vanishing point on the horizon,
and objects standing on the ground in perspective, so that most objects are
far away, tiny (about 8-30 px at 1200 px height) and packed in a thin band
around the horizon, while a few near objects are large and lower down.
A saliency prior concentrated on the horizon band magnifies the far objects
that uniform downsampling shrinks. By default each class has its own colour;
with `class_colours=False` object colours are drawn like the clutter's, and
classes must be told apart by shape and small parts, which is what makes a
bigger view of the far objects worth having (see
`benchmarks/information_check.py`).

Other `layout`s place the objects elsewhere, so that a warp tuned on the
horizon band can be tried where it was not tuned: a band of small objects
at another height with a few large objects below it, a diagonal road with
objects growing along it, and small objects clustered in one region.
"""

import json
import os

import numpy as np
import tensorflow as tf

from keras_lzu.data import coco
from keras_lzu.extras import import_optional

CLASS_NAMES = ("car", "pedestrian", "traffic_sign", "truck", "traffic_light")
SPLITS = ("train", "validation")
LAYOUTS = ("horizon", "band", "diagonal", "cluster")
SIZE_MIXES = ("small", "mixed")

# Per class: height of the object at the bottom row of the image (fraction of
# the image height), range of aspect ratios (width / height), height of the
# pole it is mounted on (in object heights; 0 for objects on the ground) and
# base colour.
_GEOMETRY = {
    "car": (0.30, (1.5, 2.2), 0.0, (200, 40, 40)),
    "pedestrian": (0.45, (0.30, 0.42), 0.0, (60, 80, 210)),
    "traffic_sign": (0.12, (1.0, 1.0), 2.5, (245, 210, 40)),
    "truck": (0.50, (1.1, 1.6), 0.0, (40, 170, 90)),
    "traffic_light": (0.18, (0.35, 0.45), 2.0, (25, 25, 30)),
}
_MIN_VISIBLE_FRACTION = 0.3
# Half the thickness of the `"band"` layout's band of small objects, as a
# fraction of the image height.
BAND_HALF_HEIGHT = 0.04
# The `"diagonal"` layout's road, in fractions of the image `(x, y)`: from
# its far end (small objects) to its near end (large objects), and its half
# width at both ends, as a fraction of the image width.
DIAGONAL_FAR_END = (0.08, 0.12)
DIAGONAL_NEAR_END = (0.92, 0.9)
DIAGONAL_HALF_WIDTH = (0.01, 0.06)
# Heights of the large objects as a fraction of the image height (the
# horizon layout's near objects span about this range).
_LARGE_OBJECT_HEIGHT = (0.06, 0.4)


class SyntheticDrivingScenes:
    """Deterministic generator of synthetic driving scenes for detection.

    Every sample depends only on `(seed, split, index)`: sample `i` is the
    same whatever order samples are drawn in, and the `"train"` and
    `"validation"` splits never share a sample.

    Each sample is a dict:

    * `"image"`: uint8 `(H, W, 3)`;
    * `"boxes"`: float32 `(N, 4)` pixel `xyxy` boxes (pixel edges: a box
      `[x1, y1, x2, y2]` covers the pixels whose centres lie inside it),
      the full extent of each drawn shape, including parts that nearer
      objects hide;
    * `"classes"`: int32 `(N,)`, indices into `class_names`;
    * `"mask"`: int32 `(H, W)` semantic mask, 0 for background and `k + 1`
      where an object of class `k` is visible;
    * `"instances"`: int32 `(H, W)` instance mask, 0 for background and
      `n + 1` where object `n` (row `n` of `"boxes"`) is visible;
    * `"horizon"`: float, the image row of the horizon (for the `"band"`
      layout, the band's row).

    Objects are drawn far to near, so near objects occlude far ones; objects
    left with less than 30% of their pixels visible are removed from the
    labels and the mask (they remain in the image as clutter, like the
    distractor blobs and buildings that are never labelled).

    Example:

    >>> scenes = SyntheticDrivingScenes(image_size=(240, 384), seed=0)
    >>> sample = scenes.sample(0)
    >>> sample["image"].shape, sample["mask"].shape
    ((240, 384, 3), (240, 384))
    >>> images, labels = next(iter(scenes.as_dataset(batch_size=2)))
    >>> images.shape, labels["boxes"].shape
    (TensorShape([2, 240, 384, 3]), TensorShape([2, 46, 4]))

    Args:
        image_size: `(height, width)` of the images.
        num_classes: int in `1 .. 5`; the classes are the first
            `num_classes` of `CLASS_NAMES` (car, pedestrian, traffic_sign,
            truck, traffic_light).
        seed: int, the seed of the whole benchmark.
        num_far_objects: `(low, high)`, inclusive range of the number of
            small objects near the horizon per image.
        num_near_objects: `(low, high)`, inclusive range of the number of
            large objects lower in the image.
        num_distractors: `(low, high)`, inclusive range of the number of
            unlabelled clutter shapes.
        far_object_size: `(low, high)` height in pixels of far objects,
            relative to a 1200-pixel-high image (scaled with `image_size`).
        train_size: int, number of samples of the `"train"` split.
        validation_size: int, number of samples of the `"validation"` split.
        class_colours: bool. `True`: each class has its own body colour
            (car red, pedestrian blue, ...), so a blob of a few pixels can
            still be classified by colour. `False`: every object's body
            colour is drawn from the same distribution as the unlabelled
            clutter, so the class must be read from the shape and the
            small parts (windows, wheels, heads, lamps), which uniform
            downsampling blurs away first.
        layout: where the objects are, one of `LAYOUTS`:

            * `"horizon"` (default): the driving scenes above; the far
              objects' sizes and rows follow the perspective of a flat
              ground.
            * `"band"`: the `num_far_objects` small objects have their
              centres within `BAND_HALF_HEIGHT` (4%) of the image height
              of the row `band_height * H` (the scene's horizon); the
              `num_near_objects` large objects stand below the band (as
              far as they fit).
            * `"diagonal"`: every object is on a road from the top left
              (`DIAGONAL_FAR_END`) to the bottom right
              (`DIAGONAL_NEAR_END`), within its half width (1% of the
              image width at the far end, 6% at the near end). Sizes grow
              geometrically along it: over its far half from the small
              objects' lowest to their highest size, over its near half
              up to 40% of the image height. Small objects are in the far
              half, large ones in the near half.
            * `"cluster"`: the small objects' centres are in
              `cluster_region`; the large objects are anywhere.

            Large objects are 6% to 40% of the image height tall in every
            layout but `"horizon"`.
        band_height: float in `[0.1, 0.75]`, the row of the `"band"`
            layout's band as a fraction of the image height (default 0.3).
            Used by `"band"` only.
        cluster_region: `(x1, y1, x2, y2)` fractions of the image width and
            height (`0 <= x1 < x2 <= 1`, the same for y), the region of the
            `"cluster"` layout's small objects. Used by `"cluster"` only.
        size_mix: `"small"` (default): the `num_far_objects` objects are
            small (`far_object_size`) and the `num_near_objects` ones
            large. `"mixed"`: the `num_far_objects` objects' heights are
            log-uniform from the small objects' lowest to the large
            objects' highest (on the diagonal road: anywhere along it), so
            there are small, medium and large objects alike. The
            `"horizon"` layout supports `"small"` only (its perspective
            ties each size to a row).
    """

    def __init__(
        self,
        image_size=(1200, 1920),
        num_classes=4,
        seed=0,
        num_far_objects=(20, 40),
        num_near_objects=(2, 6),
        num_distractors=(15, 30),
        far_object_size=(8, 30),
        train_size=1000,
        validation_size=200,
        class_colours=True,
        layout="horizon",
        band_height=0.3,
        cluster_region=(0.55, 0.15, 0.9, 0.45),
        size_mix="small",
    ):
        self.image_size = coco._image_size(image_size)
        if min(self.image_size) < 32:
            raise ValueError(
                f"`image_size` must be at least 32x32. Received: {image_size!r}"
            )
        if isinstance(num_classes, bool) or num_classes not in range(
            1, len(CLASS_NAMES) + 1
        ):
            raise ValueError(
                f"`num_classes` must be an integer in 1..{len(CLASS_NAMES)}. "
                f"Received: num_classes={num_classes!r}"
            )
        self.num_classes = int(num_classes)
        self.seed = int(seed)
        self.num_far_objects = _count_range(num_far_objects, "num_far_objects")
        self.num_near_objects = _count_range(
            num_near_objects, "num_near_objects"
        )
        self.num_distractors = _count_range(num_distractors, "num_distractors")
        low, high = far_object_size
        if not 0 < low <= high:
            raise ValueError(
                "`far_object_size` must be (low, high) with 0 < low <= high. "
                f"Received: {far_object_size!r}"
            )
        self.far_object_size = (float(low), float(high))
        if not isinstance(class_colours, bool):
            raise ValueError(
                "`class_colours` must be a bool. "
                f"Received: class_colours={class_colours!r}"
            )
        self.class_colours = class_colours
        if layout not in LAYOUTS:
            raise ValueError(
                f"`layout` must be one of {LAYOUTS}. Received: "
                f"layout={layout!r}"
            )
        self.layout = layout
        self.band_height = _fraction_in(band_height, 0.1, 0.75, "band_height")
        self.cluster_region = _region(cluster_region)
        if size_mix not in SIZE_MIXES:
            raise ValueError(
                f"`size_mix` must be one of {SIZE_MIXES}. Received: "
                f"size_mix={size_mix!r}"
            )
        if layout == "horizon" and size_mix != "small":
            raise ValueError(
                "`size_mix` must be 'small' with layout='horizon' (its "
                "perspective ties each object's size to its row). Received: "
                f"size_mix={size_mix!r}"
            )
        self.size_mix = size_mix
        self.split_sizes = {
            "train": coco._positive_int(train_size, "train_size"),
            "validation": coco._positive_int(
                validation_size, "validation_size"
            ),
        }

    @property
    def class_names(self):
        return CLASS_NAMES[: self.num_classes]

    @property
    def max_boxes(self):
        """The largest number of boxes a sample can have."""
        return self.num_far_objects[1] + self.num_near_objects[1]

    def sample(self, index, split="train"):
        """Generates sample `index` of `split` (see the class docstring)."""
        _check_split(split)
        if isinstance(index, bool) or int(index) != index or index < 0:
            raise ValueError(
                f"`index` must be a non-negative integer. Received: {index!r}"
            )
        rng = np.random.default_rng(
            [self.seed, SPLITS.index(split), int(index)]
        )
        height, width = self.image_size
        horizon = height * rng.uniform(0.42, 0.5)
        vanishing_x = width * rng.uniform(0.4, 0.6)
        if self.layout == "band":
            horizon = self.band_height * height
        elif self.layout == "diagonal":
            horizon = 0.06 * height
        canvas = _background(rng, height, width, horizon, vanishing_x)
        if self.layout == "diagonal":
            _draw_diagonal_road(canvas)
        _draw_clutter(
            rng, canvas, horizon, self._count(rng, self.num_distractors)
        )
        if self.layout == "horizon":
            objects = self._horizon_objects(rng, horizon, vanishing_x)
        else:
            objects = self._placed_objects(rng)

        instances = np.zeros((height, width), "int32")
        boxes, classes, drawn = [], [], []
        for number, (label, x0, y0, w, h, ground) in enumerate(objects, 1):
            name = CLASS_NAMES[label]
            if _GEOMETRY[name][2]:
                _draw_pole(
                    canvas,
                    instances,
                    x0 + w / 2,
                    y0 + h,
                    ground,
                    max(w / 8, 1.0),
                )
            box, area = _draw_object(
                rng, canvas, instances, number, name, x0, y0, w, h,
                self.class_colours,
            )
            boxes.append(box)
            classes.append(label)
            drawn.append(area)

        visible = np.bincount(instances.ravel(), minlength=len(objects) + 1)[1:]
        keep = visible >= _MIN_VISIBLE_FRACTION * np.maximum(drawn, 1)
        keep &= np.asarray(drawn) > 0
        lookup = np.zeros(len(objects) + 1, "int32")
        lookup[1:] = np.where(keep, np.asarray(classes, "int32") + 1, 0)
        renumber = np.zeros(len(objects) + 1, "int32")
        renumber[1:] = np.where(keep, np.cumsum(keep), 0)

        noise = rng.integers(-6, 7, size=(height, width, 1), dtype=np.int16)
        image = np.clip(canvas + noise, 0, 255).astype("uint8")
        return {
            "image": image,
            "boxes": np.asarray(boxes, "float32").reshape(-1, 4)[keep],
            "classes": np.asarray(classes, "int32")[keep],
            "mask": lookup[instances],
            "instances": renumber[instances],
            "horizon": float(horizon),
        }

    def _count(self, rng, count_range):
        return int(rng.integers(count_range[0], count_range[1] + 1))

    def _horizon_objects(self, rng, horizon, vanishing_x):
        """Objects as `(class, x0, y0, w, h, ground_row)`, far to near.

        An object at ground row `g` has the height `ref * (g - horizon) /
        (H - horizon) * H` (pinhole perspective with a flat ground), so
        picking its pixel size picks its row.
        """
        height, width = self.image_size
        depth_range = height - horizon
        low, high = np.log(np.asarray(self.far_object_size) * height / 1200)
        num_far = self._count(rng, self.num_far_objects)
        num_near = self._count(rng, self.num_near_objects)
        objects = []
        for far in [True] * num_far + [False] * num_near:
            label = int(rng.integers(self.num_classes))
            ref, aspects, pole, _ = _GEOMETRY[CLASS_NAMES[label]]
            if far:
                h = max(np.exp(rng.uniform(low, high)), 4.0)
                scale = h / (ref * height)
            else:
                scale = rng.uniform(0.25, 0.9)
                h = scale * ref * height
            w = max(h * rng.uniform(*aspects), 3.0)
            ground = horizon + scale * depth_range
            y0 = ground - h * (1 + pole)
            if far:
                centre = vanishing_x + width * rng.uniform(-0.45, 0.45)
            else:
                road_half_width = 0.75 * width * scale
                centre = vanishing_x + road_half_width * rng.uniform(-1.1, 1.1)
            w = min(w, width - 2.0)
            x0 = np.clip(centre - w / 2, 1.0, width - 1.0 - w)
            y0 = np.clip(y0, 1.0, height - 1.0 - h)
            objects.append((label, x0, y0, w, h, min(ground, height - 1.0)))
        objects.sort(key=lambda o: o[5])
        return objects

    def _placed_objects(self, rng):
        """The objects of the layouts other than `"horizon"`, far to near.

        Each layout picks a centre and a height per object; the class's
        aspect ratio gives the width and its pole hangs below the object.
        """
        height, width = self.image_size
        small = np.log(np.maximum(
            np.asarray(self.far_object_size) * height / 1200, 4.0))
        large = np.log(np.asarray(_LARGE_OBJECT_HEIGHT) * height)
        num_far = self._count(rng, self.num_far_objects)
        num_near = self._count(rng, self.num_near_objects)
        mixed = self.size_mix == "mixed"
        objects = []
        for far in [True] * num_far + [False] * num_near:
            label = int(rng.integers(self.num_classes))
            if self.layout == "diagonal":
                low, high = (0.0, 1.0) if mixed else (
                    (0.0, 0.5) if far else (0.5, 1.0))
                centre_x, centre_y, h = _on_diagonal_road(
                    rng, rng.uniform(low, high), small, large[1],
                    width, height)
            else:
                if far and not mixed:
                    h = np.exp(rng.uniform(*small))
                elif far:
                    h = np.exp(rng.uniform(small[0], large[1]))
                else:
                    h = np.exp(rng.uniform(*large))
                centre_x, centre_y = self._centre(rng, far, h)
            objects.append(_object_at(rng, label, centre_x, centre_y, h,
                                      width, height))
        objects.sort(key=lambda o: o[5])
        return objects

    def _centre(self, rng, far, h):
        """The centre of a `"band"` or `"cluster"` object of height `h`."""
        height, width = self.image_size
        if self.layout == "band":
            band = self.band_height * height
            if far:
                half = BAND_HALF_HEIGHT * height
                return rng.uniform(0, width), band + rng.uniform(-half, half)
            top = band + BAND_HALF_HEIGHT * height + h / 2
            bottom = max(height - h / 2, top)
            return rng.uniform(0, width), rng.uniform(top, bottom)
        if far:
            x1, y1, x2, y2 = self.cluster_region
            return rng.uniform(x1, x2) * width, rng.uniform(y1, y2) * height
        return rng.uniform(0, width), rng.uniform(0, height)

    def as_dataset(
        self,
        split="train",
        batch_size=8,
        num_samples=None,
        shuffle=False,
        bounding_box_format="xyxy",
        max_boxes=None,
        ragged=False,
        drop_remainder=False,
    ):
        """The detection split as a batched `tf.data.Dataset`.

        Elements have the structure of `keras_lzu.data.load_coco_dataset`:
        `(images, {"boxes": boxes, "classes": classes})` with float32 images
        `(B, H, W, 3)` in `[0, 255]`, float32 boxes `(B, max_boxes, 4)` and
        classes `(B, max_boxes)` padded with -1 (ragged when `ragged`).

        Args:
            split: `"train"` or `"validation"`.
            batch_size: int, samples per batch.
            num_samples: int, samples in the dataset (indices
                `0 .. num_samples - 1`); defaults to the split's size.
            shuffle: bool, shuffle the indices (deterministically, from the
                generator's seed; anew each epoch).
            bounding_box_format: one of `keras_lzu.data.BOX_FORMATS`.
            max_boxes: int, rows of the dense labels; defaults to
                `self.max_boxes`.
            ragged: bool, ragged boxes and classes instead of padding.
            drop_remainder: bool, drop the last smaller batch.

        Returns:
            A prefetched `tf.data.Dataset`.
        """
        coco._check_box_format(bounding_box_format)
        max_boxes = coco._positive_int(max_boxes or self.max_boxes, "max_boxes")
        height, width = self.image_size

        def generate(index):
            def fn(i):
                sample = self.sample(int(i), split)
                return sample["image"], sample["boxes"], sample["classes"]

            image, boxes, classes = tf.numpy_function(
                fn, [index], ["uint8", "float32", "int32"], stateful=False
            )
            image = tf.cast(
                tf.ensure_shape(image, (height, width, 3)), "float32"
            )
            return coco.detection_example(
                image,
                tf.ensure_shape(boxes, (None, 4)),
                tf.ensure_shape(classes, (None,)),
                bounding_box_format,
                max_boxes,
                ragged,
            )

        dataset = self._indices(split, num_samples, shuffle).map(
            generate, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        return coco.batch_detection_dataset(
            dataset,
            coco._positive_int(batch_size, "batch_size"),
            ragged,
            drop_remainder,
        )

    def as_segmentation_dataset(
        self,
        split="train",
        batch_size=8,
        num_samples=None,
        shuffle=False,
        drop_remainder=False,
    ):
        """The segmentation split as a batched `tf.data.Dataset`.

        Elements are `(images, masks)`: float32 images `(B, H, W, 3)` in
        `[0, 255]` and int32 masks `(B, H, W, 1)` with 0 for background and
        `k + 1` for class `k` (so a segmenter has `num_classes + 1`
        classes). Arguments are as in `as_dataset`.

        Returns:
            A prefetched `tf.data.Dataset`.
        """
        height, width = self.image_size

        def generate(index):
            def fn(i):
                sample = self.sample(int(i), split)
                return sample["image"], sample["mask"]

            image, mask = tf.numpy_function(
                fn, [index], ["uint8", "int32"], stateful=False
            )
            image = tf.cast(
                tf.ensure_shape(image, (height, width, 3)), "float32"
            )
            return image, tf.ensure_shape(mask, (height, width))[..., None]

        dataset = self._indices(split, num_samples, shuffle).map(
            generate, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        dataset = dataset.batch(
            coco._positive_int(batch_size, "batch_size"),
            drop_remainder=drop_remainder,
        )
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _indices(self, split, num_samples, shuffle):
        _check_split(split)
        if num_samples is None:
            num_samples = self.split_sizes[split]
        num_samples = coco._positive_int(num_samples, "num_samples")
        dataset = tf.data.Dataset.range(num_samples)
        if shuffle:
            dataset = dataset.shuffle(
                num_samples, seed=self.seed, reshuffle_each_iteration=True
            )
        return dataset

    def write_coco(self, directory, count, split="train",
                   segmentation=False):
        """Writes `count` samples of `split` as a COCO detection dataset.

        Creates `directory/instances.json` and the PNG images
        `directory/images/{split}_{index:06d}.png`. Category ids are
        `1 .. num_classes` (class `k` has id `k + 1`), image ids
        `index + 1`; each annotation has `bbox` `[x, y, w, h]`, `area` (the
        box area), `iscrowd` 0. Read it back with `load_coco_dataset(
        path, os.path.join(directory, "images"))`.

        With `segmentation`, each annotation also has a `segmentation`: the
        compressed RLE of the object's visible pixels (its pixels of
        `sample(...)["instances"]`), so that the semantic mask rendered
        from the file is the sample's `"mask"`. This needs pycocotools
        (`pip install 'keras-lzu[eval]'`).

        Args:
            directory: output directory (created if missing).
            count: int, samples `0 .. count - 1` are written.
            split: `"train"` or `"validation"`.
            segmentation: bool, write instance masks as RLE.

        Returns:
            The path of the annotation file.
        """
        _check_split(split)
        count = coco._positive_int(count, "count")
        if segmentation:
            mask_api = import_optional(
                "pycocotools.mask", "eval", "Writing COCO segmentations"
            )
        image_dir = os.path.join(directory, "images")
        tf.io.gfile.makedirs(image_dir)
        images, annotations = [], []
        height, width = self.image_size
        for index in range(count):
            sample = self.sample(index, split)
            file_name = f"{split}_{index:06d}.png"
            tf.io.write_file(
                os.path.join(image_dir, file_name),
                # Fastest zlib level: 6x faster than the default, files
                # ~5% larger (the scenes are mostly flat colour).
                tf.io.encode_png(sample["image"], compression=1),
            )
            images.append(
                {
                    "id": index + 1,
                    "file_name": file_name,
                    "height": height,
                    "width": width,
                }
            )
            for number, (box, label) in enumerate(
                zip(sample["boxes"], sample["classes"]), start=1
            ):
                x1, y1, x2, y2 = (float(v) for v in box)
                annotation = {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": int(label) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
                if segmentation:
                    visible = sample["instances"] == number
                    rle = mask_api.encode(np.asfortranarray(visible, "uint8"))
                    annotation["segmentation"] = {
                        "size": [int(v) for v in rle["size"]],
                        "counts": rle["counts"].decode("ascii"),
                    }
                annotations.append(annotation)
        content = {
            "info": {"description": f"keras_lzu synthetic driving, {split}"},
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": [
                {"id": k + 1, "name": name, "supercategory": "object"}
                for k, name in enumerate(self.class_names)
            ],
        }
        path = os.path.join(directory, "instances.json")
        with tf.io.gfile.GFile(path, "w") as f:
            json.dump(content, f)
        return path


def _background(rng, height, width, horizon, vanishing_x):
    """Sky gradient, ground, road with lane markings (float32 `(H, W, 3)`)."""
    rows = np.arange(height, dtype="float32")[:, None] + 0.5
    cols = np.arange(width, dtype="float32")[None, :] + 0.5
    sky_top = np.array([70, 120, 200]) + rng.uniform(-15, 15, 3)
    sky_low = np.array([200, 215, 230]) + rng.uniform(-15, 15, 3)
    grass_far = np.array([110, 130, 80]) + rng.uniform(-15, 15, 3)
    grass_near = np.array([70, 105, 45]) + rng.uniform(-15, 15, 3)
    t_sky = np.clip(rows / horizon, 0, 1)[..., None]
    depth = np.clip((rows - horizon) / (height - horizon), 0, 1)
    t_ground = depth[..., None]
    below = (rows >= horizon)[..., None]
    row_colour = np.where(
        below,
        grass_far + (grass_near - grass_far) * t_ground,
        sky_top + (sky_low - sky_top) * t_sky,
    ).astype("float32")
    canvas = np.repeat(row_colour, width, axis=1)

    half_width = 0.75 * width * depth + 0.002 * width
    offset = cols - vanishing_x
    road = (np.abs(offset) < half_width) & (rows >= horizon)
    canvas[road] = np.array([105, 105, 112], "float32") + rng.uniform(-10, 10)

    line_width = 0.012 * width * depth + 0.5
    dashed = np.sin(40.0 / (depth + 0.02) + rng.uniform(0, 6.3)) > 0
    markings = np.zeros_like(road)
    for position in (-1 / 3, 1 / 3):
        markings |= dashed & (
            np.abs(offset - position * half_width) < line_width
        )
    for position in (-0.96, 0.96):
        markings |= np.abs(offset - position * half_width) < line_width
    canvas[markings & road] = (230, 230, 220)
    return canvas


def _diagonal_road_axis(width, height):
    """The `"diagonal"` road's far end and the vector from it to the near
    end, in pixels."""
    start = np.array(DIAGONAL_FAR_END) * (width, height)
    direction = np.array(DIAGONAL_NEAR_END) * (width, height) - start
    return start, direction


def diagonal_road_half_width(t, width):
    """The `"diagonal"` road's half width in pixels at position `t` in
    `[0, 1]` along it (0: the far end)."""
    low, high = DIAGONAL_HALF_WIDTH
    return (low + (high - low) * np.clip(t, 0, 1)) * width


def diagonal_road_position(x, y, width, height):
    """`(t, offset)` of pixel points on the `"diagonal"` road: `t` the
    position along its axis (0 at the far end, 1 at the near end), `offset`
    the signed distance in pixels from the axis."""
    start, direction = _diagonal_road_axis(width, height)
    length = np.hypot(*direction)
    dx, dy = np.asarray(x) - start[0], np.asarray(y) - start[1]
    t = (dx * direction[0] + dy * direction[1]) / length**2
    offset = (dx * direction[1] - dy * direction[0]) / length
    return t, offset


def _draw_diagonal_road(canvas):
    """The grey road of the `"diagonal"` layout."""
    height, width = canvas.shape[:2]
    rows = np.arange(height, dtype="float32")[:, None] + 0.5
    cols = np.arange(width, dtype="float32")[None, :] + 0.5
    t, offset = diagonal_road_position(cols, rows, width, height)
    road = (np.abs(offset) < diagonal_road_half_width(t, width)) & (
        (t >= -0.05) & (t <= 1.05))
    canvas[road] = (105, 105, 112)


def _on_diagonal_road(rng, t, small, large_high, width, height):
    """`(centre_x, centre_y, h)` of an object at position `t` on the
    `"diagonal"` road.

    Its height grows geometrically along the road: over `t` in `[0, .5]`
    from `exp(small[0])` to `exp(small[1])`, over `[.5, 1]` from there to
    `exp(large_high)`.
    """
    if t <= 0.5:
        log_h = small[0] + 2 * t * (small[1] - small[0])
    else:
        log_h = small[1] + (2 * t - 1) * (large_high - small[1])
    start, direction = _diagonal_road_axis(width, height)
    normal = np.array([direction[1], -direction[0]]) / np.hypot(*direction)
    offset = diagonal_road_half_width(t, width) * rng.uniform(-1, 1)
    centre = start + t * direction + offset * normal
    return centre[0], centre[1], np.exp(log_h)


def _object_at(rng, label, centre_x, centre_y, h, width, height):
    """An object `(class, x0, y0, w, h, ground_row)` centred at
    `(centre_x, centre_y)` (moved inside the image if need be), with the
    class's aspect ratio and its pole below it."""
    _, aspects, pole, _ = _GEOMETRY[CLASS_NAMES[label]]
    h = min(h, height - 2.0)
    w = min(max(h * rng.uniform(*aspects), 3.0), width - 2.0)
    x0 = np.clip(centre_x - w / 2, 1.0, width - 1.0 - w)
    y0 = np.clip(centre_y - h / 2, 1.0, height - 1.0 - h)
    return (label, x0, y0, w, h, min(y0 + h * (1 + pole), height - 1.0))


def _draw_clutter(rng, canvas, horizon, count):
    """Unlabelled buildings on the horizon and blobs anywhere."""
    height, width = canvas.shape[:2]
    scale = height / 1200
    for _ in range(count):
        colour = rng.uniform(30, 230, 3)
        if rng.uniform() < 0.4:
            w = rng.uniform(20, 200) * scale
            h = rng.uniform(10, 150) * scale
            x0 = rng.uniform(0, width - w)
            y0 = horizon + rng.uniform(-0.01, 0.01) * height - h
            rows, cols, _, _ = _crop_grid(canvas, x0, y0, w, h)
            canvas[rows, cols] = colour
        else:
            w = np.exp(rng.uniform(np.log(6), np.log(120))) * scale
            h = w * rng.uniform(0.5, 2.0)
            x0 = rng.uniform(-w / 2, width - w / 2)
            y0 = rng.uniform(-h / 2, height - h / 2)
            rows, cols, u, v = _crop_grid(canvas, x0, y0, w, h)
            wobble = 0.15 * np.sin(
                6 * np.arctan2(v - 0.5, u - 0.5) + rng.uniform(0, 6.3)
            )
            inside = (u - 0.5) ** 2 + (v - 0.5) ** 2 <= (
                0.5 + wobble
            ) ** 2 * 0.8
            region = canvas[rows, cols]
            region[inside] = colour
            canvas[rows, cols] = region


def _draw_pole(canvas, instances, x, top, bottom, half_width):
    """An unlabelled pole; it hides whatever objects it is drawn over."""
    height, width = canvas.shape[:2]
    c0, c1 = (
        int(max(x - half_width, 0)),
        int(min(x + half_width, width - 1)) + 1,
    )
    r0, r1 = int(max(top, 0)), int(min(bottom, height - 1)) + 1
    canvas[r0:r1, c0:c1] = (120, 120, 125)
    instances[r0:r1, c0:c1] = 0


def _crop_grid(canvas, x0, y0, w, h):
    """Slices of the pixels a box touches and their local `[0, 1]` coords.

    Returns row and column slices of `canvas` and the pixel centres'
    coordinates `u = (col + .5 - x0) / w` (shape `(1, cw)`) and
    `v = (row + .5 - y0) / h` (shape `(ch, 1)`).
    """
    height, width = canvas.shape[:2]
    r0, r1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y0 + h)), height)
    c0, c1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x0 + w)), width)
    u = ((np.arange(c0, c1) + 0.5 - x0) / w)[None, :]
    v = ((np.arange(r0, r1) + 0.5 - y0) / h)[:, None]
    return slice(r0, r1), slice(c0, c1), u, v


def _draw_object(rng, canvas, instances, number, name, x0, y0, w, h,
                 class_colours=True):
    """Draws one object; returns its tight pixel-edge box and pixel count.

    The body colour is the class's colour with some jitter, or, without
    `class_colours`, a colour drawn like the clutter's.

    The footprint (what the instance map records) is the union of the
    class's parts; the box is that footprint's extent, so it is exact for
    the drawn pixels whatever their size.
    """
    rows, cols, u, v = _crop_grid(canvas, x0, y0, w, h)
    if class_colours:
        base = np.clip(
            np.asarray(_GEOMETRY[name][3]) + rng.uniform(-25, 25, 3), 0, 255
        )
    else:
        base = rng.uniform(30, 230, 3)
    parts = _PAINTERS[name](rng, u, v, h / w, base)
    footprint = np.zeros((v.shape[0], u.shape[1]), bool)
    region = canvas[rows, cols]
    for part, colour in parts:
        part = np.broadcast_to(part, footprint.shape)
        region[part] = colour
        footprint |= part
    canvas[rows, cols] = region
    instance_region = instances[rows, cols]
    instance_region[footprint] = number
    instances[rows, cols] = instance_region
    if not footprint.any():
        return (0.0, 0.0, 0.0, 0.0), 0
    filled_rows = np.flatnonzero(footprint.any(axis=1))
    filled_cols = np.flatnonzero(footprint.any(axis=0))
    box = (
        cols.start + filled_cols[0],
        rows.start + filled_rows[0],
        cols.start + filled_cols[-1] + 1,
        rows.start + filled_rows[-1] + 1,
    )
    return box, int(footprint.sum())


def _paint_car(rng, u, v, aspect, base):
    body = (v >= 0.35) & (v <= 1) & (u >= 0) & (u <= 1)
    cabin = (v >= 0) & (v < 0.35) & (u >= 0.18) & (u <= 0.82)
    window = (v >= 0.08) & (v <= 0.33) & (u >= 0.25) & (u <= 0.75)
    wheels = (v >= 0.8) & ((np.abs(u - 0.22) < 0.1) | (np.abs(u - 0.78) < 0.1))
    return [
        (body, base),
        (cabin, base),
        (window, base * 0.35),
        (wheels & body, (20, 20, 20)),
    ]


def _paint_pedestrian(rng, u, v, aspect, base):
    body = ((u - 0.5) / 0.5) ** 2 + ((v - 0.6) / 0.4) ** 2 <= 1
    head_radius = 0.1
    head = ((u - 0.5) / (head_radius * aspect)) ** 2 + (
        (v - head_radius) / head_radius
    ) ** 2 <= 1
    return [(body, base), (head, (230, 190, 160))]


def _paint_traffic_sign(rng, u, v, aspect, base):
    if rng.uniform() < 0.5:
        distance = 2 * np.sqrt((u - 0.5) ** 2 + (v - 0.5) ** 2)
        plate = distance <= 1
        face = distance <= 0.7
    else:
        plate = (v <= 1) & (v >= 2 * np.abs(u - 0.5))
        face = (v <= 0.85) & (v - 0.15 >= 2 * np.abs(u - 0.5))
    return [(plate, (200, 30, 30)), (face, base)]


def _paint_truck(rng, u, v, aspect, base):
    if rng.uniform() < 0.5:
        u = 1 - u
    cargo = (u >= 0) & (u <= 0.7) & (v >= 0) & (v <= 0.88)
    cab = (u > 0.7) & (u <= 1) & (v >= 0.3) & (v <= 0.88)
    window = (u > 0.78) & (u <= 0.95) & (v >= 0.38) & (v <= 0.55)
    wheel_radius = 0.12
    wheels = np.zeros(np.broadcast_shapes(u.shape, v.shape), bool)
    for centre in (0.15, 0.55, 0.85):
        wheels |= ((u - centre) / wheel_radius) ** 2 + (
            (v - 0.88) / (wheel_radius / aspect)
        ) ** 2 <= 1
    wheels &= v <= 1
    return [
        (cargo, base),
        (cab, base * 0.7 + 40),
        (window, (40, 50, 60)),
        (wheels, (20, 20, 20)),
    ]


def _paint_traffic_light(rng, u, v, aspect, base):
    housing = (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
    parts = [(housing, base)]
    lit = rng.integers(3)
    for k, (centre, colour) in enumerate(
        ((1 / 6, (230, 40, 30)), (0.5, (240, 190, 30)), (5 / 6, (40, 220, 80)))
    ):
        radius = 0.13
        lamp = ((u - 0.5) / (radius * aspect)) ** 2 + (
            (v - centre) / radius
        ) ** 2 <= 1
        parts.append((lamp, colour if k == lit else np.asarray(colour) * 0.3))
    return parts


_PAINTERS = {
    "car": _paint_car,
    "pedestrian": _paint_pedestrian,
    "traffic_sign": _paint_traffic_sign,
    "truck": _paint_truck,
    "traffic_light": _paint_traffic_light,
}


def _count_range(value, name):
    low, high = value
    if int(low) != low or int(high) != high or not 0 <= low <= high:
        raise ValueError(
            f"`{name}` must be (low, high) integers with 0 <= low <= high. "
            f"Received: {value!r}"
        )
    return int(low), int(high)


def _fraction_in(value, low, high, name):
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.floating, np.integer)
    ) or not low <= value <= high:
        raise ValueError(
            f"`{name}` must be a number in [{low}, {high}] (a fraction of "
            f"the image height). Received: {name}={value!r}"
        )
    return float(value)


def _region(value):
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        x1 = None
    if x1 is None or not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
        raise ValueError(
            "`cluster_region` must be (x1, y1, x2, y2) fractions of the "
            "image with 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1. "
            f"Received: cluster_region={value!r}"
        )
    return (x1, y1, x2, y2)


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {SPLITS}. Received: {split!r}"
        )
