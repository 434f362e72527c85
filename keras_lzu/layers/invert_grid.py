import keras

from keras_lzu.layers import constant_grids
from keras_lzu.layers import xla_clusters
from keras_lzu.ops import inversion


@keras.saving.register_keras_serializable(package="keras_lzu")
class InvertGrid(keras.layers.Layer):
    """Precomputes the inverse of a warp grid once, for several unzooms.

    Every `UnzoomLayer` that takes this layer's output shares one inversion
    of the grid per forward pass (one per model when the grid is fixed):
    the per-grid work (marginal knots and, for general grids, the grid with
    the bilinear coefficients of every quad) is done here; each unzoom then
    only evaluates the inverse at its own pixel centres, exactly at its own
    resolution.

    Example:

    >>> grid = keras.Input((31, 51, 2), batch_size=1)
    >>> inverse = keras_lzu.InvertGrid(separable=True)(grid)
    >>> sorted(inverse)
    ['x_knots', 'y_knots']
    >>> levels = [keras.Input((32, 48, 8)), keras.Input((16, 24, 8))]
    >>> [keras_lzu.UnzoomLayer()([f, inverse]).shape for f in levels]
    [(None, 32, 48, 8), (None, 16, 24, 8)]

    On a concrete grid whose control points have `x = (0, 0.25, 1)`:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> inverse = keras_lzu.InvertGrid(separable=True)(grid)
    >>> print(keras.ops.convert_to_numpy(inverse["x_knots"]))
    [[0.   0.25 1.  ]]

    Args:
        separable: bool. `True` inverts per axis (exact for separable grids,
            much cheaper); `False` inverts any piecewise-bilinear warp.
        validate: bool. Also check the grid's values (finite, in `[0, 1]`,
            non-decreasing along each axis) when the layer runs in a
            TensorFlow graph (`fit`, `predict`), a debugging aid for grids
            given by the user: a bad grid fails the step. Eager calls always
            check them; XLA-compiled steps never can.
        **kwargs: base `Layer` arguments.

    Call arguments:
        grid: `(B or 1, gh, gw, 2)` grid.

    Returns:
        A dict of float32 tensors, the input of `UnzoomLayer` in place of
        the grid.
    """

    def __init__(self, separable=False, validate=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.separable = bool(separable)
        self.validate = bool(validate)

    def call(self, grid):
        value = constant_grids.constant_value(grid)
        if value is not None:
            return constant_grids.as_constants(lambda: self._invert(value),
                                               grid)
        return xla_clusters.run(self, self._invert, grid)

    def _invert(self, grid):
        return inversion.invert_grid(
            grid, separable=self.separable, validate=self.validate
        )

    def compute_output_shape(self, grid_shape):
        batch, gh, gw, _ = grid_shape
        shapes = {"x_knots": (batch, gw), "y_knots": (batch, gh)}
        if not self.separable:
            shapes["grid"] = (batch, gh, gw, 2)
            shapes["quads"] = (batch, (gh - 1) * (gw - 1), 8)
        return shapes

    def compute_output_spec(self, grid):
        return {
            key: keras.KerasTensor(shape, dtype="float32")
            for key, shape in self.compute_output_shape(grid.shape).items()
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {"separable": self.separable, "validate": self.validate}
        )
        return config
