"""Every script in examples/ runs with the small arguments it declares.

An example declares them in a module-level `SMOKE_TEST_ARGS` list, `{out}`
standing for an empty output folder; a script without one fails here, so a
new example cannot go untested. Each runs in this process (`runpy`, as
`python examples/NAME.py ARGS` runs it, without the seconds of starting
another interpreter and TensorFlow). Then every file it wrote must be
readable, and `OUTPUT_CHECKS` holds checks of what an example computed
(given the files as read), against independent references where there
are any.
"""

import ast
import contextlib
import io
import json
import os
import runpy
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_lzu
import reference
from keras_lzu import visualize
from keras_lzu.data import SyntheticDrivingScenes
from keras_lzu.data import SyntheticDrivingVideos
from keras_lzu.data import coco_semantic_mask

pytestmark = pytest.mark.tensorflow_only

EXAMPLES_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"
)
EXAMPLES = sorted(
    name for name in os.listdir(EXAMPLES_DIR) if name.endswith(".py")
)


def _source(name):
    with open(os.path.join(EXAMPLES_DIR, name)) as file:
        return ast.parse(file.read())


def smoke_test_args(name):
    """The example's `SMOKE_TEST_ARGS` list, read without running it."""
    for node in _source(name).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "SMOKE_TEST_ARGS"
            for target in node.targets
        ):
            return ast.literal_eval(node.value)
    return None


def run_example(name, argv):
    """Runs `examples/name` as `__main__` with `argv`; returns its stdout."""
    path = os.path.join(EXAMPLES_DIR, name)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    sys.path.insert(0, EXAMPLES_DIR)
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (0, None), (
            f"{name} {' '.join(argv)} exited with {exit.code}:\n"
            f"{stdout.getvalue()}"
        )
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return stdout.getvalue()


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_has_a_docstring_and_help(name):
    assert ast.get_docstring(_source(name)), f"{name} has no docstring"
    assert run_example(name, ["--help"]).startswith("usage:")


def test_examples_readme_lists_every_example():
    with open(os.path.join(EXAMPLES_DIR, "README.md")) as file:
        readme = file.read()
    assert [name for name in EXAMPLES if name not in readme] == []


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_with_its_smoke_test_args(name, tmp_path):
    args = smoke_test_args(name)
    assert args, (
        f"{name} declares no SMOKE_TEST_ARGS: add a module-level list of "
        "arguments that run it in a few seconds ('{out}' for its output "
        "folder)."
    )
    out = str(tmp_path / "out")
    args = [arg.format(out=out) for arg in args]
    stdout = run_example(name, args)
    written = _written_files(out)
    assert written, f"{name} wrote nothing to {out}"
    contents = {os.path.relpath(path, out): _read(path) for path in written}
    check = OUTPUT_CHECKS.get(name)
    if check is not None:
        check(contents, args, stdout)


def _written_files(out):
    """Files under `out`; a SavedModel folder counts as one entry."""
    found = []
    for folder, subfolders, files in os.walk(out):
        if "saved_model.pb" in files:
            found.append(folder)
            subfolders.clear()
            continue
        found.extend(os.path.join(folder, name) for name in files)
    return sorted(found)


def _read(path):
    """The file's contents as its kind of reader gives them."""
    extension = os.path.splitext(path)[1]
    if os.path.isdir(path):
        loaded = tf.saved_model.load(path)
        assert "serving_default" in loaded.signatures
        return loaded
    if extension in (".png", ".jpg", ".jpeg"):
        with Image.open(path) as image:
            return np.asarray(image)
    if extension == ".npy":
        return np.load(path)
    if extension == ".npz":
        with np.load(path) as arrays:
            return dict(arrays)
    if extension == ".json":
        with open(path) as file:
            return json.load(file)
    if extension == ".keras":
        return keras_lzu.load_model(path)
    if extension in (".txt", ".md", ".csv", ".log"):
        with open(path) as file:
            return file.read()
    pytest.fail(f"No reader for {path}: add one to _read.")


def check_wrap_functional_model(contents, args, stdout):
    image, mask = contents["image.png"], contents["mask.npy"]
    model = contents["model.keras"]
    assert mask.shape == image.shape[:2]
    assert 0 <= mask.min() and mask.max() < model.outputs[0].shape[-1]
    # LZU is in the saved model: each named feature level is unzoomed.
    for layer in ("lzu_zoom", "lzu_unzoom_stride2", "lzu_unzoom_stride4"):
        model.get_layer(layer)
    predicted = model.infer(image[None].astype("float32"))["masks"]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(predicted)[0], mask
    )


def check_export_and_serve(contents, args, stdout):
    image, served = contents["image.png"], contents["served.npz"]
    height, width = (int(v) for v in args[args.index("--image-size") + 1:][:2])
    assert image.shape == (height, width, 3)
    # The SavedModel, run here without the server, is the reference.
    serving_default = contents[os.path.join("export", "1")].signatures[
        "serving_default"]
    expected = serving_default(images=tf.constant(image[None]))
    for name, value in expected.items():
        for source in ("grpc", "rest", "encoded", "keras"):
            np.testing.assert_array_equal(
                served[f"{source}_{name}"], value.numpy()[0],
                err_msg=f"{source}_{name}",
            )


def check_visualize_your_image(contents, args, stdout):
    views = contents["lzu_views.npz"]
    image = visualize.read_image(visualize.SAMPLE_IMAGE)
    x1, y1, x2, y2 = (float(v) for v in args[args.index("--box") + 1:][:4])
    output_size = tuple(
        int(v) for v in args[args.index("--output-size") + 1:][:2]
    )
    saliency, grid = views["saliency"], views["grid"]
    gh, gw = saliency.shape
    row, column = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert x1 <= column / (gw - 1) <= x2 and y1 <= row / (gh - 1) <= y2
    np.testing.assert_allclose(
        grid, reference.separable_grid(saliency, (gh, gw), 13, True),
        atol=1e-4,
    )
    expected_zoom = reference.zoom(image[None], grid[None], output_size)[0]
    np.testing.assert_allclose(views["zoomed"], expected_zoom, atol=0.05)
    assert views["unzoomed"].shape == image.shape
    height, width = contents["lzu.png"].shape[:2]
    assert width > 3 * height  # three panels in a row


def _size_argument(args, flag):
    return tuple(int(v) for v in args[args.index(flag) + 1:][:2])


def check_train_on_coco(contents, args, stdout):
    train_count = int(args[args.index("--train-count") + 1])
    detection = contents[os.path.join("detection", "prior", "metrics.json")]
    assert detection["task"] == "detection"
    assert detection["train_images"] == train_count
    assert f"| prior | {detection['final']['AP']:.4f} |" in stdout
    model = contents[os.path.join("detection", "prior", "model.keras")]
    assert model.lzu_metadata["task"] == "detection"
    segmentation = contents[
        os.path.join("segmentation", "prior", "metrics.json")]
    assert segmentation["task"] == "segmentation"
    assert f"| prior | {segmentation['final']['mIoU']:.4f} |" in stdout
    # The RLE masks it wrote render to the generator's own masks.
    height, width = _size_argument(args, "--image-size")
    annotations = contents[os.path.join("data", "train", "instances.json")]
    num_classes = len(annotations["categories"])
    scenes = SyntheticDrivingScenes(image_size=(height, width),
                                    num_classes=num_classes, seed=0)
    class_of = {k + 1: k + 1 for k in range(num_classes)}
    for image in annotations["images"]:
        mask = coco_semantic_mask(
            [a for a in annotations["annotations"]
             if a["image_id"] == image["id"]],
            height, width, class_of)
        expected = scenes.sample(image["id"] - 1, "train")["mask"]
        np.testing.assert_array_equal(mask, expected)


def check_video_adaptive(contents, args, stdout):
    arrays = contents["video.npz"]
    height, width = _size_argument(args, "--image-size")
    frames = int(args[args.index("--frames") + 1])
    video = SyntheticDrivingVideos(image_size=(height, width),
                                   num_frames=frames, num_classes=3,
                                   seed=0).sequence(0, "validation")
    np.testing.assert_array_equal(arrays["frames"], video["frames"])
    threshold = float(arrays["score_threshold"])
    prior, boxes, scores = (arrays[k] for k in ("prior_boxes", "boxes",
                                                "scores"))
    # Frame 0 zooms with the fixed prior; frame t on the confident
    # detections of frame t - 1, the most confident first.
    assert (prior[0] == -1).all()
    for t in range(1, frames):
        valid = boxes[t - 1][:, 0] >= 0
        order = np.argsort(-scores[t - 1][valid], kind="stable")
        expected = boxes[t - 1][valid][order]
        expected = expected[scores[t - 1][valid][order] >= threshold][:32]
        fed = prior[t][prior[t][:, 0] >= 0]
        np.testing.assert_allclose(fed, expected, atol=1e-4)
        if len(fed) == 0:
            np.testing.assert_allclose(arrays["grids"][t],
                                       arrays["grids"][0], atol=1e-6)
    strip = contents["strip.png"]
    assert strip.shape[1] > 2 * strip.shape[0]


OUTPUT_CHECKS = {
    "train_on_coco.py": check_train_on_coco,
    "wrap_functional_model.py": check_wrap_functional_model,
    "export_and_serve.py": check_export_and_serve,
    "visualize_your_image.py": check_visualize_your_image,
    "video_adaptive.py": check_video_adaptive,
}
