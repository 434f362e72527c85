import math

import numpy as np
import keras
from keras import ops

from keras_lzu import ops as lzu_ops
from keras_lzu.layers import xla_clusters
from keras_lzu.ops import grids
from keras_lzu.ops import validation

MODES = ("fixed", "boxes", "prior+boxes", "network")
# Modes whose call takes `[images, boxes]`.
BOX_MODES = ("boxes", "prior+boxes")
# Modes with a learnable dataset-wide log-saliency map.
LEARNED_MAP_MODES = ("fixed", "prior+boxes")


@keras.saving.register_keras_serializable(package="keras_lzu")
class SaliencyGrid(keras.layers.Layer):
    """Produces the warp grid of LZU from a saliency map.

    Four sources of saliency:

    * `"fixed"`: one learnable map for the whole dataset (the paper's main
      setting), optionally initialised from a prior such as
      `keras_lzu.saliency_prior_from_boxes`. The grid has batch size 1 and is
      shared by every image of a batch.
    * `"boxes"`: a kernel density estimate of given boxes (e.g. the previous
      frame's detections), with a learnable bandwidth and amplitude, over a
      uniform floor: `saliency = U + amplitude * KDE`, where `U` and the KDE
      each have mass 1 over the grid (the KDE is 0 without boxes).
    * `"prior+boxes"`: FOVEA's combined saliency, the learnable map of
      `"fixed"` in place of the uniform floor: `saliency = P + amplitude *
      KDE`, with `P` the fixed map scaled to mass 1. Without boxes it gives
      the grid of `"fixed"`; `amplitude` sets how far the boxes outweigh
      the prior (2: the boxes hold two thirds of the mass).
    * `"network"`: a small convolutional network on a thumbnail of the image.

    The grid math runs in float32 whatever the dtype policy.

    Example:

    >>> images = keras.Input((240, 320, 3))
    >>> keras_lzu.SaliencyGrid(mode="fixed")(images).shape
    (1, 31, 51, 2)
    >>> keras_lzu.SaliencyGrid(mode="network")(images).shape
    (None, 31, 51, 2)

    A fixed prior that favours the left edge pulls the control points
    to the left (the zoom magnifies it):

    >>> prior = np.ones((3, 5), "float32")
    >>> prior[:, 0] = 10.0
    >>> layer = keras_lzu.SaliencyGrid(
    ...     grid_shape=(3, 5), attraction_fwhm=2, prior=prior
    ... )
    >>> grid = layer(np.zeros((2, 30, 50, 3), "float32"))
    >>> tuple(grid.shape)
    (1, 3, 5, 2)
    >>> print(np.round(keras.ops.convert_to_numpy(grid)[0, 0, :, 0], 3))
    [0.    0.08  0.395 0.75  1.   ]

    Boxes (normalized `xyxy`) attract the control points too:

    >>> layer = keras_lzu.SaliencyGrid(mode="boxes", grid_shape=(3, 5))
    >>> boxes = np.array([[[0.0, 0.0, 0.2, 0.2]]], "float32")
    >>> grid = layer([np.zeros((1, 30, 50, 3), "float32"), boxes])
    >>> print(np.round(keras.ops.convert_to_numpy(grid)[0, 0, :, 0], 2))
    [0.   0.09 0.27 0.53 1.  ]

    Args:
        mode: one of `"fixed"`, `"boxes"`, `"prior+boxes"`, `"network"`.
        grid_shape: `(gh, gw)` control points of the grid.
        separable: bool, see `keras_lzu.ops.saliency_to_grid`.
        attraction_fwhm: float, attraction kernel width in grid cells.
        anti_crop: bool, reflect-pad the saliency (keeps the field of view).
        prior: optional non-negative array of any 2-D shape, the initial
            saliency of the `"fixed"` and `"prior+boxes"` modes (resized to
            `grid_shape`). Defaults to uniform (the identity grid).
        bandwidth: float, initial Gaussian width of the box modes, as a
            fraction of each box's size.
        amplitude: float, initial mass of the boxes' density relative to
            the floor of mass 1 (uniform, or the prior) in the box modes
            (each valid box contributes an equal share).
        thumbnail_size: `(height, width)` the `"network"` mode looks at.
        filters: int, width of the `"network"` mode's convolutions.
        learning_rate_multiplier: positive float, `"fixed"` and
            `"prior+boxes"` modes only: how much faster than the rest of
            the model the learned map's log-saliency trains.
            The weight holds the log-saliency divided by
            `sqrt(learning_rate_multiplier)`, so any optimizer on any
            backend takes steps `learning_rate_multiplier` times as large
            in the log-saliency with plain SGD, and `sqrt(...)` times as
            large with optimizers that normalise the gradient's scale
            (Adam, RMSprop, Adagrad). Default 1 (the weight is the
            log-saliency itself). On the synthetic driving scenes neither
            this nor `prior_regularization` made the learned map help
            (`benchmarks/results.md`, "Does training the fixed saliency
            help?").
        prior_regularization: non-negative float, `"fixed"` and
            `"prior+boxes"` modes only: weight `w` of the loss
            `w * KL(q0 || q)` (`layer.losses`, added to the model's loss
            while the layer is trainable), with `q` the learned map
            normalised to sum 1 over the grid and `q0` its initial
            value (the prior, or uniform). It keeps the learned map near
            its start and grows without bound where `q` starves a region
            that `q0` covers, so the warp cannot collapse onto a few
            cells. Default 0 (no penalty).
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: images `(B, H, W, C)` for `"fixed"` (used for nothing but
            placing the layer in a graph) and `"network"`; `[images, boxes]`
            for `"boxes"` and `"prior+boxes"`, with boxes `(B, N, 4)`
            normalized `xyxy` in `[0, 1]`; rows with a negative or
            non-finite coordinate or no area (padding) are ignored.

    Returns:
        A float32 grid `(1, gh, gw, 2)` (`"fixed"`) or `(B, gh, gw, 2)`.
    """

    def __init__(
        self,
        mode="fixed",
        grid_shape=(31, 51),
        separable=True,
        attraction_fwhm=13,
        anti_crop=True,
        prior=None,
        bandwidth=0.5,
        amplitude=2.0,
        thumbnail_size=(48, 80),
        filters=16,
        learning_rate_multiplier=1.0,
        prior_regularization=0.0,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(
                f"`mode` must be one of {MODES}. Received: mode={mode!r}"
            )
        self.mode = mode
        self.grid_shape = grids._grid_shape(grid_shape)
        self.separable = bool(separable)
        if not attraction_fwhm > 0:
            raise ValueError(
                "`attraction_fwhm` must be positive. "
                f"Received: attraction_fwhm={attraction_fwhm}"
            )
        self.attraction_fwhm = float(attraction_fwhm)
        self.anti_crop = bool(anti_crop)
        self.prior = None if prior is None else _checked_prior(prior)
        for name, value in (("bandwidth", bandwidth), ("amplitude", amplitude)):
            if not value > 0:
                raise ValueError(
                    f"`{name}` must be positive. Received: {name}={value}"
                )
        self.bandwidth = float(bandwidth)
        self.amplitude = float(amplitude)
        self.thumbnail_size = validation.size_pair(
            thumbnail_size, "thumbnail_size"
        )
        self.filters = int(filters)
        if not (math.isfinite(learning_rate_multiplier)
                and learning_rate_multiplier > 0):
            raise ValueError(
                "`learning_rate_multiplier` must be a positive number. "
                f"Received: learning_rate_multiplier={learning_rate_multiplier}"
            )
        if not (math.isfinite(prior_regularization)
                and prior_regularization >= 0):
            raise ValueError(
                "`prior_regularization` must be a non-negative number. "
                f"Received: prior_regularization={prior_regularization}"
            )
        if mode not in LEARNED_MAP_MODES and (
            learning_rate_multiplier != 1 or prior_regularization != 0
        ):
            raise ValueError(
                "`learning_rate_multiplier` and `prior_regularization` apply "
                f"to the modes with a learned map, {LEARNED_MAP_MODES}, "
                f"only. Received: mode={mode!r}"
            )
        self.learning_rate_multiplier = float(learning_rate_multiplier)
        self.prior_regularization = float(prior_regularization)
        if mode == "network":
            self._network = [
                keras.layers.Conv2D(
                    self.filters, 3, strides=2, padding="same",
                    activation="relu", dtype=self.dtype_policy,
                ),
                keras.layers.Conv2D(
                    self.filters, 3, padding="same", activation="relu",
                    dtype=self.dtype_policy,
                ),
                keras.layers.Conv2D(
                    1, 1, kernel_initializer="zeros", dtype=self.dtype_policy
                ),
            ]

    def build(self, input_shape):
        if self.mode in LEARNED_MAP_MODES:
            initial = self._initial_log_saliency()
            scale = self._log_saliency_scale()
            regularizer = None
            if self.prior_regularization:
                regularizer = SaliencyKLRegularizer(
                    self.prior_regularization, initial, scale
                )
            self.log_saliency = self.add_weight(
                name="log_saliency",
                shape=self.grid_shape,
                initializer=keras.initializers.Constant(initial / scale),
                regularizer=regularizer,
            )
        if self.mode in BOX_MODES:
            self.log_bandwidth = self.add_weight(
                name="log_bandwidth", shape=(),
                initializer=keras.initializers.Constant(np.log(self.bandwidth)),
            )
            self.log_amplitude = self.add_weight(
                name="log_amplitude", shape=(),
                initializer=keras.initializers.Constant(np.log(self.amplitude)),
            )
        if self.mode == "network":
            channels = input_shape[-1]
            shape = (None, *self.thumbnail_size, channels)
            for layer in self._network:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)

    def call(self, inputs):
        if self.mode in BOX_MODES and (
            not isinstance(inputs, (list, tuple)) or len(inputs) != 2
        ):
            raise ValueError(
                f"SaliencyGrid(mode={self.mode!r}) expects inputs [images, "
                f"boxes]. Received: {inputs!r}"
            )
        return xla_clusters.run(self, self._grid, self.saliency(inputs))

    def _grid(self, saliency):
        return grids.saliency_to_grid(
            saliency,
            grid_shape=self.grid_shape,
            separable=self.separable,
            attraction_fwhm=self.attraction_fwhm,
            anti_crop=self.anti_crop,
        )

    def saliency(self, inputs=None):
        """The current saliency map `(B or 1, gh, gw)`, for inspection."""
        if self.mode == "fixed":
            return self._fixed_saliency()
        if self.mode == "boxes":
            gh, gw = self.grid_shape
            return 1.0 / (gh * gw) + self._boxes_density(inputs[1])
        if self.mode == "prior+boxes":
            prior = self._fixed_saliency()
            prior = prior / ops.sum(prior, axis=(1, 2), keepdims=True)
            return prior + self._boxes_density(inputs[1])
        return self._network_saliency(inputs)

    def effective_log_saliency(self):
        """The learned map's log-saliency `(gh, gw)`: the weight
        `log_saliency` times `sqrt(learning_rate_multiplier)`."""
        scale = self._log_saliency_scale()
        if scale == 1.0:
            return self.log_saliency
        return self.log_saliency * scale

    def _log_saliency_scale(self):
        return math.sqrt(self.learning_rate_multiplier)

    def _fixed_saliency(self):
        log_saliency = self.effective_log_saliency()
        return ops.exp(log_saliency - ops.max(log_saliency))[None]

    def _boxes_density(self, boxes):
        """`amplitude` times the boxes' KDE of mass 1 (0 without boxes)."""
        boxes = ops.cast(boxes, "float32")
        if len(boxes.shape) != 3 or boxes.shape[-1] != 4:
            raise ValueError(
                "`boxes` must have shape (batch, num_boxes, 4) with "
                f"normalized xyxy boxes. Received: boxes.shape={boxes.shape}"
            )
        gh, gw = self.grid_shape
        xs = ops.convert_to_tensor(np.linspace(0, 1, gw, dtype="float32"))
        ys = ops.convert_to_tensor(np.linspace(0, 1, gh, dtype="float32"))
        x1, y1, x2, y2 = (boxes[..., k, None] for k in range(4))
        valid = (
            ops.all(ops.isfinite(boxes), axis=-1, keepdims=True)
            & (ops.min(boxes, axis=-1, keepdims=True) >= 0)
            & (x2 > x1)
            & (y2 > y1)
        )
        # Non-finite rows are ignored like padding, and replaced so that
        # they reach no product (0 * NaN would still be NaN).
        boxes = ops.where(valid, boxes, 0.0)
        x1, y1, x2, y2 = (boxes[..., k, None] for k in range(4))
        valid = ops.cast(valid, "float32")
        bandwidth = ops.exp(self.log_bandwidth)
        min_sigma = 0.5 / max(gh, gw)
        sigma_x = bandwidth * ops.maximum(x2 - x1, 0.0) + min_sigma
        sigma_y = bandwidth * ops.maximum(y2 - y1, 0.0) + min_sigma
        profile_x = ops.exp(-0.5 * ops.square((xs - (x1 + x2) / 2) / sigma_x))
        profile_y = ops.exp(-0.5 * ops.square((ys - (y1 + y2) / 2) / sigma_y))
        profiles = ops.einsum("bni,bnj->bnij", profile_y * valid, profile_x)
        mass = ops.sum(profiles, axis=(2, 3), keepdims=True)
        profiles = profiles / ops.maximum(mass, 1e-12)
        count = ops.maximum(ops.sum(valid, axis=(1, 2)), 1.0)[:, None, None]
        density = ops.sum(profiles, axis=1) / count
        return ops.exp(self.log_amplitude) * density

    def _network_saliency(self, images):
        images = ops.cast(images, "float32")
        thumbnail = ops.image.resize(
            images, self.thumbnail_size, interpolation="bilinear"
        )
        mean = ops.mean(thumbnail, axis=(1, 2, 3), keepdims=True)
        spread = ops.std(thumbnail, axis=(1, 2, 3), keepdims=True)
        x = (thumbnail - mean) / (spread + 1e-3)
        for layer in self._network:
            x = layer(x)
        # Not `ops.image.resize`, wrong under XLA at some upsampling ratios.
        logits = lzu_ops.resize_bilinear(
            ops.cast(x, "float32"), self.grid_shape
        )[..., 0]
        return ops.exp(ops.clip(logits, -20.0, 20.0))

    def _initial_log_saliency(self):
        if self.prior is None:
            return np.zeros(self.grid_shape, "float32")
        prior = self.prior
        if prior.shape != self.grid_shape:
            prior = ops.convert_to_numpy(
                ops.image.resize(
                    prior[None, ..., None], self.grid_shape,
                    interpolation="bilinear",
                )
            )[0, ..., 0]
        prior = np.maximum(prior, 0.0) / max(float(prior.max()), 1e-30)
        return np.log(prior + grids.SALIENCY_FLOOR).astype("float32")

    def compute_output_shape(self, input_shape):
        if self.mode == "fixed":
            batch = 1
        elif self.mode in BOX_MODES:
            batch = input_shape[1][0]
        else:
            batch = input_shape[0]
        return (batch, *self.grid_shape, 2)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mode": self.mode,
                "grid_shape": self.grid_shape,
                "separable": self.separable,
                "attraction_fwhm": self.attraction_fwhm,
                "anti_crop": self.anti_crop,
                "prior": None if self.prior is None else self.prior.tolist(),
                "bandwidth": self.bandwidth,
                "amplitude": self.amplitude,
                "thumbnail_size": self.thumbnail_size,
                "filters": self.filters,
                "learning_rate_multiplier": self.learning_rate_multiplier,
                "prior_regularization": self.prior_regularization,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_lzu")
class SaliencyKLRegularizer(keras.regularizers.Regularizer):
    """`weight * KL(q0 || q)` of a fixed saliency's log-saliency weight.

    `q = softmax(scale * variable)` over every cell of the grid (the
    saliency normalised to sum 1), `q0 = softmax(initial)`:
    `KL = sum(q0 * (log q0 - log q))`. Its gradient in the log-saliency is
    `weight * (q - q0)`.

    Args:
        weight: non-negative float.
        initial: `(gh, gw)` initial log-saliency.
        scale: float, the log-saliency is `scale * variable`.
    """

    def __init__(self, weight, initial, scale=1.0):
        self.weight = float(weight)
        self.initial = np.asarray(initial, "float32")
        self.scale = float(scale)
        flat = self.initial.astype("float64").ravel()
        log_q0 = flat - flat.max()
        log_q0 = log_q0 - np.log(np.exp(log_q0).sum())
        self._q0 = np.exp(log_q0).astype("float32")
        self._q0_log_q0 = float(np.sum(np.exp(log_q0) * log_q0))

    def __call__(self, variable):
        log_saliency = ops.reshape(ops.cast(variable, "float32"), (-1,))
        if self.scale != 1.0:
            log_saliency = log_saliency * self.scale
        log_q = log_saliency - ops.logsumexp(log_saliency)
        cross_entropy = -ops.sum(ops.convert_to_tensor(self._q0) * log_q)
        return self.weight * (cross_entropy + self._q0_log_q0)

    def get_config(self):
        return {"weight": self.weight, "initial": self.initial.tolist(),
                "scale": self.scale}


def _checked_prior(prior):
    prior = np.asarray(prior, dtype="float32")
    if prior.ndim != 2 or min(prior.shape) < 1:
        raise ValueError(
            "`prior` must be a 2-D (height, width) saliency map. "
            f"Received: prior.shape={prior.shape}"
        )
    if not np.all(np.isfinite(prior)) or prior.min() < 0:
        raise ValueError("`prior` must be finite and non-negative.")
    return prior
