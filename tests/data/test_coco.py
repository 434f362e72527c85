import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_lzu.data import SyntheticDrivingScenes
from keras_lzu.data import load_coco_dataset
from keras_lzu.data import read_coco_annotations

HEIGHT, WIDTH = 96, 160
COUNT = 5


@pytest.fixture(scope="module")
def scenes():
    return SyntheticDrivingScenes(image_size=(HEIGHT, WIDTH), seed=11)


@pytest.fixture(scope="module")
def written(scenes, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("coco"))
    path = scenes.write_coco(directory, COUNT, split="validation")
    return path, os.path.join(directory, "images")


@pytest.fixture(scope="module")
def expected(scenes):
    return [scenes.sample(i, "validation") for i in range(COUNT)]


def write_json(path, content):
    with open(path, "w") as f:
        json.dump(content, f)
    return str(path)


def write_image(path, height, width, value=0):
    image = np.full((height, width, 3), value, "uint8")
    tf.io.write_file(str(path), tf.io.encode_png(image))


def unpadded(labels, i):
    classes = labels["classes"][i].numpy()
    keep = classes != -1
    return labels["boxes"][i].numpy()[keep], classes[keep]


def test_pycocotools_reads_the_written_annotations(written, expected):
    coco_api = pytest.importorskip("pycocotools.coco")
    coco = coco_api.COCO(written[0])
    assert sorted(coco.getImgIds()) == list(range(1, COUNT + 1))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [
        "car",
        "pedestrian",
        "traffic_sign",
        "truck",
    ]
    for i, sample in enumerate(expected):
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[i + 1]))
        bboxes = np.array([a["bbox"] for a in annotations]).reshape(-1, 4)
        x1, y1, x2, y2 = sample["boxes"].T
        np.testing.assert_allclose(
            bboxes, np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
        )
        assert [a["category_id"] for a in annotations] == (
            sample["classes"] + 1
        ).tolist()


def test_round_trip_gives_the_generator_images_boxes_and_classes(
    written, expected
):
    dataset = load_coco_dataset(*written, batch_size=COUNT, shuffle=False)
    images, labels = next(iter(dataset))
    assert images.dtype == "float32" and images.shape == (
        COUNT,
        HEIGHT,
        WIDTH,
        3,
    )
    max_boxes = max(len(s["boxes"]) for s in expected)
    assert labels["boxes"].shape == (COUNT, max_boxes, 4)
    assert labels["classes"].shape == (COUNT, max_boxes)
    for i, sample in enumerate(expected):
        np.testing.assert_array_equal(
            images[i], sample["image"].astype("float32")
        )
        boxes, classes = unpadded(labels, i)
        np.testing.assert_allclose(boxes, sample["boxes"], atol=1e-4)
        np.testing.assert_array_equal(classes, sample["classes"])
        np.testing.assert_array_equal(labels["boxes"][i, len(boxes) :], -1.0)


def test_padding_matches_keras_cv_to_dense(written):
    keras_cv = pytest.importorskip("keras_cv")
    dense = next(
        iter(load_coco_dataset(*written, batch_size=COUNT, shuffle=False))
    )[1]
    ragged = next(
        iter(
            load_coco_dataset(
                *written, batch_size=COUNT, shuffle=False, ragged=True
            )
        )
    )[1]
    assert isinstance(ragged["boxes"], tf.RaggedTensor)
    reference = keras_cv.bounding_box.to_dense(
        ragged, max_boxes=dense["boxes"].shape[1]
    )
    np.testing.assert_array_equal(dense["boxes"], reference["boxes"])
    np.testing.assert_array_equal(dense["classes"], reference["classes"])


@pytest.mark.parametrize(
    "box_format",
    ["xywh", "rel_xyxy", "center_xywh", "yxyx", "rel_yxyx", "center_yxhw"],
)
def test_box_formats_match_keras_cv_convert_format(
    written, expected, box_format
):
    keras_cv = pytest.importorskip("keras_cv")
    dataset = load_coco_dataset(
        *written, batch_size=1, shuffle=False, bounding_box_format=box_format
    )
    boxes, _ = unpadded(next(iter(dataset))[1], 0)
    reference = keras_cv.bounding_box.convert_format(
        expected[0]["boxes"],
        source="xyxy",
        target=box_format,
        image_shape=(HEIGHT, WIDTH, 3),
    )
    np.testing.assert_allclose(boxes, reference, rtol=1e-5, atol=1e-4)


def test_same_seed_gives_identical_batches_and_other_seeds_differ(written):
    def order(seed):
        dataset = load_coco_dataset(*written, batch_size=2, seed=seed)
        return np.concatenate([images[:, 0, 0, 0] for images, _ in dataset])

    first = order(seed=3)
    assert np.array_equal(first, order(seed=3))
    assert any(not np.array_equal(first, order(seed=s)) for s in (4, 5, 6))


def test_shuffle_keeps_images_and_labels_together(written, expected):
    dataset = load_coco_dataset(*written, batch_size=COUNT, seed=1)
    images, labels = next(iter(dataset))
    for i in range(COUNT):
        source = next(
            s
            for s in expected
            if np.array_equal(s["image"], images[i].numpy().astype("uint8"))
        )
        boxes, _ = unpadded(labels, i)
        np.testing.assert_allclose(boxes, source["boxes"], atol=1e-4)


def test_resize_scales_boxes(written, expected):
    dataset = load_coco_dataset(
        *written,
        batch_size=1,
        shuffle=False,
        image_size=(2 * HEIGHT, WIDTH // 2)
    )
    images, labels = next(iter(dataset))
    assert images.shape == (1, 2 * HEIGHT, WIDTH // 2, 3)
    boxes, _ = unpadded(labels, 0)
    np.testing.assert_allclose(
        boxes, expected[0]["boxes"] * np.array([0.5, 2, 0.5, 2]), atol=1e-4
    )


def test_category_ids_map_to_sorted_contiguous_classes(tmp_path):
    write_image(tmp_path / "a.png", 20, 30)
    content = {
        "images": [{"id": 4, "file_name": "a.png", "height": 20, "width": 30}],
        "categories": [
            {"id": 90, "name": "c"},
            {"id": 3, "name": "a"},
            {"id": 7, "name": "b"},
        ],
        "annotations": [
            {"id": 1, "image_id": 4, "category_id": 7, "bbox": [1, 2, 3, 4]},
            {"id": 2, "image_id": 4, "category_id": 90, "bbox": [5, 6, 7, 8]},
            {"id": 3, "image_id": 4, "category_id": 3, "bbox": [0, 0, 9, 9]},
            {
                "id": 4,
                "image_id": 4,
                "category_id": 3,
                "bbox": [0, 0, 5, 5],
                "iscrowd": 1,
            },
            {"id": 5, "image_id": 4, "category_id": 3, "bbox": [0, 0, 0, 5]},
        ],
    }
    path = write_json(tmp_path / "instances.json", content)
    records = read_coco_annotations(path)
    assert records["category_ids"] == [3, 7, 90]
    assert records["category_names"] == ["a", "b", "c"]
    _, labels = next(
        iter(load_coco_dataset(path, str(tmp_path), shuffle=False))
    )
    np.testing.assert_array_equal(labels["classes"][0], [1, 2, 0])
    np.testing.assert_array_equal(
        labels["boxes"][0], [[1, 2, 4, 6], [5, 6, 12, 14], [0, 0, 9, 9]]
    )


def test_images_without_annotations_are_all_padding(tmp_path):
    write_image(tmp_path / "a.png", 8, 8)
    content = {
        "images": [{"id": 1, "file_name": "a.png", "height": 8, "width": 8}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [],
    }
    path = write_json(tmp_path / "instances.json", content)
    _, labels = next(iter(load_coco_dataset(path, str(tmp_path), max_boxes=3)))
    np.testing.assert_array_equal(labels["boxes"], -np.ones((1, 3, 4)))
    np.testing.assert_array_equal(labels["classes"], -np.ones((1, 3)))


def test_different_image_sizes_need_image_size(tmp_path):
    write_image(tmp_path / "a.png", 8, 8, value=10)
    write_image(tmp_path / "b.png", 8, 12, value=20)
    content = {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 8, "width": 8},
            {"id": 2, "file_name": "b.png", "height": 8, "width": 12},
        ],
        "categories": [{"id": 1}],
        "annotations": [
            {"id": 1, "image_id": 2, "category_id": 1, "bbox": [6, 2, 6, 4]}
        ],
    }
    path = write_json(tmp_path / "instances.json", content)
    with pytest.raises(ValueError, match="image_size"):
        load_coco_dataset(path, str(tmp_path))
    dataset = load_coco_dataset(
        path, str(tmp_path), image_size=(4, 6), shuffle=False, batch_size=2
    )
    images, labels = next(iter(dataset))
    assert images.shape == (2, 4, 6, 3)
    np.testing.assert_allclose(labels["boxes"][1, 0], [3, 1, 6, 3])


def test_missing_files_raise(tmp_path, written):
    with pytest.raises(FileNotFoundError, match="annotation_file"):
        load_coco_dataset(str(tmp_path / "none.json"), written[1])
    with pytest.raises(FileNotFoundError, match="image_dir"):
        load_coco_dataset(written[0], str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match="validation_000000.png"):
        load_coco_dataset(written[0], str(tmp_path))


@pytest.mark.parametrize(
    "content, message",
    [
        ([], "top level"),
        ({"images": [], "annotations": []}, "categories"),
        (
            {"images": [{"id": 1}], "annotations": [], "categories": []},
            "file_name",
        ),
        (
            {
                "images": [],
                "categories": [{"id": 1}],
                "annotations": [
                    {"image_id": 1, "category_id": 1, "bbox": [1, 2]}
                ],
            },
            "bbox",
        ),
        (
            {
                "images": [],
                "categories": [{"id": 1}],
                "annotations": [
                    {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}
                ],
            },
            "unknown image_id",
        ),
    ],
)
def test_bad_json_structure_raises(tmp_path, content, message):
    path = write_json(tmp_path / "instances.json", content)
    with pytest.raises(ValueError, match=message):
        read_coco_annotations(path)


def test_invalid_json_and_arguments_raise(tmp_path, written):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_coco_annotations(str(path))
    with pytest.raises(ValueError, match="bounding_box_format"):
        load_coco_dataset(*written, bounding_box_format="xyzw")
    with pytest.raises(ValueError, match="batch_size"):
        load_coco_dataset(*written, batch_size=0)
    with pytest.raises(ValueError, match="image_size"):
        load_coco_dataset(*written, image_size=(10,))
