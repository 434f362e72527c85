"""Independent NumPy/SciPy references for the LZU conventions.

Written from docs/conventions.md, not from the package's code: grids
are interpolated and images sampled with `scipy.ndimage.map_coordinates`
(order 1, edge mode "nearest"), and the general inverse is found by brute
force over every quad with Newton's method.
"""

import math

import numpy as np
from scipy import ndimage


def pixel_centres(size):
    return (np.arange(size) + 0.5) / size


def warp(grid, points):
    """T(points) for one grid `(gh, gw, 2)` and points `(..., 2)`."""
    gh, gw = grid.shape[:2]
    coords = [points[..., 1] * (gh - 1), points[..., 0] * (gw - 1)]
    return np.stack(
        [
            ndimage.map_coordinates(grid[..., k], coords, order=1, mode="nearest")
            for k in range(2)
        ],
        axis=-1,
    )


def sample(image, points):
    """Bilinear, edge-clamped sampling of `(H, W, C)` at normalized points."""
    height, width = image.shape[:2]
    coords = [points[..., 1] * height - 0.5, points[..., 0] * width - 0.5]
    return np.stack(
        [
            ndimage.map_coordinates(
                image[..., c].astype("float64"), coords, order=1, mode="nearest"
            )
            for c in range(image.shape[-1])
        ],
        axis=-1,
    )


def lattice(height, width):
    xs, ys = np.meshgrid(pixel_centres(width), pixel_centres(height))
    return np.stack([xs, ys], axis=-1)


def resize_bilinear(images, size):
    """`tf.image.resize(images, size, "bilinear", antialias=False)`.

    TensorFlow's own resize where TensorFlow is installed; elsewhere (a
    JAX- or torch-only machine) the same half-pixel-centre bilinear resize
    by sampling at the output pixel centres with SciPy.
    """
    try:
        import tensorflow as tf
    except ImportError:
        return resize_bilinear_scipy(images, size)
    return tf.image.resize(images, size, "bilinear", antialias=False).numpy()


def resize_bilinear_scipy(images, size):
    points = lattice(*size)
    return np.stack([sample(image, points) for image in images])


def zoom(images, grids, size):
    out = []
    for b, image in enumerate(images):
        grid = grids[min(b, len(grids) - 1)]
        out.append(sample(image, warp(grid, lattice(*size))))
    return np.stack(out)


def invert_separable(grid, points):
    gh, gw = grid.shape[:2]
    u_x = np.interp(points[..., 0], grid[0, :, 0], np.linspace(0, 1, gw))
    u_y = np.interp(points[..., 1], grid[:, 0, 1], np.linspace(0, 1, gh))
    return np.stack([u_x, u_y], axis=-1)


def invert_brute_force(grid, points, tol=1e-6):
    """T^-1 by trying every quad: Newton's method on the bilinear map of each
    quad from its centre, keeping the quad whose converged solution lies in
    it."""
    gh, gw = grid.shape[:2]
    flat = points.reshape(-1, 2)
    result = np.full(flat.shape, np.nan)
    best = np.full(len(flat), np.inf)
    for i in range(gh - 1):
        for j in range(gw - 1):
            p00, p10 = grid[i, j], grid[i, j + 1]
            p01, p11 = grid[i + 1, j], grid[i + 1, j + 1]
            st = np.full((len(flat), 2), 0.5)
            for _ in range(30):
                s, t = st[:, :1], st[:, 1:]
                value = (
                    (1 - s) * (1 - t) * p00 + s * (1 - t) * p10
                    + (1 - s) * t * p01 + s * t * p11
                )
                d_s = (1 - t) * (p10 - p00) + t * (p11 - p01)
                d_t = (1 - s) * (p01 - p00) + s * (p11 - p10)
                det = d_s[:, 0] * d_t[:, 1] - d_s[:, 1] * d_t[:, 0]
                r = flat - value
                step_s = (r[:, 0] * d_t[:, 1] - r[:, 1] * d_t[:, 0]) / det
                step_t = (d_s[:, 0] * r[:, 1] - d_s[:, 1] * r[:, 0]) / det
                st = st + np.stack([step_s, step_t], axis=-1)
            s, t = st[:, :1], st[:, 1:]
            value = (
                (1 - s) * (1 - t) * p00 + s * (1 - t) * p10
                + (1 - s) * t * p01 + s * t * p11
            )
            # Newton may stop inside the quad without converging on hard
            # grids: only a solution that maps back to the point counts.
            converged = np.abs(value - flat).max(axis=-1) < 1e-9
            outside = np.max(np.maximum(np.maximum(-st, st - 1), 0), axis=-1)
            outside = np.where(converged & np.isfinite(outside), outside, np.inf)
            better = outside < best
            best = np.where(better, outside, best)
            u = np.stack([(j + st[:, 0]) / (gw - 1), (i + st[:, 1]) / (gh - 1)], -1)
            result[better] = u[better]
    assert np.all(best < tol), f"points outside the warp: {best.max()}"
    return result.reshape(points.shape)


def unzoom(features, grid, size, invert):
    inverse = invert(grid, lattice(*size))
    return sample(features, inverse)


def separable_grid(saliency, grid_shape, fwhm, anti_crop):
    """Recasens' attraction kernel per axis, written directly from the
    reference text with explicit loops."""
    gh, gw = grid_shape
    pad = min(gh, gw) - 1
    mode = "reflect" if anti_crop else "edge"
    saliency = saliency / saliency.max() + 1e-6

    def axis(mass, n):
        padded = np.pad(mass, pad, mode=mode)
        out = np.zeros(n)
        for j in range(n):
            num = den = 0.0
            for t in range(-pad, pad + 1):
                m = j + pad + t
                weight = padded[m] * math.exp(-4 * math.log(2) * t * t / fwhm**2)
                num += weight * (m - pad) / (n - 1)
                den += weight
            out[j] = num / den
        return np.clip(out, 0, 1)

    xs = axis(saliency.sum(axis=0), gw)
    ys = axis(saliency.sum(axis=1), gh)
    return np.stack(np.meshgrid(xs, ys), axis=-1)


def box_average(image, x_windows, y_windows, margin=2):
    """Exact means of the pixel squares of `(H, W, C)`, edge-replicated,
    over rectangles: `x_windows`, `y_windows` are `(lo, hi)` pairs of
    arrays of one shape `S` in edge units (pixel `k` spans `[k, k + 1]`),
    at most `margin` pixels outside the image. Returns `S + (C,)`.

    The integral of a function constant on unit squares from the origin to
    `(x, y)` is bilinear between integer points, so it is the bilinear
    interpolation of the float64 summed-area table.
    """
    image = np.pad(
        image.astype("float64"), ((margin, margin), (margin, margin), (0, 0)),
        mode="edge",
    )
    table = np.zeros((image.shape[0] + 1, image.shape[1] + 1, image.shape[2]))
    table[1:, 1:] = image.cumsum(0).cumsum(1)
    (x0, x1), (y0, y1) = (
        tuple(np.asarray(bound, "float64") + margin for bound in window)
        for window in (x_windows, y_windows)
    )
    for lo, hi, size in ((x0, x1, image.shape[1]), (y0, y1, image.shape[0])):
        assert lo.min() >= 0 and hi.max() <= size

    def integral(x, y):
        return np.stack(
            [
                ndimage.map_coordinates(table[..., c], [y, x], order=1)
                for c in range(table.shape[-1])
            ],
            axis=-1,
        )

    total = (
        integral(x1, y1) - integral(x0, y1)
        - integral(x1, y0) + integral(x0, y0)
    )
    return total / ((x1 - x0) * (y1 - y0))[..., None]


def footprint_windows(corners, centres, image_size):
    """The windows of the anti-aliasing convention, in edge units: per
    axis, from the mean of the mapped corners on each side of a cell,
    widened to contain the pixel centred on the mapped cell centre.

    Args:
        corners: `(H' + 1, W' + 1, 2)` normalized mapped cell corners.
        centres: `(H', W', 2)` normalized mapped cell centres.
        image_size: `(H, W)` of the image averaged.
    """
    height, width = image_size
    x = corners[..., 0] * width
    y = corners[..., 1] * height
    left = (x[:-1, :-1] + x[1:, :-1]) / 2
    right = (x[:-1, 1:] + x[1:, 1:]) / 2
    top = (y[:-1, :-1] + y[:-1, 1:]) / 2
    bottom = (y[1:, :-1] + y[1:, 1:]) / 2
    cx = centres[..., 0] * width
    cy = centres[..., 1] * height
    return (
        (np.minimum(left, cx - 0.5), np.maximum(right, cx + 0.5)),
        (np.minimum(top, cy - 0.5), np.maximum(bottom, cy + 0.5)),
    )


def edge_lattice(height, width):
    xs, ys = np.meshgrid(
        np.arange(width + 1) / width, np.arange(height + 1) / height
    )
    return np.stack([xs, ys], axis=-1)


def antialiased_zoom(image, grid, size):
    """Anti-aliased zoom of one `(H, W, C)` image by its definition."""
    corners = warp(grid, edge_lattice(*size))
    centres = warp(grid, lattice(*size))
    return box_average(
        image, *footprint_windows(corners, centres, image.shape[:2])
    )


def antialiased_unzoom(features, grid, size, invert):
    """Anti-aliased unzoom of one `(h', w', C)` feature map by its
    definition, with the inverse `invert(grid, points)`."""
    corners = invert(grid, edge_lattice(*size))
    centres = invert(grid, lattice(*size))
    return box_average(
        features, *footprint_windows(corners, centres, features.shape[:2])
    )


def footprint_mean(image, mapping, size, samples=16):
    """Mean of the pixel squares of `(H, W, C)` over the exact footprint of
    every cell of a `size` lattice under `mapping` (normalized `(..., 2)`
    points to normalized points), by brute force: each cell is cut into
    `samples x samples` sub-cells, each mapped to a small quad and
    integrated exactly over the rectangle between the means of its corners
    on each side, weighted by the quad's area (shoelace formula).

    Returns:
        `(H', W', C)` means and `(H', W', 2)` the width and height, in input
        pixels, of each cell's footprint (between the means of its mapped
        corners on each side).
    """
    height, width = image.shape[:2]
    scale = np.array([width, height], "float64")
    corners = mapping(edge_lattice(size[0] * samples, size[1] * samples))
    corners = corners * scale
    p00, p10 = corners[:-1, :-1], corners[:-1, 1:]
    p11, p01 = corners[1:, 1:], corners[1:, :-1]
    quad = [p00, p10, p11, p01]
    area = 0.5 * np.abs(sum(
        a[..., 0] * b[..., 1] - b[..., 0] * a[..., 1]
        for a, b in zip(quad, quad[1:] + quad[:1])
    ))
    means = box_average(
        image,
        ((p00[..., 0] + p01[..., 0]) / 2, (p10[..., 0] + p11[..., 0]) / 2),
        ((p00[..., 1] + p10[..., 1]) / 2, (p01[..., 1] + p11[..., 1]) / 2),
    )
    blocks = (size[0], samples, size[1], samples)
    total = (means * area[..., None]).reshape(*blocks, -1).sum(axis=(1, 3))
    result = total / area.reshape(blocks).sum(axis=(1, 3))[..., None]
    cells = corners[::samples, ::samples]
    extent = np.stack(
        [
            (cells[:-1, 1:, 0] + cells[1:, 1:, 0] - cells[:-1, :-1, 0]
             - cells[1:, :-1, 0]) / 2,
            (cells[1:, :-1, 1] + cells[1:, 1:, 1] - cells[:-1, :-1, 1]
             - cells[:-1, 1:, 1]) / 2,
        ],
        axis=-1,
    )
    return result, extent
