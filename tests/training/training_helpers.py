"""Helpers of the `lzu train` tests: tiny COCO datasets written by
`keras_lzu.data`, and in-process `lzu` calls."""

import contextlib
import io
import json

from keras_lzu import cli
from keras_lzu.data import SyntheticDrivingScenes

# (image size, images) of each part: two sizes in one dataset. The largest
# size, the canvas of the training images, is the first.
TRAIN_PARTS = (((64, 96), 3), ((48, 80), 1))
VAL_PARTS = (((64, 96), 1), ((48, 80), 1))
NUM_CLASSES = 2
OUTPUT_SIZE = (64, 96)


def write_coco(root, parts, split):
    """One COCO dataset (with RLE segmentations) from `write_coco` outputs
    of different image sizes; returns `(annotation file, image dir)`."""
    content = None
    for part, (size, count) in enumerate(parts):
        scenes = SyntheticDrivingScenes(
            image_size=size, num_classes=NUM_CLASSES, seed=part,
            far_object_size=(200, 400),
        )
        path = scenes.write_coco(root / f"part{part}", count, split,
                                 segmentation=True)
        written = read_json(path)
        offset = len(content["images"]) if content else 0
        for image in written["images"]:
            image["file_name"] = f"part{part}/images/{image['file_name']}"
            image["id"] += offset
        for annotation in written["annotations"]:
            annotation["image_id"] += offset
        if content is None:
            content = written
        else:
            content["images"] += written["images"]
            content["annotations"] += written["annotations"]
    for number, annotation in enumerate(content["annotations"], start=1):
        annotation["id"] = number
    path = root / "instances.json"
    path.write_text(json.dumps(content))
    return str(path), str(root)


def coco_args(coco, val=True):
    """The dataset flags of `lzu train` for the `coco` fixture."""
    args = ["--train", coco.train, "--train-images", coco.train_images]
    if val:
        args += ["--val", coco.val, "--val-images", coco.val_images]
    return args


def run_cli(argv):
    """Runs `lzu ARGV` in this process; returns `(code, stdout, stderr)`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def read_json(path):
    with open(path) as f:
        return json.load(f)
