"""Draw what LZU does to your own image: saliency, warp grid, zoom, unzoom.

Give an image and a prior: boxes where detail matters (turned into a
saliency map by `keras_lzu.saliency_prior_from_boxes`, the kernel density
estimate used for a dataset's training boxes) or a saliency map saved as a
2-D `.npy` array. The script builds the grid with
`keras_lzu.ops.saliency_to_grid`, zooms the image to `--output-size` and
unzooms it back (`keras_lzu.visualize.lzu_views`, the code behind
`lzu visualize`), and writes:

* `OUT/lzu.png`: the image with the saliency and the warp grid over it,
  the zoomed image, and the zoomed image unzoomed back to the original
  layout;
* `OUT/lzu_views.npz`: the arrays behind the picture (`saliency`, `grid`,
  `zoomed`, `unzoomed`) for plots of your own.

Example (boxes in normalized `x1 y1 x2 y2`, 0 = left/top, 1 = right/bottom):

    python examples/visualize_your_image.py street.jpg \\
        --box 0.40 0.42 0.60 0.55 --box 0.05 0.45 0.15 0.52 \\
        --output-size 300 480 --out lzu_views
"""

import argparse
import os

import numpy as np

import keras_lzu
from keras_lzu import visualize

SMOKE_TEST_ARGS = [
    "--box", "0.55", "0.40", "0.75", "0.55",
    "--output-size", "150", "240",
    "--grid-shape", "16", "26",
    "--out", "{out}",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument(
        "image", nargs="?", default=visualize.SAMPLE_IMAGE,
        help="PNG or JPEG image (default: the bundled street scene)",
    )
    prior = parser.add_mutually_exclusive_group()
    prior.add_argument(
        "--box", type=float, nargs=4, action="append",
        metavar=("X1", "Y1", "X2", "Y2"),
        help="a region that matters, normalized xyxy (repeat for more)",
    )
    prior.add_argument(
        "--saliency", help="a .npy file with a 2-D non-negative saliency map"
    )
    parser.add_argument(
        "--output-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
        help="size of the zoomed image (default: half the image)",
    )
    parser.add_argument(
        "--grid-shape", type=int, nargs=2, default=(31, 51),
        metavar=("ROWS", "COLUMNS"), help="control points of the warp grid",
    )
    parser.add_argument(
        "--non-separable", action="store_true",
        help="a general warp instead of one that stretches rows and columns",
    )
    parser.add_argument("--out", default="lzu_views", help="output folder")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    image = visualize.read_image(args.image)
    grid_shape = tuple(args.grid_shape)
    if args.saliency:
        saliency = visualize.load_saliency(args.saliency, grid_shape)
    elif args.box:
        saliency = keras_lzu.saliency_prior_from_boxes(
            np.array(args.box, "float32"), grid_shape=grid_shape
        )
    else:
        saliency = visualize.named_saliency("horizon", grid_shape)
    output_size = tuple(
        args.output_size or (image.shape[0] // 2, image.shape[1] // 2)
    )
    separable = not args.non_separable

    grid, zoomed, unzoomed = visualize.lzu_views(
        image, saliency, output_size, separable, grid_shape
    )
    figure = visualize.plot_lzu(
        image, saliency, output_size, separable, grid_shape
    )
    os.makedirs(args.out, exist_ok=True)
    picture = os.path.join(args.out, "lzu.png")
    figure.savefig(picture, dpi=100)
    arrays = os.path.join(args.out, "lzu_views.npz")
    np.savez(
        arrays, saliency=saliency, grid=grid, zoomed=zoomed, unzoomed=unzoomed
    )
    print(f"Wrote {picture} and {arrays}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
