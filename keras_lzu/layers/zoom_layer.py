import keras

from keras_lzu import ops as lzu_ops
from keras_lzu.layers import xla_clusters
from keras_lzu.ops import validation


@keras.saving.register_keras_serializable(package="keras_lzu")
class ZoomLayer(keras.layers.Layer):
    """Resamples images through a warp grid, spending pixels where it is dense.

    Output pixel `(r, c)` samples the image at the grid's warp of its centre
    (docs/conventions.md). With the identity grid the layer is a plain
    bilinear resize. With `antialias=True` every output pixel is instead the
    mean of the image over its footprint (the cell it covers, mapped through
    the warp, at least one input pixel wide): an area average where the warp
    shrinks the image, the same bilinear sample where it magnifies. The
    resampling runs in float32 whatever the dtype policy; the result is cast
    to the layer's compute dtype.

    Example:

    >>> images = keras.Input((240, 320, 3))
    >>> grid = keras_lzu.SaliencyGrid(mode="fixed")(images)
    >>> keras_lzu.ZoomLayer((120, 160))([images, grid]).shape
    (None, 120, 160, 3)

    A row whose pixel values are their column index, zoomed through a grid
    that puts its left quarter into the left half of the output:

    >>> row = np.arange(8, dtype="float32").reshape(1, 1, 8, 1)
    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> zoomed = keras_lzu.ZoomLayer((1, 4))([row, grid])
    >>> print(keras.ops.convert_to_numpy(zoomed)[0, 0, :, 0])
    [0. 1. 3. 6.]

    Args:
        output_size: `(height, width)` of the zoomed images.
        separable: bool. `True` uses the fast separable sampler, exact for
            separable grids (the default of `SaliencyGrid`). `False` is exact
            for any grid.
        validate: bool. Also check the grid's values (finite, in `[0, 1]`,
            non-decreasing along each axis) when the layer runs in a
            TensorFlow graph (`fit`, `predict`), a debugging aid for grids
            given by the user: a bad grid fails the step. Eager calls always
            check them; XLA-compiled steps never can.
        antialias: bool, default `False`. `True` averages over each output
            pixel's footprint (see `keras_lzu.ops.zoom`): exact with
            `separable=True`; for general grids footprints taller than 3
            input rows are approximated.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: `[images, grid]`: images `(B, H, W, C)` and a grid
            `(B or 1, gh, gw, 2)`.

    Returns:
        `(B, output_height, output_width, C)` zoomed images.
    """

    def __init__(self, output_size, separable=False, validate=False,
                 antialias=False, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.output_size = validation.size_pair(output_size, "output_size")
        self.separable = bool(separable)
        self.validate = bool(validate)
        self.antialias = bool(antialias)

    def call(self, inputs):
        images, grid = _unpack_pair(inputs, "ZoomLayer", "[images, grid]")
        return xla_clusters.run(self, self._zoom, images, grid)

    def _zoom(self, images, grid):
        zoomed = lzu_ops.zoom(
            images, grid, self.output_size, separable=self.separable,
            validate=self.validate, antialias=self.antialias,
        )
        return keras.ops.cast(zoomed, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        images_shape = input_shape[0]
        return (images_shape[0], *self.output_size, images_shape[-1])

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


def _unpack_pair(inputs, layer_name, expected):
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise ValueError(
            f"{layer_name} expects inputs {expected}. Received: {inputs!r}"
        )
    return inputs
