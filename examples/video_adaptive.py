"""Adaptive LZU on video: zoom where the previous frame found objects.

Trains a KerasHub RetinaNet behind LZU with "prior+boxes" saliency (the
KDE prior of the training boxes plus a KDE of prior boxes) "cascaded":
on frames of synthetic driving video (`SyntheticDrivingVideos`: the camera
pans, objects approach, leave and enter) whose prior boxes are the ground
truth disturbed like a previous frame's detections
(`keras_lzu.data.with_previous_detections`). Then `keras_lzu.predict_video`
runs it over a validation video, feeding each frame's detections to the
next frame, and the script writes:

* OUT/strip.png: the first frames, each with its warp grid (cyan), the
  previous frame's detections it zoomed on (yellow), its own detections
  and the ground truth (dashed white);
* OUT/video.npz: the frames, the prior boxes each frame got, the
  detections and the grids.

    python examples/video_adaptive.py --out video_out
    python examples/video_adaptive.py --steps 600 --image-size 256 384 \\
        --output-size 128 192 --out video_out
"""

import argparse
import os

import keras
import numpy as np
import tensorflow as tf

import keras_lzu
from keras_lzu.data import SyntheticDrivingVideos
from keras_lzu.data import saliency_prior_from_boxes
from keras_lzu.data import with_previous_detections
from keras_lzu.files import write_atomically
from keras_lzu.training import build_base_model

SMOKE_TEST_ARGS = [
    "--image-size", "64", "96", "--output-size", "64", "96",
    "--frames", "3", "--train-videos", "2", "--steps", "2",
    "--batch-size", "2", "--score-threshold", "0.0", "--out", "{out}",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--image-size", nargs=2, type=int, default=(256, 384),
                        metavar=("H", "W"), help="video frame size")
    parser.add_argument("--output-size", nargs=2, type=int,
                        default=(128, 192), metavar=("H", "W"),
                        help="size the network sees")
    parser.add_argument("--frames", type=int, default=6,
                        help="frames per video")
    parser.add_argument("--train-videos", type=int, default=24)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--score-threshold", type=float, default=0.3,
                        help="detections that steer the next frame's zoom")
    parser.add_argument("--out", default="video_adaptive_out")
    return parser.parse_args(argv)


def training_frames(videos, count, batch_size):
    """Endless batches of `({"images", "prior_boxes"}, labels)`: frames of
    the training videos with simulated previous detections."""
    frames = videos.as_dataset("train", batch_size=1, num_videos=count)
    frames = frames.unbatch().unbatch().map(
        lambda image, labels: (image, {"boxes": labels["boxes"],
                                       "labels": labels["classes"]}))
    frames = frames.cache().shuffle(count * videos.num_frames, seed=0)
    frames = frames.repeat().batch(batch_size, drop_remainder=True)
    return with_previous_detections(frames, seed=0)


def warp_grids(model, frames, prior_boxes):
    """The warp grid each frame was zoomed with: the saliency of the fixed
    prior plus a KDE of the frame's prior boxes (pixel xyxy, -1 padded)."""
    images = tf.constant(frames, "float32")
    boxes = model.get_layer("lzu_prior_boxes")([prior_boxes, images])
    return keras.ops.convert_to_numpy(model.saliency_layer([images, boxes]))


def padded(arrays, width):
    rows = max([len(a) for a in arrays] + [1])
    out = -np.ones((len(arrays), rows, width), "float32")
    for t, array in enumerate(arrays):
        out[t, :len(array)] = np.asarray(array).reshape(len(array), width)
    return out


def draw_strip(path, video, found, grids, threshold, count=4):
    """Writes the first `count` frames side by side with their grids,
    prior boxes, detections and ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    from keras_lzu import visualize

    count = min(count, len(found))
    height, width = video["frames"].shape[1:3]
    figure, axes = plt.subplots(1, count, figsize=(4 * count, 3.2),
                                squeeze=False)
    for t, axis in enumerate(axes[0]):
        visualize.draw_detections(
            axis, video["frames"][t], found[t], video["boxes"][t],
            title=f"frame {t}", min_score=threshold)
        grid = grids[t]
        step = max(1, grid.shape[0] // 10)
        for line in list(grid[::step]) + list(grid[:, ::step * 2]
                                              .transpose(1, 0, 2)):
            axis.plot(line[:, 0] * width, line[:, 1] * height, color="cyan",
                      lw=0.4)
        axis.set_xlim(-0.5, width - 0.5)
        axis.set_ylim(height - 0.5, -0.5)
        for box in found[t]["prior_boxes"]:
            axis.add_patch(patches.Rectangle(
                (box[0], box[1]), box[2] - box[0], box[3] - box[1],
                fill=False, edgecolor="yellow", lw=0.8))
    figure.tight_layout()
    write_atomically(path, lambda f: figure.savefig(f, format="png",
                                                    dpi=110), binary=True)
    plt.close(figure)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    videos = SyntheticDrivingVideos(
        image_size=tuple(args.image_size), num_frames=args.frames,
        num_classes=3, seed=0, train_size=args.train_videos,
        validation_size=1)
    train_boxes = [boxes for i in range(args.train_videos)
                   for boxes in videos.sequence(i)["boxes"]]
    prior = saliency_prior_from_boxes(
        train_boxes, image_size=videos.image_size)

    detector = build_base_model("detection", "keras_hub", 3, backbone="tiny")
    model = keras_lzu.wrap(detector, tuple(args.output_size),
                           saliency="prior+boxes", prior=prior)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    model.fit(training_frames(videos, args.train_videos, args.batch_size),
              steps_per_epoch=args.steps, epochs=1, verbose=2)

    video = videos.sequence(0, "validation")
    found = keras_lzu.predict_video(model, video["frames"],
                                    score_threshold=args.score_threshold)
    prior_boxes = padded([f["prior_boxes"] for f in found], 4)
    grids = warp_grids(model, video["frames"], prior_boxes)
    draw_strip(os.path.join(args.out, "strip.png"), video, found, grids,
               args.score_threshold)
    arrays = {
        "frames": video["frames"], "prior_boxes": prior_boxes,
        "boxes": padded([f["boxes"] for f in found], 4),
        "scores": padded([f["scores"] for f in found], 1)[..., 0],
        "grids": grids, "score_threshold": np.float32(args.score_threshold),
    }
    write_atomically(os.path.join(args.out, "video.npz"),
                     lambda f: np.savez(f, **arrays), binary=True)
    for t, frame in enumerate(found):
        print(f"frame {t}: {len(frame['boxes'])} detections, zoomed on "
              f"{len(frame['prior_boxes'])} boxes of frame {t - 1}"
              if t else f"frame 0: {len(frame['boxes'])} detections, "
              "zoomed with the fixed prior")


if __name__ == "__main__":
    main()
