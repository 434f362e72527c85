"""Warp planning: the saliency prior and the kind of warp for a dataset and
a compute budget, chosen from the training boxes (`plan_warp`).

The criterion (docs/warp_planning.md): a detector resolves an object well
once its side in the image it sees reaches a target size (about its
smallest anchor); below that, every halving of the side costs the same.
An object already above the target under a uniform resize has its
uniform side as its own target: shrinking it costs as much as shrinking a
small one, and magnifying it earns nothing. So each box earns
`log(min(zoomed side / max(target side, uniform side), 1))`. The plan
maximises the mean of that over the boxes, among warps that shrink no box
below a bound (0.8x of a uniform resize) and no region of the image below
another (0.5x).
"""

import dataclasses
import math

import numpy as np

from keras_lzu.data import prior as prior_module

# The side, in pixels of the zoomed image, from which a detector resolves
# an object well: the smallest anchor of a RetinaNet with KerasHub's and
# KerasCV's defaults (anchor size 4 at stride 8).
DEFAULT_TARGET_SIZE = 32.0
# No region of the image may be shrunk below this linear scale of a uniform
# resize.
DEFAULT_MIN_SCALE = 0.5
# No box may be shrunk below this linear scale of a uniform resize: in the
# diagnostics of issue 23 (benchmarks/results.md), boxes shrunk to about
# 0.8x lost a third of their AP (medium boxes 0.236 -> 0.153), more than
# magnifying the small ones 1.95x gained.
DEFAULT_MIN_BOX_SCALE = 0.8
# The warp is general (not separable) when the total variation distance
# between the boxes' density and the product of its marginals exceeds this.
# A band or a single cluster of a hundred boxes or more is close to a product
# (about 0.1, from the randomness of where the boxes fall); a diagonal line
# of boxes is far from it (above 0.8).
SEPARABILITY_THRESHOLD = 0.25
# Below the threshold the warp is still general when the best general warp
# gains more than this many times what the best separable one gains over a
# uniform resize (in the criterion): a single cluster is a product density,
# but a separable warp magnifies the cluster's whole rows and columns and
# must shrink everything else, where a general warp magnifies the cluster
# alone (on the cluster layout of `SyntheticDrivingScenes` it gains 1.8x as
# much; on a band with large objects below it, 1.0-1.1x). Otherwise
# separable: it is cheaper to run and keeps boxes axis-aligned.
GENERAL_GAIN_RATIO = 1.25
# Candidate strengths of the prior: the floors (from gentle to strong, four
# per decade) and box weights searched.
FLOORS = tuple(float(f"{10.0 ** (e / 4):.3g}") for e in range(2, -11, -1))
BOX_WEIGHTS = ("height", 0.5, "mass")
# The criterion is evaluated on at most this many boxes (a fixed random
# subset of a larger set; the prior itself uses every box).
MAX_SCORED_BOXES = 20000
# COCO's object sizes: areas in pixels of the canvas.
SMALL_AREA = 32.0**2
MEDIUM_AREA = 96.0**2
SIZE_BUCKETS = ("small", "medium", "large")
_NEWTON_STEPS = 50
# Criteria closer than this are a tie (the gentler warp, or the separable
# one, wins): a 0.01% change of the mean object side means nothing, and the
# float32 grids move the criterion by up to about 1e-5.
_TIE = 1e-4


@dataclasses.dataclass(frozen=True)
class WarpScore:
    """How a warp grid treats a set of boxes (`score_warp`).

    Attributes:
        criterion: mean over the boxes of
            `log(min(zoomed side / max(target_size, uniform side), 1))`
            (0 at best; sides in pixels of the zoomed image, the uniform
            side that of a uniform resize).
        magnification: dict `"small"`, `"medium"`, `"large"` (COCO's areas
            at the canvas) -> median linear magnification of the bucket's
            boxes against a uniform resize, or `None` for an empty bucket.
        counts: dict, the number of boxes of each bucket.
        worst_compression: the smallest local linear scale of the warp
            against a uniform resize anywhere in the image (below 1: that
            region is shrunk more than by the uniform resize).
        worst_box_compression: the smallest linear magnification of any
            box against a uniform resize.
    """

    criterion: float
    magnification: dict
    counts: dict
    worst_compression: float
    worst_box_compression: float


@dataclasses.dataclass(frozen=True, eq=False)
class WarpPlan:
    """A planned warp: pass `prior` and `separable` to `keras_lzu.wrap`.

    Attributes:
        prior: float32 `(gh, gw)` saliency (`wrap(saliency=plan.prior)`);
            all ones when no warp pays (`floor` and `box_weight` `None`).
        separable: bool (`wrap(separable=plan.separable)`).
        grid: float32 `(1, gh, gw, 2)`, the warp grid of `prior`.
        magnification, counts, worst_compression, worst_box_compression,
            criterion: the plan's `WarpScore` (see there).
        uniform_criterion: the criterion of a uniform resize, to compare.
        floor: the prior's floor (`saliency_prior_from_boxes(floor=)`).
        box_weight: the prior's box weight (`"height"`, `0.5`, `"mass"`).
        separability: total variation distance between the boxes' density
            and the product of its marginals; the warp is general above
            `separability_threshold`.
        separability_threshold: float.
        kind_criteria: dict `"separable"`, `"general"` -> the criterion
            of the best admissible warp of that kind (`"separable"`:
            `None` when the density is too far from separable to try).
        target_size: the criterion's target side, pixels of the zoomed
            image.
        min_scale: the bound on `worst_compression`.
        min_box_scale: the bound on `worst_box_compression`.
        image_size: `(height, width)` of the canvas.
        output_size: `(height, width)` of the zoomed image.
        num_boxes: the number of valid boxes.
        candidates: tuple of `(floor, box_weight, separable, WarpScore)`,
            every warp compared (`(None, None, ...)`: the uniform resize).
    """

    prior: np.ndarray
    separable: bool
    grid: np.ndarray
    magnification: dict
    counts: dict
    worst_compression: float
    worst_box_compression: float
    criterion: float
    uniform_criterion: float
    floor: float
    box_weight: object
    separability: float
    separability_threshold: float
    kind_criteria: dict
    target_size: float
    min_scale: float
    min_box_scale: float
    image_size: tuple
    output_size: tuple
    num_boxes: int
    candidates: tuple

    def summary(self):
        """The plan without its arrays, as a JSON-friendly dict."""
        fields = ("separable", "magnification", "counts", "worst_compression",
                  "worst_box_compression", "criterion", "uniform_criterion",
                  "floor", "box_weight", "separability",
                  "separability_threshold", "kind_criteria", "target_size",
                  "min_scale",
                  "min_box_scale", "image_size", "output_size", "num_boxes")
        summary = {name: getattr(self, name) for name in fields}
        summary["image_size"] = list(self.image_size)
        summary["output_size"] = list(self.output_size)
        return summary

    def __str__(self):
        (height, width), (out_height, out_width) = (
            self.image_size, self.output_size)
        kind = "separable" if self.separable else "general"
        reason = (
            f"separability {self.separability:.3f} "
            f"{'<=' if self.separability <= self.separability_threshold else '>'}"
            f" {self.separability_threshold:g}"
        )
        separable_best = self.kind_criteria["separable"]
        if separable_best is not None:
            reason += (f"; criterion general {self.kind_criteria['general']:.3f}"
                       f", separable {separable_best:.3f}")
        if self.floor is None:
            prior = "uniform (no warp pays)"
        else:
            prior = (f"KDE of the boxes, box_weight {self.box_weight}, "
                     f"floor {self.floor:g}")
        lines = [
            f"warp plan: {height}x{width} -> {out_height}x{out_width} "
            f"({math.sqrt(out_height * out_width / (height * width)):.2f}x"
            f" linear), {self.num_boxes} boxes",
            f"  warp: {kind} ({reason})",
            f"  prior: {prior}",
            "  objects   boxes  magnification vs uniform",
        ]
        for bucket in SIZE_BUCKETS:
            value = self.magnification[bucket]
            shown = "-" if value is None else f"{value:.2f}x"
            lines.append(f"  {bucket:<8}{self.counts[bucket]:>7}  {shown}")
        lines.append(
            f"  worst compression: of a box {self.worst_box_compression:.2f}x"
            f" (bound {self.min_box_scale:g}x), of the image "
            f"{self.worst_compression:.2f}x (bound {self.min_scale:g}x)"
        )
        lines.append(
            f"  criterion {self.criterion:.3f} (uniform "
            f"{self.uniform_criterion:.3f}; target {self.target_size:g} px)"
        )
        return "\n".join(lines)


def plan_warp(
    boxes,
    image_size,
    output_size,
    *,
    grid_shape=(31, 51),
    target_size=DEFAULT_TARGET_SIZE,
    min_scale=DEFAULT_MIN_SCALE,
    min_box_scale=DEFAULT_MIN_BOX_SCALE,
    bounding_box_format="xyxy",
    separability_threshold=SEPARABILITY_THRESHOLD,
):
    """Chooses the saliency prior and the kind of warp for a budget.

    The candidates are the uniform resize and the KDE priors of the boxes
    (`saliency_prior_from_boxes`) with every floor of `FLOORS` and box
    weight of `BOX_WEIGHTS`, each turned into a grid by
    `keras_lzu.ops.saliency_to_grid` (default kernel), separable and
    general. The warp is general when the boxes' density is far from
    separable (the total variation distance between their unit-mass KDE
    `p(x, y)` on the grid and `p(x) p(y)` exceeds
    `separability_threshold`; only general warps are tried then), or when
    the best general warp gains more than `GENERAL_GAIN_RATIO` times what
    the best separable one gains over the uniform resize in the criterion
    (a cluster of objects); separable otherwise.

    Each candidate is scored (`score_warp`): every box's side in the zoomed
    image, `sqrt(zoomed width * zoomed height)` in pixels, earns
    `log(min(side / max(target_size, uniform side), 1))`, where the
    uniform side is the box's side under a uniform resize to
    `output_size`: a small box gains from magnification up to the target,
    and any box shrunk below its uniform side or the target loses. The
    criterion is their mean. Candidates that shrink some box below
    `min_box_scale` times a uniform resize (`worst_box_compression`) or
    some region of the image below `min_scale` times
    (`worst_compression`) are rejected; among the rest the highest
    criterion wins, the gentlest on a tie (the uniform resize, which
    always qualifies, when no warp pays).

    Args:
        boxes: the training boxes, any form `saliency_prior_from_boxes`
            takes: an `(N, 4)` array, a list of per-image arrays, or a
            `tf.data.Dataset`; padding rows are ignored.
        image_size: `(height, width)` of the canvas the images have (the
            sizes of the COCO buckets are measured there).
        output_size: `(height, width)` the model sees; at most
            `image_size` on each side.
        grid_shape: `(gh, gw)` control points, as given to `wrap`.
        target_size: positive float, the side in pixels of the zoomed
            image from which the detector resolves objects well (default:
            32, the smallest anchor of a default RetinaNet; use the
            smallest anchor of yours).
        min_scale: float in `(0, 1]`, the least linear scale of a uniform
            resize any region of the image may be shrunk to.
        min_box_scale: float in `(0, 1]`, the least linear scale of a
            uniform resize any box may be shrunk to (its magnification).
        bounding_box_format: `"xyxy"` (pixels: of `image_size` for arrays,
            of each element's images for a dataset) or `"rel_xyxy"`
            (normalized to `[0, 1]`).
        separability_threshold: float in `[0, 1]`, see above.

    Returns:
        A `WarpPlan`.

    Raises:
        ValueError: naming the argument, for no valid box, a bad shape or
            size, or an `output_size` larger than `image_size`.

    Example:

    Small objects in a horizontal band: a separable warp magnifies them.

    >>> x = np.linspace(0.0, 1000.0, 200)
    >>> y = np.full(200, 300.0)
    >>> boxes = np.stack([x, y, x + 12, y + 12], axis=-1)
    >>> plan = keras_lzu.plan_warp(boxes, (640, 1024), (320, 512))
    >>> plan.separable, plan.magnification["small"] > 1.5
    (True, True)
    >>> plan.worst_box_compression >= 0.8, plan.worst_compression >= 0.5
    (True, True)
    >>> model = keras_lzu.wrap(detector, (320, 512), saliency=plan.prior,
    ...                        separable=plan.separable)  # doctest: +SKIP
    """
    image_size = _size(image_size, "image_size")
    output_size = _size(output_size, "output_size")
    if output_size[0] > image_size[0] or output_size[1] > image_size[1]:
        raise ValueError(
            "`output_size` must not exceed `image_size` on either side (the "
            "plan spends a budget smaller than the canvas). Received: "
            f"output_size={output_size}, image_size={image_size}"
        )
    grid_shape = prior_module._grid_shape(grid_shape)
    target_size = _positive(target_size, "target_size")
    min_scale = _in_unit_interval(min_scale, "min_scale", open_low=True)
    min_box_scale = _in_unit_interval(min_box_scale, "min_box_scale",
                                      open_low=True)
    separability_threshold = _in_unit_interval(
        separability_threshold, "separability_threshold", open_low=False
    )
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise ValueError(
            "`bounding_box_format` must be 'xyxy' or 'rel_xyxy'. "
            f"Received: {bounding_box_format!r}"
        )
    normalized = _planning_boxes(boxes, image_size, bounding_box_format)

    separability = density_separability(normalized, grid_shape)
    kinds = ((True, False) if separability <= separability_threshold
             else (False,))
    settings = [(None, None)] + [
        (floor, weight) for floor in FLOORS for weight in BOX_WEIGHTS
    ]
    densities = {
        weight: prior_module.box_density(normalized, grid_shape,
                                         box_weight=weight)
        for weight in BOX_WEIGHTS
    }
    priors = np.stack([
        np.ones(grid_shape, "float32") if floor is None
        else prior_module.apply_floor(densities[weight], floor)
        for floor, weight in settings
    ])
    scored = _scored_subset(normalized)
    searched = {}
    for kind in kinds:
        grids = _grids(priors, grid_shape, kind)
        scores = [
            score_warp(grid[None], scored, image_size, output_size,
                       target_size=target_size, separable=kind)
            for grid in grids
        ]
        admissible = [k for k, score in enumerate(scores)
                      if k == 0 or (score.worst_compression >= min_scale
                                    and score.worst_box_compression
                                    >= min_box_scale)]
        best = admissible[0]
        for k in admissible[1:]:
            if scores[k].criterion > scores[best].criterion + _TIE:
                best = k
        searched[kind] = (best, grids, scores)
    kind_criteria = {
        name: searched[kind][2][searched[kind][0]].criterion
        if kind in searched else None
        for name, kind in (("separable", True), ("general", False))
    }
    uniform_criterion = searched[kinds[0]][2][0].criterion
    separable = kinds == (True, False) and (
        kind_criteria["general"] - uniform_criterion
        <= GENERAL_GAIN_RATIO * (kind_criteria["separable"]
                                 - uniform_criterion) + _TIE)
    best, grids, scores = searched[separable]
    floor, weight = settings[best]
    score = scores[best]
    return WarpPlan(
        prior=priors[best],
        separable=bool(separable),
        grid=grids[best][None],
        magnification=score.magnification,
        counts=score.counts,
        worst_compression=score.worst_compression,
        worst_box_compression=score.worst_box_compression,
        criterion=score.criterion,
        uniform_criterion=uniform_criterion,
        floor=floor,
        box_weight=weight,
        separability=separability,
        separability_threshold=separability_threshold,
        kind_criteria=kind_criteria,
        target_size=target_size,
        min_scale=min_scale,
        min_box_scale=min_box_scale,
        image_size=image_size,
        output_size=output_size,
        num_boxes=int(normalized.shape[0]),
        candidates=tuple(
            (f, w, kind, s)
            for kind, (_, _, scores) in searched.items()
            for (f, w), s in zip(settings, scores)
        ),
    )


def score_warp(grid, boxes, image_size, output_size, *,
               target_size=DEFAULT_TARGET_SIZE, separable=None):
    """Scores a warp grid on boxes: the criterion of `plan_warp`.

    Each box is mapped into the zoomed frame by inverting the grid's
    piecewise-bilinear map `T` at its four corners (per axis by linear
    interpolation when separable; by Newton's method on `T` otherwise) and
    taking their bounding box, as `keras_lzu.ops.warp_boxes` defines it.
    Its linear magnification is `sqrt(zoomed area / area under a uniform
    resize)`; its zoomed side `sqrt(zoomed width * zoomed height)` in
    pixels of `output_size` earns
    `log(min(side / max(target_size, uniform side), 1))`, the uniform side
    being its side under a uniform resize to `output_size`.
    The worst compression is the smallest `1 / sqrt(det J_T)` (the local
    linear scale against a uniform resize) at the centres of the grid's
    cells.

    Args:
        grid: `(1, gh, gw, 2)` or `(gh, gw, 2)` warp grid.
        boxes: `(N, 4)` valid normalized `xyxy` boxes.
        image_size: `(height, width)` of the canvas (COCO's areas).
        output_size: `(height, width)` of the zoomed image.
        target_size: positive float, pixels of the zoomed image.
        separable: bool, whether the grid is separable; `None` checks.

    Returns:
        A `WarpScore`.
    """
    grid = np.asarray(grid, "float64")
    if grid.ndim == 4 and grid.shape[0] == 1:
        grid = grid[0]
    if grid.ndim != 3 or grid.shape[-1] != 2:
        raise ValueError(
            "`grid` must have shape (1, gh, gw, 2). "
            f"Received: shape={np.shape(grid)}"
        )
    boxes = np.asarray(boxes, "float64")
    height, width = _size(image_size, "image_size")
    out_height, out_width = _size(output_size, "output_size")
    if separable is None:
        separable = bool(
            np.allclose(grid[..., 0], grid[:1, :, 0], atol=1e-6)
            and np.allclose(grid[..., 1], grid[:, :1, 1], atol=1e-6)
        )
    zoomed = zoomed_boxes(grid, boxes, separable)
    box_width, box_height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    zoomed_width = zoomed[:, 2] - zoomed[:, 0]
    zoomed_height = zoomed[:, 3] - zoomed[:, 1]
    magnification = np.sqrt(
        zoomed_width * zoomed_height / (box_width * box_height)
    )
    side = np.sqrt(zoomed_width * out_width * zoomed_height * out_height)
    uniform_side = np.sqrt(box_width * out_width * box_height * out_height)
    target = np.maximum(uniform_side, target_size)
    utility = np.log(np.minimum(np.maximum(side, 1e-12) / target, 1.0))
    area = box_width * width * box_height * height
    buckets = {
        "small": area < SMALL_AREA,
        "medium": (area >= SMALL_AREA) & (area < MEDIUM_AREA),
        "large": area >= MEDIUM_AREA,
    }
    return WarpScore(
        criterion=float(utility.mean()),
        magnification={
            name: float(np.median(magnification[mask])) if mask.any()
            else None for name, mask in buckets.items()
        },
        counts={name: int(mask.sum()) for name, mask in buckets.items()},
        worst_compression=float(local_scales(grid).min()),
        worst_box_compression=float(magnification.min()),
    )


def zoomed_boxes(grid, boxes, separable):
    """Normalized `xyxy` boxes mapped to the zoomed frame: the bounding box
    of the four corners under `T^-1` (NumPy, float64).

    Args:
        grid: `(gh, gw, 2)` grid.
        boxes: `(N, 4)` normalized `xyxy` boxes of the original frame.
        separable: bool; `True` inverts each axis of a separable grid
            exactly, `False` inverts any grid with Newton's method.
    """
    corners = np.stack([
        boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]
    ], axis=1).reshape(-1, 2)
    if separable:
        mapped = _invert_separable(grid, corners)
    else:
        mapped = _invert_by_newton(grid, corners)
    mapped = mapped.reshape(-1, 4, 2)
    return np.concatenate([mapped.min(axis=1), mapped.max(axis=1)], axis=-1)


def local_scales(grid):
    """The linear scale of the zoom against a uniform resize at the centre
    of each cell of `grid` (`(gh, gw, 2)`): `1 / sqrt(det J_T)`, where `T`
    maps the zoomed frame to the original (both normalized)."""
    gh, gw = grid.shape[:2]
    along_u = (grid[:-1, 1:] - grid[:-1, :-1]
               + grid[1:, 1:] - grid[1:, :-1]) / 2 * (gw - 1)
    along_v = (grid[1:, :-1] - grid[:-1, :-1]
               + grid[1:, 1:] - grid[:-1, 1:]) / 2 * (gh - 1)
    det = along_u[..., 0] * along_v[..., 1] - along_u[..., 1] * along_v[..., 0]
    return 1.0 / np.sqrt(np.maximum(det, 1e-12))


def density_separability(boxes, grid_shape):
    """Total variation distance between the boxes' unit-mass KDE `p(x, y)`
    on the grid's control points and the product of its marginals
    `p(x) p(y)`: 0 for a density that is a product (a band, one cluster),
    up to 1.

    Args:
        boxes: `(N, 4)` valid normalized `xyxy` boxes.
        grid_shape: `(gh, gw)`.

    Returns:
        A float in `[0, 1]`.
    """
    density = prior_module.box_density(boxes, grid_shape, box_weight="mass")
    density = density / density.sum()
    product = np.outer(density.sum(axis=1), density.sum(axis=0))
    return float(0.5 * np.abs(density - product).sum())


def _grids(priors, grid_shape, separable):
    from keras import ops as keras_ops

    from keras_lzu import ops

    grids = ops.saliency_to_grid(priors, grid_shape=grid_shape,
                                 separable=separable)
    return np.asarray(keras_ops.convert_to_numpy(grids), "float32")


def _invert_separable(grid, points):
    knots_x = np.linspace(0.0, 1.0, grid.shape[1])
    knots_y = np.linspace(0.0, 1.0, grid.shape[0])
    u = np.interp(points[:, 0], grid[0, :, 0], knots_x)
    v = np.interp(points[:, 1], grid[:, 0, 1], knots_y)
    return np.stack([u, v], axis=-1)


def _invert_by_newton(grid, points):
    gh, gw = grid.shape[:2]
    # Start from the inverse of the mean separable map.
    start = np.stack([
        np.interp(points[:, 0], grid[..., 0].mean(axis=0),
                  np.linspace(0.0, 1.0, gw)),
        np.interp(points[:, 1], grid[..., 1].mean(axis=1),
                  np.linspace(0.0, 1.0, gh)),
    ], axis=-1)
    u = start
    for _ in range(_NEWTON_STEPS):
        mapped, jacobian = _forward_map(grid, u)
        residual = points - mapped
        if np.abs(residual).max() < 1e-9:
            break
        step = np.linalg.solve(jacobian, residual[..., None])[..., 0]
        u = np.clip(u + step, 0.0, 1.0)
    return u


def _forward_map(grid, u):
    """`T(u)` and its Jacobian `dT/du` for `(N, 2)` zoomed-frame points."""
    gh, gw = grid.shape[:2]
    scaled = u * [gw - 1, gh - 1]
    cell = np.clip(np.floor(scaled), 0, [gw - 2, gh - 2]).astype(int)
    a, b = (scaled - cell).T
    j, i = cell.T
    c00, c01 = grid[i, j], grid[i, j + 1]
    c10, c11 = grid[i + 1, j], grid[i + 1, j + 1]
    a, b = a[:, None], b[:, None]
    mapped = ((1 - a) * (1 - b) * c00 + a * (1 - b) * c01
              + (1 - a) * b * c10 + a * b * c11)
    d_da = ((1 - b) * (c01 - c00) + b * (c11 - c10)) * (gw - 1)
    d_db = ((1 - a) * (c10 - c00) + a * (c11 - c01)) * (gh - 1)
    return mapped, np.stack([d_da, d_db], axis=-1)


def _planning_boxes(boxes, image_size, bounding_box_format):
    is_dataset = prior_module._is_dataset(boxes)
    pixel_arrays = bounding_box_format == "xyxy" and not is_dataset
    normalized = prior_module.valid_boxes(prior_module.normalized_boxes(
        boxes, image_size if pixel_arrays else None, bounding_box_format
    ))
    if normalized.shape[0] == 0:
        raise ValueError(
            "`boxes` has no valid box (all rows are padding or have no "
            "area): the plan needs at least one box."
        )
    if pixel_arrays and normalized.max() * max(image_size) <= 1.0:
        raise ValueError(
            "`boxes` are all within the first pixel of the image: "
            "normalized boxes need bounding_box_format='rel_xyxy'."
        )
    return np.clip(normalized, 0.0, 1.0)


def _scored_subset(boxes):
    if boxes.shape[0] <= MAX_SCORED_BOXES:
        return boxes
    rows = np.random.default_rng(0).choice(
        boxes.shape[0], MAX_SCORED_BOXES, replace=False
    )
    return boxes[np.sort(rows)]


def _size(value, name):
    try:
        size = tuple(value)
    except TypeError:
        size = ()
    if len(size) != 2 or any(
        isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
        for s in size
    ):
        raise ValueError(
            f"`{name}` must be (height, width), two positive integers. "
            f"Received: {name}={value!r}"
        )
    return int(size[0]), int(size[1])


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value!r}"
        )
    return float(value)


def _in_unit_interval(value, name, open_low):
    low = "(0" if open_low else "[0"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value > 1
        or value < 0
        or (open_low and value == 0)
    ):
        raise ValueError(
            f"`{name}` must be a number in {low}, 1]. "
            f"Received: {name}={value!r}"
        )
    return float(value)
