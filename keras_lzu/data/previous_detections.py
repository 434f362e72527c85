"""Cascaded training data for adaptive LZU: simulated previous detections.

A detector wrapped with `saliency="boxes"` or `"prior+boxes"` zooms on the
previous frame's detections. LZU (after FOVEA) trains it "cascaded": on
still images whose prior boxes are the ground truth disturbed the way a
detector's output on the previous frame would be. The model of that
disturbance, for each image with ground-truth boxes of centre `(cx, cy)`
and size `(w, h)` in pixels, with independent standard normal draws `e`:

* every box moves and changes size:
  `cx' = cx + shift_sigma * w * e1`, `cy' = cy + shift_sigma * h * e2`,
  `w' = w * exp(scale_sigma * e3)`, `h' = h * exp(scale_sigma * e4)`;
* every box is then dropped (missed) with probability `drop_rate`;
* false positives are added: each of `max_false_positives` candidates is
  kept with probability `false_positive_rate / max_false_positives`, so an
  image gets `Binomial(max_false_positives, false_positive_rate /
  max_false_positives)` of them, `false_positive_rate` on average. A false
  positive copies the size and class of one of the image's boxes (chosen
  uniformly), rescaled like the boxes above, at a centre uniform over the
  image. An image without boxes gets none;
* every box is clipped to the image; one left with no area is dropped;
* scores: kept boxes draw one uniformly in `score_range`, false positives
  in `false_positive_score_range`; boxes are sorted by score, highest
  first, then padded with rows of -1 (boxes, classes, scores) to
  `max_boxes` rows.

All draws are stateless, from `(seed, index)`: the same element index
gives the same detections in every epoch and on every worker, inside
`tf.data.Dataset.map` (`with_previous_detections` uses the element's
position in the dataset).
"""

import tensorflow as tf

from keras_lzu.data import coco

PADDING_VALUE = -1.0


def simulate_previous_detections(
    boxes,
    classes,
    image_size,
    seed,
    index=0,
    bounding_box_format="xyxy",
    max_boxes=None,
    shift_sigma=0.1,
    scale_sigma=0.1,
    drop_rate=0.1,
    false_positive_rate=0.5,
    max_false_positives=4,
    score_range=(0.5, 1.0),
    false_positive_score_range=(0.3, 0.7),
):
    """Ground-truth boxes as a previous frame's detector would report them.

    See the module docstring for the jitter, drops, false positives and
    scores.

    Args:
        boxes: `(N, 4)` boxes of one image, or `(B, N, 4)` of a batch, in
            `bounding_box_format` (pixels, or relative for `rel_*`).
        classes: `(N,)` or `(B, N)` class ids; rows with a negative class
            are padding.
        image_size: `(height, width)` of the images, ints or scalar tensors.
        seed: int, the seed of the simulation.
        index: int or scalar integer tensor: the element's index (its
            position in the dataset), which makes each element's draws its
            own.
        bounding_box_format: the format of `boxes` and of the result.
        max_boxes: rows of the result (static). Defaults to `N +
            max_false_positives`; fewer keeps the highest scores.
        shift_sigma: standard deviation of a centre's shift, as a fraction
            of the box's width (x) or height (y).
        scale_sigma: standard deviation of the log of each side's scale.
        drop_rate: probability that a box is missed.
        false_positive_rate: mean number of false positives per image with
            boxes, at most `max_false_positives`.
        max_false_positives: int, the most false positives of one image.
        score_range: `(low, high)` of the kept boxes' scores.
        false_positive_score_range: `(low, high)` of the false positives'.

    Returns:
        `{"boxes": (..., max_boxes, 4)` float32 in `bounding_box_format`,
        `"classes": (..., max_boxes)` float32, `"scores": (..., max_boxes)`
        float32`}`, padded with -1.

    Example:

    ```python
    detections = simulate_previous_detections(
        boxes, classes, image_size=(720, 1280), seed=0, index=i
    )
    model.fit(
        {"images": images, "prior_boxes": detections["boxes"]}, labels
    )
    ```
    """
    for name, value in (
        ("shift_sigma", shift_sigma),
        ("scale_sigma", scale_sigma),
    ):
        if not value >= 0:
            raise ValueError(
                f"`{name}` must be non-negative. Received: {name}={value!r}"
            )
    if not 0 <= drop_rate <= 1:
        raise ValueError(
            f"`drop_rate` must be in [0, 1]. Received: drop_rate={drop_rate!r}"
        )
    max_false_positives = _non_negative_int(
        max_false_positives, "max_false_positives"
    )
    if not 0 <= false_positive_rate <= max(max_false_positives, 0):
        raise ValueError(
            "`false_positive_rate` must be in [0, max_false_positives="
            f"{max_false_positives}]. Received: {false_positive_rate!r}"
        )
    for name, pair in (
        ("score_range", score_range),
        ("false_positive_score_range", false_positive_score_range),
    ):
        if len(tuple(pair)) != 2 or not 0 <= pair[0] <= pair[1]:
            raise ValueError(
                f"`{name}` must be (low, high) with 0 <= low <= high. "
                f"Received: {name}={pair!r}"
            )
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    classes = tf.cast(classes, tf.float32)
    batched = boxes.shape.rank == 3
    if boxes.shape.rank not in (2, 3) or boxes.shape[-1] != 4:
        raise ValueError(
            "`boxes` must have shape (num_boxes, 4) or (batch, num_boxes, 4)."
            f" Received: boxes.shape={boxes.shape}"
        )
    if classes.shape.rank != boxes.shape.rank - 1:
        raise ValueError(
            "`classes` must have one entry per box, shape (num_boxes,) or "
            f"(batch, num_boxes). Received: classes.shape={classes.shape}, "
            f"boxes.shape={boxes.shape}"
        )
    if not batched:
        boxes, classes = boxes[None], classes[None]
    num_boxes = boxes.shape[1]
    if num_boxes is None:
        raise ValueError(
            "`boxes` needs a static number of rows (pad them, e.g. with "
            "`keras_lzu.data.load_coco_dataset`'s `max_boxes`)."
        )
    if max_boxes is None:
        max_boxes = num_boxes + max_false_positives
    if _non_negative_int(max_boxes, "max_boxes") < 1:
        raise ValueError(
            f"`max_boxes` must be at least 1. Received: {max_boxes!r}"
        )
    height = tf.cast(image_size[0], tf.float32)
    width = tf.cast(image_size[1], tf.float32)
    xyxy = coco.xyxy_from_boxes(boxes, bounding_box_format, image_size)
    valid = classes >= 0

    keys = tf.random.experimental.stateless_split(
        tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)]), 8
    )
    batch = tf.shape(boxes)[0]
    real = _jittered(xyxy, keys[0], shift_sigma, scale_sigma)
    kept = valid & (
        tf.random.stateless_uniform([batch, num_boxes], keys[1]) >= drop_rate
    )
    real_scores = _uniform([batch, num_boxes], keys[2], score_range)

    # False positives: a source box per candidate, its size rescaled, at a
    # uniform centre.
    count = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1, keepdims=True)
    pick = tf.random.stateless_uniform(
        [batch, max_false_positives], keys[3]
    )
    # The pick-th valid box: valid boxes ranked by their position.
    rank = tf.cumsum(tf.cast(valid, tf.int32), axis=1) - 1
    wanted = tf.cast(pick * tf.cast(count, tf.float32), tf.int32)
    chosen = tf.argmax(
        tf.cast(
            valid[:, None, :] & (rank[:, None, :] == wanted[:, :, None]),
            tf.int32,
        ),
        axis=-1, output_type=tf.int32,
    )
    source = tf.gather(xyxy, chosen, batch_dims=1)
    sizes = (source[..., 2:] - source[..., :2]) * tf.exp(
        scale_sigma * tf.random.stateless_normal(
            [batch, max_false_positives, 2], keys[4]
        )
    )
    centres = tf.random.stateless_uniform(
        [batch, max_false_positives, 2], keys[5]
    ) * tf.stack([width, height])
    false_boxes = tf.concat([centres - sizes / 2, centres + sizes / 2], -1)
    probability = (
        false_positive_rate / max_false_positives if max_false_positives
        else 0.0
    )
    false_kept = (count > 0) & (
        tf.random.stateless_uniform([batch, max_false_positives], keys[6])
        < probability
    )
    false_classes = tf.gather(classes, chosen, batch_dims=1)
    false_scores = _uniform(
        [batch, max_false_positives], keys[7], false_positive_score_range
    )

    all_boxes = _clipped(tf.concat([real, false_boxes], 1), width, height)
    has_area = tf.reduce_all(all_boxes[..., 2:] > all_boxes[..., :2], -1)
    present = tf.concat([kept, false_kept], 1) & has_area
    all_classes = tf.concat([classes, false_classes], 1)
    all_scores = tf.concat([real_scores, false_scores], 1)
    all_boxes = coco.convert_xyxy_boxes(
        all_boxes, bounding_box_format, image_size
    )
    result = _sorted_and_padded(
        present, all_boxes, all_classes, all_scores, max_boxes
    )
    if not batched:
        result = {key: value[0] for key, value in result.items()}
    return result


def with_previous_detections(dataset, seed, bounding_box_format="xyxy",
                             **options):
    """Maps a detection dataset to the inputs of a box-saliency model.

    Args:
        dataset: a `tf.data.Dataset` of `(images, labels)`, unbatched
            (`(H, W, 3)`) or batched (`(B, H, W, 3)`), with labels
            `{"boxes", "classes"}` (KerasCV) or `{"boxes", "labels"}`
            (KerasHub), padded with class -1.
        seed: int, the simulation's seed.
        bounding_box_format: the format of the labels' boxes (the
            detector's).
        **options: the jitter arguments of `simulate_previous_detections`.

    Returns:
        A dataset of `({"images": images, "prior_boxes": boxes}, labels)`:
        the previous detections simulated from each element's labels, with
        the element's position as `index`.

    Example:

    ```python
    train = with_previous_detections(train, seed=0, drop_rate=0.2)
    model = keras_lzu.wrap(detector, (512, 512), saliency="prior+boxes",
                           prior=prior)
    model.fit(train, epochs=10)
    ```
    """

    @tf.autograph.experimental.do_not_convert
    def add_prior_boxes(index, element):
        images, labels = element
        if not isinstance(labels, dict) or "boxes" not in labels:
            raise ValueError(
                "with_previous_detections needs elements (images, labels) "
                "with labels {'boxes', 'classes'} or {'boxes', 'labels'}. "
                f"Received labels: {labels!r}"
            )
        key = "classes" if "classes" in labels else "labels"
        shape = tf.shape(images)
        detections = simulate_previous_detections(
            labels["boxes"], labels[key], (shape[-3], shape[-2]), seed,
            index, bounding_box_format, **options,
        )
        return {"images": images, "prior_boxes": detections["boxes"]}, labels

    return dataset.enumerate().map(
        add_prior_boxes, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def _jittered(xyxy, key, shift_sigma, scale_sigma):
    noise = tf.random.stateless_normal(tf.shape(xyxy), key)
    sizes = xyxy[..., 2:] - xyxy[..., :2]
    centres = (xyxy[..., :2] + xyxy[..., 2:]) / 2
    centres = centres + shift_sigma * sizes * noise[..., :2]
    sizes = sizes * tf.exp(scale_sigma * noise[..., 2:])
    return tf.concat([centres - sizes / 2, centres + sizes / 2], -1)


def _uniform(shape, key, bounds):
    low, high = float(bounds[0]), float(bounds[1])
    return low + (high - low) * tf.random.stateless_uniform(shape, key)


def _clipped(xyxy, width, height):
    limits = tf.stack([width, height, width, height])
    return tf.clip_by_value(xyxy, 0.0, limits)


def _sorted_and_padded(present, boxes, classes, scores, rows):
    """Present rows by score, highest first, then -1 rows, as `rows`."""
    order = tf.argsort(
        tf.where(present, scores, -1.0), axis=1, direction="DESCENDING",
        stable=True,
    )
    present = tf.gather(present, order, batch_dims=1)
    columns = {
        "boxes": tf.gather(boxes, order, batch_dims=1),
        "classes": tf.gather(classes, order, batch_dims=1),
        "scores": tf.gather(scores, order, batch_dims=1),
    }
    result = {}
    for key, value in columns.items():
        mask = present if key != "boxes" else present[..., None]
        value = tf.where(mask, value, PADDING_VALUE)
        available = value.shape[1]
        if available >= rows:
            value = value[:, :rows]
        else:
            padding = [[0, 0], [0, rows - available]] + [[0, 0]] * (
                value.shape.rank - 2
            )
            value = tf.pad(value, padding, constant_values=PADDING_VALUE)
        result[key] = value
    return result


def _non_negative_int(value, name):
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer. Received: {value!r}"
        )
    return int(value)
