"""Stand-ins with the interface of models made by `keras_lzu.wrap()`.

They have `infer(images)` (float32 `(B, H, W, 3)` of any size, 0..255) and
`lzu_metadata`, and real Keras weights, so exporting them exercises variable
tracking. Outputs are deterministic functions of the pixels and the weights.
"""

import keras
import numpy as np
import tensorflow as tf

INPUT_SIZE = (32, 48)


class FakeDetector(keras.Model):
    """Detector stand-in: `max_detections` boxes from pooled image features."""

    def __init__(self, num_classes=5, max_detections=6, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.max_detections = max_detections
        self.conv = keras.layers.Conv2D(
            8, 3, strides=2, activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=1),
        )
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.box_head = keras.layers.Dense(
            4 * max_detections,
            kernel_initializer=keras.initializers.GlorotUniform(seed=2),
        )
        self.score_head = keras.layers.Dense(
            max_detections,
            kernel_initializer=keras.initializers.GlorotUniform(seed=3),
            bias_initializer=keras.initializers.Constant(0.5),
        )
        self.class_head = keras.layers.Dense(
            max_detections * num_classes,
            kernel_initializer=keras.initializers.GlorotUniform(seed=4),
        )
        self.lzu_metadata = {
            "task": "detection",
            "output_size": list(INPUT_SIZE),
            "num_classes": num_classes,
            "bounding_box_format": "xyxy",
        }
        self(tf.zeros((1,) + INPUT_SIZE + (3,)))

    def call(self, images):
        features = self.pool(self.conv(images / 255.0))
        return (
            self.box_head(features),
            self.score_head(features),
            self.class_head(features),
        )

    def infer(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        height = tf.cast(tf.shape(images)[1], tf.float32)
        width = tf.cast(tf.shape(images)[2], tf.float32)
        resized = tf.image.resize(images, INPUT_SIZE)
        box_logits, score_logits, class_logits = self(resized)
        n = self.max_detections
        corners = tf.sigmoid(tf.reshape(box_logits, (-1, n, 2, 2)))
        low = tf.reduce_min(corners, axis=2)
        high = tf.reduce_max(corners, axis=2)
        scale = tf.stack([width, height])
        boxes = tf.concat([low * scale, high * scale], axis=-1)
        scores = tf.sigmoid(score_logits)
        order = tf.argsort(scores, axis=-1, direction="DESCENDING")
        scores = tf.gather(scores, order, batch_dims=1)
        boxes = tf.gather(boxes, order, batch_dims=1)
        classes = tf.argmax(
            tf.reshape(class_logits, (-1, n, self.num_classes)), axis=-1,
            output_type=tf.int32,
        )
        classes = tf.gather(classes, order, batch_dims=1)
        num_detections = tf.reduce_sum(
            tf.cast(scores > 0.5, tf.int32), axis=-1
        )
        return {
            "boxes": boxes,
            "scores": scores,
            "classes": classes,
            "num_detections": num_detections,
        }


class FakeSegmenter(keras.Model):
    """Segmenter stand-in: per-pixel argmax of upsampled coarse logits."""

    def __init__(self, num_classes=4, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.conv = keras.layers.Conv2D(
            num_classes, 3, strides=2, padding="same",
            kernel_initializer=keras.initializers.GlorotUniform(seed=5),
        )
        self.lzu_metadata = {
            "task": "segmentation",
            "output_size": list(INPUT_SIZE),
            "num_classes": num_classes,
            "bounding_box_format": None,
        }
        self(tf.zeros((1,) + INPUT_SIZE + (3,)))

    def call(self, images):
        return self.conv(images / 127.5 - 1.0)

    def infer(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        size = tf.shape(images)[1:3]
        logits = self(tf.image.resize(images, INPUT_SIZE))
        logits = tf.image.resize(logits, size)
        return {"masks": tf.argmax(logits, axis=-1, output_type=tf.int32)}


def random_images(rng, batch, height, width):
    """Returns a uint8 `(batch, height, width, 3)` batch with some structure."""
    base = rng.integers(0, 256, size=(batch, 1, 1, 3))
    noise = rng.integers(-60, 60, size=(batch, height, width, 3))
    ramp = np.linspace(0, 80, width)[None, None, :, None]
    return np.clip(base + noise + ramp, 0, 255).astype(np.uint8)


class FakeBoxesDetector(FakeDetector):
    """Stand-in for a detector with box saliency (`takes_prior_boxes`): it
    "tracks" its prior boxes. Each valid prior box comes back moved by
    `STEP` pixels right and down (score 0.9); an image without prior boxes
    gets `FIRST_BOX` (score 0.8) and a box scoring 0.1. Rows that are none
    of these score -1 (boxes -1)."""

    STEP = 5.0
    FIRST_BOX = (2.0, 3.0, 10.0, 12.0)
    takes_prior_boxes = True

    def infer(self, images, prior_boxes=None):
        images = tf.convert_to_tensor(images, tf.float32)
        batch = tf.shape(images)[0]
        if prior_boxes is None:
            prior_boxes = tf.fill([batch, 1, 4], -1.0)
        prior_boxes = tf.convert_to_tensor(prior_boxes, tf.float32)
        valid = tf.reduce_any(prior_boxes != -1.0, axis=-1)
        none = ~tf.reduce_any(valid, axis=1)[:, None]
        first = tf.broadcast_to(
            tf.constant([self.FIRST_BOX, (20.0, 20.0, 30.0, 30.0)]),
            [batch, 2, 4],
        )
        boxes = tf.concat(
            [tf.where(valid[..., None], prior_boxes + self.STEP, -1.0),
             tf.where(none[..., None], first, -1.0)],
            axis=1,
        )
        scores = tf.concat(
            [tf.where(valid, 0.9, -1.0),
             tf.where(none, tf.constant([[0.8, 0.1]]), -1.0)],
            axis=1,
        )
        return {
            "boxes": boxes,
            "scores": scores,
            "classes": tf.zeros(tf.shape(scores), tf.int32),
            "num_detections": tf.fill([batch], tf.shape(scores)[1]),
        }
