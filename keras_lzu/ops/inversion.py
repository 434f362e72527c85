"""Inverting the piecewise-bilinear warp of a grid, with static shapes only.

`invert_grid` does the per-grid work once and returns a dict of tensors that
`apply_inverse` (any points) and `apply_inverse_on_lattice` (the pixel
centres of an output image) evaluate, so all pyramid levels of one forward
pass share it:

* separable inverse: `{"x_knots": (B, gw), "y_knots": (B, gh)}`. Per axis the
  warp is piecewise linear with knots `(k / (g - 1), knots[k])`, so its inverse
  is found by counting the knots below a value (a sorted search without
  data-dependent shapes) and interpolating linearly.
* general inverse: the same marginal knots, plus the grid itself (`"grid"`)
  and the bilinear coefficients of every quad (`"quads": (B, (gh - 1) *
  (gw - 1), 8)`). A point is located exactly, then solved in closed form:
  its row of quads is the number of grid rows (polylines through a row's
  control points, y as a function of x) that pass below it, minus one; its
  column of quads is the number of grid columns (x as a function of y) left
  of it, minus one; the quadratic of that quad gives its local coordinates.
  Every step is a comparison, a count or a gather, so it compiles under XLA
  and JAX `jit` with unknown batch sizes, and no point depends on a first
  guess being close (walking between quads from the marginal inverse, the
  obvious static-shape alternative, diverges on strongly non-separable
  grids).

Locating a point costs `2 * gh * gw` comparisons (every grid line at the
point); on a lattice (unzoom) the rows' heights are shared by the points of a
lattice column and the columns' positions by the points of a lattice row, so
the cost per pixel is `gh + gw` comparisons and one quad solve.

Points outside the warp's range are clamped to its nearest edge.
"""

from keras import ops

from keras_lzu.ops import grids
from keras_lzu.ops import validation

# Quads whose coefficients are this small are degenerate: divisions by them
# fall back to a finite value instead of producing inf or NaN.
_TINY = 1e-30
_FAR = 1e6


def invert_grid(grid, separable=False, validate=False):
    """Precomputes the inverse of the warp defined by `grid`.

    Args:
        grid: `(B, gh, gw, 2)` grid, non-decreasing along each axis.
        separable: bool. `True` treats the grid as separable (x depends on
            the column only, y on the row only), using its marginals; exact
            for separable grids and much cheaper. `False` inverts the general
            piecewise-bilinear warp.
        validate: bool. Also check the grid's values (finite, in `[0, 1]`,
            non-decreasing) inside a TensorFlow graph, as for `zoom`.

    Returns:
        A dict of tensors for `apply_inverse` and `unzoom_with_inverse`:
        the per-axis knots `"x_knots"` `(B, gw)` and `"y_knots"` `(B, gh)`,
        and for a general inverse also `"grid"` and the bilinear
        coefficients of every quad, `"quads"` `(B, (gh - 1) * (gw - 1), 8)`.

    Raises:
        ValueError: for a grid of the wrong shape, or (where its values are
            known) one that is not finite, not in `[0, 1]` or not
            non-decreasing along each axis: such a warp has no inverse.

    Example:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> inverse = keras_lzu.ops.invert_grid(grid, separable=True)
    >>> sorted(inverse)
    ['x_knots', 'y_knots']
    >>> print(keras.ops.convert_to_numpy(inverse["x_knots"]))
    [[0.   0.25 1.  ]]
    >>> sorted(keras_lzu.ops.invert_grid(grid))
    ['grid', 'quads', 'x_knots', 'y_knots']
    """
    grid = ops.convert_to_tensor(grid)
    grid = validation.check_grid(grid, validate=validate)
    grid = ops.cast(grid, "float32")
    inverse = {
        "x_knots": ops.mean(grid[..., 0], axis=1),
        "y_knots": ops.mean(grid[..., 1], axis=2),
    }
    if not separable:
        inverse["grid"] = grid
        inverse["quads"] = _quad_coefficients(grid)
    return inverse


def is_separable_inverse(inverse):
    return "quads" not in inverse


def apply_inverse(inverse, points):
    """Evaluates `T^-1` at points of the original frame.

    Args:
        inverse: the dict returned by `invert_grid`.
        points: `(Bp, N, 2)` normalized `(x, y)` points of the original frame.

    Returns:
        `(B, N, 2)` normalized points of the zoomed frame.

    Example:

    The left quarter of the original frame fills the left half of the
    zoomed frame:

    >>> xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    >>> grid = np.stack([xs, ys], axis=-1)[None].astype("float32")
    >>> inverse = keras_lzu.ops.invert_grid(grid)
    >>> points = np.array([[[0.25, 0.5], [0.625, 0.5]]], "float32")
    >>> zoomed = keras_lzu.ops.apply_inverse(inverse, points)
    >>> print(np.round(keras.ops.convert_to_numpy(zoomed), 3))
    [[[0.5  0.5 ]
      [0.75 0.5 ]]]
    """
    points = ops.cast(points, "float32")
    if is_separable_inverse(inverse):
        u_x = invert_knots(inverse["x_knots"], points[..., 0])
        u_y = invert_knots(inverse["y_knots"], points[..., 1])
        return ops.stack([u_x, u_y], axis=-1)
    grid = inverse["grid"]
    return _invert_quads(
        inverse,
        points,
        _grid_lines_at(grid, points[..., 0], axis=0),
        _grid_lines_at(grid, points[..., 1], axis=1),
    )


def apply_inverse_on_lattice(inverse, xs, ys):
    """Evaluates `T^-1` at every point `(xs[j], ys[i])` of a lattice.

    Args:
        inverse: the dict returned by `invert_grid`.
        xs: `(W,)` normalized x coordinates (NumPy or tensor).
        ys: `(H,)` normalized y coordinates.

    Returns:
        `(B, H, W, 2)` normalized points of the zoomed frame.
    """
    xs = ops.cast(ops.convert_to_tensor(xs), "float32")
    ys = ops.cast(ops.convert_to_tensor(ys), "float32")
    height, width = ys.shape[0], xs.shape[0]
    if is_separable_inverse(inverse):
        u_x = invert_knots(inverse["x_knots"], xs[None])
        u_y = invert_knots(inverse["y_knots"], ys[None])
        u_x = ops.broadcast_to(u_x[:, None, :], (ops.shape(u_y)[0], height, width))
        u_y = ops.broadcast_to(u_y[:, :, None], ops.shape(u_x))
        return ops.stack([u_x, u_y], axis=-1)
    grid = inverse["grid"]
    # A column of the lattice shares the rows' heights at its x, a row of
    # the lattice the columns' positions at its y.
    rows_at_columns = _grid_lines_at(grid, xs[None], axis=0)
    columns_at_rows = _grid_lines_at(grid, ys[None], axis=1)
    batch = ops.shape(rows_at_columns)[0]
    gh, gw = grid.shape[1], grid.shape[2]
    rows_at_points = ops.reshape(
        ops.broadcast_to(rows_at_columns[:, None], (batch, height, width, gh)),
        (batch, height * width, gh),
    )
    columns_at_points = ops.reshape(
        ops.broadcast_to(columns_at_rows[:, :, None], (batch, height, width, gw)),
        (batch, height * width, gw),
    )
    points = ops.stack(
        [
            ops.broadcast_to(xs[None, :], (height, width)),
            ops.broadcast_to(ys[:, None], (height, width)),
        ],
        axis=-1,
    )
    points = ops.reshape(points, (1, height * width, 2))
    located = _invert_quads(
        inverse, points, rows_at_points, columns_at_points
    )
    return ops.reshape(located, (-1, height, width, 2))


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


def _grid_lines_at(grid, coordinates, axis):
    """Positions of the grid's rows (`axis=0`) or columns (`axis=1`).

    Row `i` of the grid is the polyline through its control points
    `grid[:, i, j]`, `j = 0 .. gw - 1` (the edges its quads share): its y is
    a function of x because x is non-decreasing along a row. Likewise column
    `j` gives x as a function of y. Beyond their ends, lines extend flat.

    Args:
        grid: `(Bg, gh, gw, 2)` grid.
        coordinates: `(Bc, M)` normalized x (rows) or y (columns).
        axis: 0 for the rows, 1 for the columns.

    Returns:
        `(B, M, lines)`: the y of every row at every x, or the x of every
        column at every y.
    """
    grid = ops.stop_gradient(grid)
    if axis == 1:
        grid = ops.flip(ops.transpose(grid, (0, 2, 1, 3)), axis=-1)
    lines, knots = grid.shape[1], grid.shape[2]
    below = ops.sum(
        ops.cast(
            grid[:, None, :, :, 0] <= coordinates[:, :, None, None], "int32"
        ),
        axis=-1,
    )
    segment = ops.clip(below - 1, 0, knots - 2)
    index = segment + ops.arange(lines, dtype="int32") * knots
    table = ops.reshape(grid, (-1, lines * knots, 2))
    start = grids.gather_cells(table, index)
    end = grids.gather_cells(table, index + 1)
    fraction = ops.clip(
        _safe_divide(
            coordinates[..., None] - start[..., 0],
            end[..., 0] - start[..., 0],
            0.0,
        ),
        0.0,
        1.0,
    )
    return start[..., 1] + fraction * (end[..., 1] - start[..., 1])


def _invert_quads(inverse, points, rows_at_points, columns_at_points):
    """Locates each point's quad exactly and solves for its local position.

    Args:
        inverse: a general inverse of `invert_grid`.
        points: `(Bp, N, 2)` points of the original frame.
        rows_at_points: `(B, N, gh)` y of the grid's rows at the points' x.
        columns_at_points: `(B, N, gw)` x of the grid's columns at the
            points' y.

    Returns:
        `(B, N, 2)` points of the zoomed frame.
    """
    rows = rows_at_points.shape[-1] - 1
    cols = columns_at_points.shape[-1] - 1
    row = _count_below(rows_at_points, points[..., 1], rows)
    col = _count_below(columns_at_points, points[..., 0], cols)
    lam, mu = _solve_in_quad(inverse["quads"], row * cols + col, points)
    u_x = (ops.cast(col, "float32") + ops.clip(lam, 0.0, 1.0)) / cols
    u_y = (ops.cast(row, "float32") + ops.clip(mu, 0.0, 1.0)) / rows
    return ops.stack([u_x, u_y], axis=-1)


def _count_below(lines_at_points, values, cells):
    """The cell between consecutive lines that holds each value, clamped."""
    below = ops.sum(
        ops.cast(lines_at_points <= values[..., None], "int32"), axis=-1
    )
    return ops.clip(below - 1, 0, cells - 1)


def _solve_in_quad(quads, index, points):
    """Local coordinates `(lam, mu)` of `points` in the bilinear map of quad
    `index`: of the two roots of its quadratic, the one inside (or least
    outside) the unit square."""
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
    lam_near = _lam_given_mu(q, e, f, g, mu_near)
    lam_far = _lam_given_mu(q, e, f, g, mu_far)
    use_far = (_outside(mu_far) + _outside(lam_far)) < (
        _outside(mu_near) + _outside(lam_near)
    )
    return (
        ops.where(use_far, lam_far, lam_near),
        ops.where(use_far, mu_far, mu_near),
    )


def _lam_given_mu(q, e, f, g, mu):
    direction = e + mu[..., None] * g
    residual = q - mu[..., None] * f
    lam = _safe_divide(
        ops.sum(residual * direction, axis=-1),
        ops.sum(direction * direction, axis=-1),
        0.0,
    )
    return ops.clip(lam, -_FAR, _FAR)


def _outside(value):
    return ops.maximum(ops.maximum(-value, value - 1.0), 0.0)


def _cross(u, v):
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


def _safe_divide(numerator, denominator, fallback):
    ok = ops.abs(denominator) > _TINY
    safe = ops.where(ok, denominator, 1.0)
    return ops.where(ok, numerator / safe, fallback)
