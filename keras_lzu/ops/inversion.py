"""Inverting the piecewise-bilinear warp of a grid, with static shapes only.

`invert_grid` does the per-grid work once and returns a dict of tensors that
`apply_inverse` evaluates at any points of the original frame, so all pyramid
levels of one forward pass share it:

* separable inverse: `{"x_knots": (B, gw), "y_knots": (B, gh)}`. Per axis the
  warp is piecewise linear with knots `(k / (g - 1), knots[k])`, so its inverse
  is found by counting the knots below a value (a sorted search without
  data-dependent shapes) and interpolating linearly.
* general inverse: the same marginal knots, used as a first guess, plus the
  bilinear coefficients of every quad, `"quads": (B, (gh - 1) * (gw - 1), 8)`.
  Each point solves the quadratic of its candidate quad in closed form and
  jumps to the quad that the local solution points to, a fixed number of
  times. Everything is a gather or an elementwise op, so it compiles under XLA
  and JAX `jit` with unknown batch sizes.

Points outside the warp's range are clamped to its nearest edge.
"""

from keras import ops

from keras_lzu.ops import grids
from keras_lzu.ops import validation

DEFAULT_MAX_STEPS = 6

# Quads whose coefficients are this small are degenerate: divisions by them
# fall back to a finite value instead of producing inf or NaN.
_TINY = 1e-30
_FAR = 1e6


def invert_grid(grid, separable=False):
    """Precomputes the inverse of the warp defined by `grid`.

    Args:
        grid: `(B, gh, gw, 2)` grid, non-decreasing along each axis.
        separable: bool. `True` treats the grid as separable (x depends on
            the column only, y on the row only), using its marginals; exact
            for separable grids and much cheaper. `False` inverts the general
            piecewise-bilinear warp.

    Returns:
        A dict of tensors for `apply_inverse` and `unzoom_with_inverse`.
    """
    grid = ops.convert_to_tensor(grid)
    validation.check_grid(grid)
    grid = ops.cast(grid, "float32")
    inverse = {
        "x_knots": ops.mean(grid[..., 0], axis=1),
        "y_knots": ops.mean(grid[..., 1], axis=2),
    }
    if not separable:
        inverse["quads"] = _quad_coefficients(grid)
    return inverse


def is_separable_inverse(inverse):
    return "quads" not in inverse


def apply_inverse(inverse, points, max_steps=DEFAULT_MAX_STEPS):
    """Evaluates `T^-1` at points of the original frame.

    Args:
        inverse: the dict returned by `invert_grid`.
        points: `(Bp, N, 2)` normalized `(x, y)` points of the original frame.
        max_steps: int, quad-to-quad jumps of the general inversion.

    Returns:
        `(B, N, 2)` normalized points of the zoomed frame.
    """
    points = ops.cast(points, "float32")
    u_x = invert_knots(inverse["x_knots"], points[..., 0])
    u_y = invert_knots(inverse["y_knots"], points[..., 1])
    if is_separable_inverse(inverse):
        return ops.stack([u_x, u_y], axis=-1)
    return _invert_quads(inverse, points, u_x, u_y, max_steps)


def invert_knots(knots, values):
    """Inverts a non-decreasing piecewise-linear function given by knots.

    Args:
        knots: `(Bk, g)`, the function's values at `k / (g - 1)`.
        values: `(Bv, n)` values to invert; `Bk`, `Bv` are 1 or the batch.

    Returns:
        `(B, n)` arguments in `[0, 1]`, clamped where a value lies outside
        `[knots[0], knots[-1]]`.
    """
    knots = ops.cast(knots, "float32")
    values = ops.cast(values, "float32")
    size = knots.shape[-1]
    below = ops.sum(
        ops.cast(knots[:, None, :] <= values[..., None], "int32"), axis=-1
    )
    lower = ops.clip(below - 1, 0, size - 2)
    table = knots[..., None]
    left = grids.gather_cells(table, lower)[..., 0]
    right = grids.gather_cells(table, lower + 1)[..., 0]
    fraction = ops.clip(_safe_divide(values - left, right - left, 0.0), 0, 1)
    return (ops.cast(lower, "float32") + fraction) / (size - 1)


def _quad_coefficients(grid):
    """Per quad: `p00`, `e = p10 - p00`, `f = p01 - p00`, `g = p00 - p10 - p01
    + p11`, so that `p(lam, mu) = p00 + lam e + mu f + lam mu g`."""
    p00 = grid[:, :-1, :-1]
    p10 = grid[:, :-1, 1:]
    p01 = grid[:, 1:, :-1]
    p11 = grid[:, 1:, 1:]
    coefficients = ops.concatenate(
        [p00, p10 - p00, p01 - p00, p00 - p10 - p01 + p11], axis=-1
    )
    cells = (grid.shape[1] - 1) * (grid.shape[2] - 1)
    return ops.reshape(coefficients, (-1, cells, 8))


def _invert_quads(inverse, points, u_x, u_y, max_steps):
    quads = inverse["quads"]
    cols = inverse["x_knots"].shape[-1] - 1
    rows = inverse["y_knots"].shape[-1] - 1
    col = ops.clip(ops.floor(u_x * cols), 0, cols - 1)
    row = ops.clip(ops.floor(u_y * rows), 0, rows - 1)
    for _ in range(max_steps):
        lam, mu = _solve_in_quad(quads, row, col, cols, points)
        col = ops.clip(col + ops.floor(lam), 0, cols - 1)
        row = ops.clip(row + ops.floor(mu), 0, rows - 1)
    lam, mu = _solve_in_quad(quads, row, col, cols, points)
    u_x = (col + ops.clip(lam, 0, 1)) / cols
    u_y = (row + ops.clip(mu, 0, 1)) / rows
    return ops.stack([u_x, u_y], axis=-1)


def _solve_in_quad(quads, row, col, cols, points):
    """Local coordinates `(lam, mu)` of `points` in the bilinear map of the
    quad at `(row, col)`, extrapolated when a point lies outside the quad."""
    index = ops.cast(ops.stop_gradient(row * cols + col), "int32")
    c = grids.gather_cells(quads, index)
    p00, e, f, g = c[..., 0:2], c[..., 2:4], c[..., 4:6], c[..., 6:8]
    q = points - p00
    # q = lam (e + mu g) + mu f; crossing with (e + mu g) eliminates lam and
    # leaves a quadratic a mu^2 + b mu + c0 = 0.
    a = _cross(g, f)
    b = _cross(q, g) + _cross(e, f)
    c0 = _cross(q, e)
    discriminant = b * b - 4.0 * a * c0
    positive = discriminant > _TINY
    root = ops.where(positive, ops.sqrt(ops.where(positive, discriminant, 1.0)), 0.0)
    sign = ops.where(b >= 0, 1.0, -1.0)
    t = -0.5 * (b + sign * root)
    # Numerically stable pair of roots; the first is the linear solution
    # -c0 / b when a vanishes.
    mu_near = ops.clip(_safe_divide(c0, t, _FAR), -_FAR, _FAR)
    mu_far = ops.clip(_safe_divide(t, a, _FAR), -_FAR, _FAR)
    mu = ops.where(_outside(mu_far) < _outside(mu_near), mu_far, mu_near)
    direction = e + mu[..., None] * g
    residual = q - mu[..., None] * f
    lam = _safe_divide(
        ops.sum(residual * direction, axis=-1),
        ops.sum(direction * direction, axis=-1),
        0.0,
    )
    return ops.clip(lam, -_FAR, _FAR), mu


def _outside(value):
    return ops.maximum(ops.maximum(-value, value - 1.0), 0.0)


def _cross(u, v):
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _safe_divide(numerator, denominator, fallback):
    ok = ops.abs(denominator) > _TINY
    safe = ops.where(ok, denominator, 1.0)
    return ops.where(ok, numerator / safe, fallback)
