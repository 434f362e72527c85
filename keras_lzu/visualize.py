"""Pictures of what LZU does to an image: saliency, grid, zoom and unzoom,
and of a detector's boxes.

`lzu visualize IMAGE [--saliency ...] -o out.png` draws, side by side, the
image with the saliency overlaid and the warp grid drawn, the zoomed image,
and the zoomed image unzoomed back to the original layout
(`plot_lzu`; `save_saliency_figure` writes it to a PNG).
`save_zoomed_image` writes the zoomed image alone, and
`save_detection_figure` the detections of several models on one image, next
to each other. Every PNG is written atomically (a temporary file renamed
into place).
"""

import argparse
import os

import numpy as np

from keras_lzu import ops as lzu_ops
from keras_lzu.files import write_atomically

SAMPLE_IMAGE = os.path.join(
    os.path.dirname(__file__), "assets", "sample_street.png"
)


def named_saliency(name, grid_shape=(31, 51)):
    """Built-in saliency maps: `"horizon"` (a band across the image at 40-55%
    of its height, where far objects are), `"center"`, `"uniform"`."""
    gh, gw = grid_shape
    ys, xs = np.meshgrid(
        np.linspace(0, 1, gh), np.linspace(0, 1, gw), indexing="ij"
    )
    if name == "horizon":
        return 0.05 + np.exp(-0.5 * ((ys - 0.48) / 0.06) ** 2)
    if name == "center":
        return 0.05 + np.exp(-0.5 * (((xs - 0.5) / 0.15) ** 2 + ((ys - 0.5) / 0.15) ** 2))
    if name == "uniform":
        return np.ones(grid_shape)
    raise ValueError(
        '`saliency` must be "horizon", "center", "uniform" or a .npy file '
        f"with a 2-D array. Received: {name!r}"
    )


def load_saliency(value, grid_shape=(31, 51)):
    if value.endswith(".npy"):
        saliency = np.load(value)
        if saliency.ndim != 2:
            raise ValueError(
                f"The saliency file {value} must hold a 2-D array. "
                f"Received shape {saliency.shape}."
            )
        return saliency
    return named_saliency(value, grid_shape)


def lzu_views(image, saliency, output_size, separable=True,
              grid_shape=(31, 51)):
    """Computes the grid, the zoomed and the unzoomed image.

    Args:
        image: `(H, W, 3)` uint8 or float array.
        saliency: 2-D non-negative array.
        output_size: `(h, w)` of the zoomed image.

    Returns:
        `(grid (gh, gw, 2), zoomed (h, w, 3), unzoomed (H, W, 3))` arrays,
        images as float32 in the input's value range.
    """
    import keras

    images = np.asarray(image, "float32")[None]
    grid = lzu_ops.saliency_to_grid(
        np.asarray(saliency, "float32")[None], grid_shape, separable=separable
    )
    zoomed = lzu_ops.zoom(images, grid, output_size, separable=separable)
    unzoomed = lzu_ops.unzoom(
        zoomed, grid, image.shape[:2], separable=separable
    )
    to_numpy = keras.ops.convert_to_numpy
    return to_numpy(grid)[0], to_numpy(zoomed)[0], to_numpy(unzoomed)[0]


def plot_lzu(image, saliency, output_size, separable=True, grid_shape=(31, 51)):
    """Returns a matplotlib figure with the three panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid, zoomed, unzoomed = lzu_views(
        image, saliency, output_size, separable, grid_shape
    )
    height, width = image.shape[:2]
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    figure, axes = plt.subplots(
        1, 3, figsize=(18, 4.2), gridspec_kw={"width_ratios": [
            width, output_size[1] * height / output_size[0], width]},
    )
    axes[0].imshow(image)
    axes[0].imshow(
        saliency, extent=(0, width, height, 0), cmap="inferno", alpha=0.45,
        interpolation="bilinear",
    )
    step = max(1, grid.shape[0] // 15)
    for row in grid[::step]:
        axes[0].plot(row[:, 0] * width, row[:, 1] * height, color="cyan", lw=0.6)
    for col in grid[:, ::step].transpose(1, 0, 2):
        axes[0].plot(col[:, 0] * width, col[:, 1] * height, color="cyan", lw=0.6)
    axes[0].set_title("image, saliency and warp grid")
    axes[1].imshow(np.clip(zoomed / scale, 0, 1))
    axes[1].set_title(f"zoomed to {output_size[0]}x{output_size[1]}")
    axes[2].imshow(np.clip(unzoomed / scale, 0, 1))
    axes[2].set_title("unzoomed back to the original layout")
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return figure


def save_saliency_figure(path, image, saliency, output_size, dpi=100):
    """Writes `plot_lzu(image, saliency, output_size)` to a PNG.

    Args:
        path: the PNG to write.
        image: `(H, W, 3)` uint8 image.
        saliency: 2-D non-negative array, e.g. a wrapped model's
            `saliency_layer.saliency()[0]`.
        output_size: `(h, w)` of the zoomed image.
        dpi: resolution of the figure.

    Returns:
        `path`.
    """
    import matplotlib.pyplot as plt

    figure = plot_lzu(image, saliency, output_size)
    try:
        write_atomically(path, lambda f: figure.savefig(
            f, format="png", dpi=dpi), binary=True)
    finally:
        plt.close(figure)
    return path


def save_zoomed_image(path, image, saliency, output_size):
    """Writes the zoomed image alone, at its own resolution, to a PNG.

    Args:
        path: the PNG to write.
        image: `(H, W, 3)` uint8 image.
        saliency: 2-D non-negative array.
        output_size: `(h, w)` of the zoomed image.

    Returns:
        `path`.
    """
    from PIL import Image

    _, zoomed, _ = lzu_views(image, saliency, output_size)
    picture = Image.fromarray(np.clip(zoomed, 0, 255).round().astype("uint8"))
    write_atomically(path, lambda f: picture.save(f, format="PNG"),
                     binary=True)
    return path


def draw_detections(axis, image, detections, ground_truth=None, title="",
                    min_score=0.3, class_names=None):
    """Draws an image, its ground-truth boxes and detections on an axis.

    Args:
        axis: a matplotlib axis.
        image: `(H, W, 3)` uint8 image.
        detections: dict with `"boxes"` `(N, 4)` pixel `xyxy` in the
            image's frame, `"scores"` `(N,)` and `"classes"` `(N,)`.
        ground_truth: optional `(M, 4)` pixel `xyxy` boxes, drawn dashed
            white.
        title: the axis title, followed by the number of boxes drawn.
        min_score: detections below this score are not drawn.
        class_names: optional names of the class ids, written with the
            scores.
    """
    import matplotlib.patches as patches

    axis.imshow(image)
    for box in () if ground_truth is None else ground_truth:
        axis.add_patch(patches.Rectangle(
            (box[0], box[1]), box[2] - box[0], box[3] - box[1],
            fill=False, edgecolor="white", lw=0.6, ls="--"))
    colours = ("lime", "cyan", "magenta", "orange", "yellow")
    shown = 0
    for box, score, label in zip(detections["boxes"], detections["scores"],
                                 detections["classes"]):
        if score < min_score:
            continue
        shown += 1
        colour = colours[int(label) % len(colours)]
        axis.add_patch(patches.Rectangle(
            (box[0], box[1]), box[2] - box[0], box[3] - box[1],
            fill=False, edgecolor=colour, lw=1.0))
        name = "" if class_names is None else f"{class_names[int(label)]} "
        axis.text(box[0], box[1] - 2, f"{name}{score:.2f}", color=colour,
                  fontsize=5)
    axis.set_title(f"{title} ({shown} detections >= {min_score})", fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])


def save_detection_figure(path, image, ground_truth, detections_by_model,
                          min_score=0.3, class_names=None, dpi=110):
    """Writes the detections of several models on one image, side by side,
    to a PNG (`draw_detections` for each).

    Args:
        path: the PNG to write.
        image: `(H, W, 3)` uint8 image.
        ground_truth: `(M, 4)` pixel `xyxy` boxes, or `None`.
        detections_by_model: dict `{model name: detections}`, one panel
            each, in order (see `draw_detections`).
        min_score: detections below this score are not drawn.
        class_names: optional names of the class ids.
        dpi: resolution of the figure.

    Returns:
        `path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(detections_by_model)
    height, width = image.shape[:2]
    figure, axes = plt.subplots(
        1, count, figsize=(8 * count, 8 * height / width + 0.4))
    try:
        for axis, (name, detections) in zip(np.atleast_1d(axes),
                                            detections_by_model.items()):
            draw_detections(axis, image, detections, ground_truth, name,
                            min_score, class_names)
        figure.tight_layout()
        write_atomically(path, lambda f: figure.savefig(
            f, format="png", dpi=dpi), binary=True)
    finally:
        plt.close(figure)
    return path


def read_image(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def visualize_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="lzu visualize",
        description="Draw an image's saliency and grid, its zoom and unzoom.",
    )
    parser.add_argument("image", nargs="?", default=SAMPLE_IMAGE,
                        help="PNG or JPEG image (default: the bundled sample)")
    parser.add_argument("--saliency", default="horizon",
                        help='"horizon", "center", "uniform" or a .npy file')
    parser.add_argument("--output-size", type=int, nargs=2,
                        metavar=("HEIGHT", "WIDTH"),
                        help="zoomed size (default: half the image)")
    parser.add_argument("--non-separable", action="store_true",
                        help="use a non-separable warp")
    parser.add_argument("-o", "--output", default="lzu_visualization.png")
    args = parser.parse_args(argv)
    image = read_image(args.image)
    output_size = tuple(args.output_size or (
        max(1, image.shape[0] // 2), max(1, image.shape[1] // 2)))
    saliency = load_saliency(args.saliency)
    figure = plot_lzu(image, saliency, output_size,
                      separable=not args.non_separable)
    figure.savefig(args.output, dpi=110)
    print(f"Wrote {os.path.abspath(args.output)}")
    return 0
