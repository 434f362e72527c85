"""Bad input to `lzu train` gets an error naming the file and the field,
before any model is built (the output size: before any training)."""

import json
import os
import shutil

import pytest

from keras_lzu.training import models
from keras_lzu.training import trainer
from training_helpers import OUTPUT_SIZE
from training_helpers import read_json
from training_helpers import run_cli

pytestmark = pytest.mark.tensorflow_only


@pytest.fixture
def dataset(coco, tmp_path):
    """A copy of the training set to break: `(content, save)`; `save()`
    writes the content back and returns the annotation file's path."""
    images = str(tmp_path / "images")
    shutil.copytree(coco.train_images, images)
    content = read_json(coco.train)
    path = str(tmp_path / "broken.json")

    def save():
        with open(path, "w") as f:
            json.dump(content, f)
        return path

    return content, save, images


@pytest.fixture
def nothing_is_built(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a model was built despite the bad input")

    monkeypatch.setattr(models, "build_base_model", fail)


def train(annotations, images, out, *extra, task="detection"):
    if "--preset" not in extra:
        extra += ("--backbone", "tiny")
    return run_cli([
        "train", "--task", task, "--train", annotations, "--train-images",
        images, "--output-size", *map(str, OUTPUT_SIZE), "--steps", "1",
        "--out", out, *extra,
    ])


def assert_error(result, out, *fragments):
    code, _, stderr = result
    assert code == 2, stderr
    for fragment in fragments:
        assert fragment in stderr, (fragment, stderr)
    assert not os.path.exists(os.path.join(out, "model.keras"))


def first_annotation_of_image(content, index):
    image_id = content["images"][index]["id"]
    return next(k for k, a in enumerate(content["annotations"])
                if a["image_id"] == image_id)


def test_missing_annotation_file(dataset, out_dir, nothing_is_built):
    missing = os.path.join(os.path.dirname(dataset[2]), "missing.json")
    assert_error(train(missing, dataset[2], out_dir), out_dir,
                 "does not exist", missing, "--train")


def test_malformed_json(dataset, out_dir, nothing_is_built):
    path = dataset[1]()
    with open(path, "w") as f:
        f.write('{"images": [}')
    assert_error(train(path, dataset[2], out_dir), out_dir,
                 "not valid JSON", path, "line 1")


@pytest.mark.parametrize(
    "field, value, fragments",
    [
        ("image_id", 999, ["annotations[3].image_id 999", "unknown image_id"]),
        ("category_id", 7, ["annotations[3].category_id 7", "categories"]),
        ("bbox", [10.0, 5.0, 0.0, 4.0],
         ["annotations[3].bbox [10.0, 5.0, 0.0, 4.0] has no area"]),
        ("bbox", [90.0, 5.0, 20.0, 4.0],
         ["annotations[3].bbox [90.0, 5.0, 20.0, 4.0]", "outside its image"]),
        ("bbox", [1, 2, 3], ["annotations[3].bbox must be [x, y, width, "
                             "height]"]),
    ],
)
def test_bad_annotation_field(dataset, out_dir, nothing_is_built, field,
                              value, fragments):
    content, save, images = dataset
    content["annotations"][3][field] = value
    path = save()
    assert_error(train(path, images, out_dir), out_dir, path, *fragments)


def test_unreadable_image(dataset, out_dir, nothing_is_built):
    content, save, images = dataset
    with open(os.path.join(images, content["images"][1]["file_name"]),
              "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not an image")
    path = save()
    assert_error(train(path, images, out_dir), out_dir, path,
                 "images[1].file_name", "not a readable image")


def test_image_of_another_size_than_the_file_says(dataset, out_dir,
                                                  nothing_is_built):
    content, save, images = dataset
    content["images"][0]["width"] = 100
    path = save()
    assert_error(train(path, images, out_dir), out_dir, path,
                 "images[0].file_name", "is 96x64 pixels", "says 100x64")


def test_missing_image_file(dataset, out_dir, nothing_is_built):
    content, save, images = dataset
    os.remove(os.path.join(images, content["images"][2]["file_name"]))
    path = save()
    assert_error(train(path, images, out_dir), out_dir, path,
                 "images[2].file_name", "does not exist")


def test_segmentation_needs_segmentations(dataset, out_dir,
                                          nothing_is_built):
    content, save, images = dataset
    index = first_annotation_of_image(content, 1)
    del content["annotations"][index]["segmentation"]
    path = save()
    assert_error(train(path, images, out_dir, task="segmentation"), out_dir,
                 path, f"annotations[{index}] has no 'segmentation'")


def test_validation_set_with_other_categories(dataset, coco, out_dir,
                                              nothing_is_built):
    content, save, images = dataset
    content["categories"].append({"id": 9, "name": "bus"})
    path = save()
    assert_error(
        train(coco.train, coco.train_images, out_dir, "--val", path,
              "--val-images", images),
        out_dir, path, "categories has ids [1, 2, 9]",
    )


def test_output_size_names_the_nearest_valid_sizes(coco, out_dir,
                                                   monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("training started despite the bad output size")

    monkeypatch.setattr(trainer, "_fit", fail)
    result = run_cli([
        "train", "--task", "detection", "--train", coco.train,
        "--train-images", coco.train_images, "--output-size", "100", "150",
        "--backbone", "tiny", "--steps", "1", "--out", out_dir,
        # The plan refuses a budget above the small canvas first; the
        # fixed prior reaches the stride check.
        "--plan", "none",
    ])
    assert_error(result, out_dir, "`output_size` (100, 150)",
                 "multiples of its largest feature stride, 32",
                 "height 96 or 128, width 128 or 160",
                 "the nearest is 96 160")


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--preset", "some_preset", "--library", "keras_cv"],
         ["`preset`", "library='keras_hub'"]),
        (["--preset", "some_preset", "--backbone", "tiny"],
         ["`preset`", "`backbone`", "not both"]),
        (["--val", "val.json"], ["`val_annotations` and `val_images`"]),
        (["--batch-size", "0"], ["`batch_size` must be a positive integer"]),
    ],
)
def test_bad_settings(coco, out_dir, nothing_is_built, extra, fragments):
    assert_error(train(coco.train, coco.train_images, out_dir, *extra),
                 out_dir, *fragments)


def test_multi_worker_needs_tf_config(coco, out_dir, nothing_is_built,
                                      monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert_error(
        train(coco.train, coco.train_images, out_dir, "--distribute",
              "multi-worker"),
        out_dir, "TF_CONFIG", "not set",
    )
