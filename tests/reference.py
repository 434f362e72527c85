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
