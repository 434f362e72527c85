"""Backend-agnostic LZU functions, written with `keras.ops` only.

The conventions are those of docs/conventions.md: grids are
`(B, gh, gw, 2)` normalized `(x, y)` input locations at the zoomed image's
control points; images and features are channels-last.

The docstring examples assume `import numpy as np, keras, keras_lzu`; they
run as tests (tests/ops/test_ops_docstring_examples.py).
"""

from keras_lzu.ops.coordinates import unwarp_boxes
from keras_lzu.ops.coordinates import unwarp_points
from keras_lzu.ops.coordinates import warp_boxes
from keras_lzu.ops.coordinates import warp_points
from keras_lzu.ops.grids import identity_grid
from keras_lzu.ops.grids import interpolate_grid
from keras_lzu.ops.grids import saliency_to_grid
from keras_lzu.ops.grids import upsample_grid
from keras_lzu.ops.inversion import apply_inverse
from keras_lzu.ops.inversion import invert_grid
from keras_lzu.ops.sampling import resize_bilinear
from keras_lzu.ops.sampling import unzoom
from keras_lzu.ops.sampling import unzoom_with_inverse
from keras_lzu.ops.sampling import zoom
