import keras

from keras_lzu.layers import xla_clusters
from keras_lzu.layers.zoom_layer import _unpack_pair
from keras_lzu.ops import inversion
from keras_lzu.ops import sampling
from keras_lzu.ops import validation


@keras.saving.register_keras_serializable(package="keras_lzu")
class UnzoomLayer(keras.layers.Layer):
    """Resamples features of a zoomed image back into the uniform layout.

    Output pixel centre `v` samples the features at `T^-1(v)`, the inverse
    of the grid's piecewise-bilinear warp, clamped to its range
    (docs/conventions.md). With `antialias=True` every output pixel is
    instead the mean of the features over its footprint (its cell mapped
    through `T^-1`, at least one feature pixel wide): an area average where
    the zoom had magnified, the same bilinear sample elsewhere. Feed it the
    forward grid, or the output of `InvertGrid` to share one inversion
    between several feature levels.

    Example:

    >>> features = keras.Input((60, 80, 16))
    >>> grid = keras.Input((31, 51, 2), batch_size=1)
    >>> keras_lzu.UnzoomLayer()([features, grid]).shape
    (None, 60, 80, 16)

    The zoomed row of `ZoomLayer`'s example, back in the original layout:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> zoomed = np.array([0, 1, 3, 6], "float32").reshape(1, 1, 4, 1)
    >>> unzoomed = keras_lzu.UnzoomLayer((1, 8))([zoomed, grid])
    >>> print(np.round(keras.ops.convert_to_numpy(unzoomed)[0, 0, :, 0], 3))
    [0.    1.    2.333 3.    4.    5.    6.    6.   ]

    Args:
        output_size: `(height, width)` of the unzoomed features, or `None`
            (default) for the features' own size, as the paper does for each
            pyramid level.
        separable: bool, used when the second input is a grid: `True`
            inverts per axis (exact for separable grids), `False` inverts any
            grid. An `InvertGrid` output carries its own choice.
        validate: bool, used when the second input is a grid. Also check
            the grid's values (finite, in `[0, 1]`, non-decreasing along
            each axis) when the layer runs in a TensorFlow graph (`fit`,
            `predict`), a debugging aid for grids given by the user: a bad
            grid fails the step. Eager calls always check them;
            XLA-compiled steps never can.
        antialias: bool, default `False`. `True` averages over each output
            pixel's footprint (see `keras_lzu.ops.unzoom`): exact for
            separable inverses; for general ones footprints taller than 3
            feature rows are approximated.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `[features, grid_or_inverse]`: features `(B, h', w', C)` and
            either a grid `(B or 1, gh, gw, 2)` or an `InvertGrid` output.

    Returns:
        `(B, height, width, C)` features in the uniform layout.
    """

    def __init__(self, output_size=None, separable=False, validate=False,
                 antialias=False, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.output_size = (
            None
            if output_size is None
            else validation.size_pair(output_size, "output_size")
        )
        self.separable = bool(separable)
        self.validate = bool(validate)
        self.antialias = bool(antialias)

    def call(self, inputs):
        features, grid_or_inverse = _unpack_pair(
            inputs, "UnzoomLayer", "[features, grid_or_inverse]"
        )
        return xla_clusters.run(self, self._unzoom, features, grid_or_inverse)

    def _unzoom(self, features, grid_or_inverse):
        if isinstance(grid_or_inverse, dict):
            inverse = grid_or_inverse
        else:
            inverse = inversion.invert_grid(
                grid_or_inverse, separable=self.separable,
                validate=self.validate,
            )
        unzoomed = sampling.unzoom_with_inverse(
            features, inverse, self.output_size, antialias=self.antialias
        )
        return keras.ops.cast(unzoomed, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        features_shape = input_shape[0]
        size = self.output_size or tuple(features_shape[1:3])
        return (features_shape[0], *size, features_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_size": self.output_size,
                "separable": self.separable,
                "validate": self.validate,
                "antialias": self.antialias,
            }
        )
        return config
