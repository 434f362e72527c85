"""`coco_semantic_mask` against masks drawn by hand."""

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from keras_lzu.data import coco_semantic_mask  # noqa: E402

# A 4x5 image: class 1 on the 2x3 block of rows 1-2, columns 1-3.
BLOCK = np.array([[0, 0, 0, 0, 0],
                  [0, 1, 1, 1, 0],
                  [0, 1, 1, 1, 0],
                  [0, 0, 0, 0, 0]])


def test_polygon_fills_the_pixels_inside():
    polygon = [[1, 1, 4, 1, 4, 3, 1, 3]]
    mask = coco_semantic_mask(
        [{"category_id": 7, "segmentation": polygon}], 4, 5, {7: 1})
    np.testing.assert_array_equal(mask, BLOCK)
    assert mask.dtype == np.int32


def test_uncompressed_rle_is_column_major_runs():
    # Column by column (Fortran order): column 0 is 4 zeros; columns 1-3
    # are 0, 1, 1, 0; column 4 zeros.
    counts = [5, 2, 2, 2, 2, 2, 5]
    annotation = {"category_id": 3, "iscrowd": 1,
                  "segmentation": {"size": [4, 5], "counts": counts}}
    np.testing.assert_array_equal(
        coco_semantic_mask([annotation], 4, 5, {3: 1}), BLOCK)


def test_compressed_rle_string():
    from pycocotools import mask as mask_api

    rle = mask_api.encode(np.asfortranarray(BLOCK.astype("uint8")))
    rle["counts"] = rle["counts"].decode("ascii")
    mask = coco_semantic_mask(
        [{"category_id": 2, "segmentation": rle}], 4, 5, {2: 4},
        background=9)
    np.testing.assert_array_equal(mask, np.where(BLOCK == 1, 4, 9))


def test_later_annotations_overwrite_earlier_and_crowd_value():
    first = {"category_id": 1, "segmentation": [[0, 0, 3, 0, 3, 4, 0, 4]]}
    second = {"category_id": 2, "segmentation": [[2, 0, 5, 0, 5, 4, 2, 4]]}
    mask = coco_semantic_mask([first, second], 4, 5, {1: 1, 2: 2})
    np.testing.assert_array_equal(mask, [[1, 1, 2, 2, 2]] * 4)
    crowd = dict(second, iscrowd=1)
    mask = coco_semantic_mask([first, crowd], 4, 5, {1: 1, 2: 2},
                              crowd_value=255)
    np.testing.assert_array_equal(mask, [[1, 1, 255, 255, 255]] * 4)


@pytest.mark.parametrize("annotation, message", [
    ({"id": 5, "category_id": 1}, "Annotation 5 has no 'segmentation'"),
    ({"id": 6, "category_id": 9, "segmentation": [[0, 0, 1, 0, 1, 1]]},
     "'category_id' 9"),
    ({"id": 7, "category_id": 1, "segmentation": [[0, 0, 1, 0]]},
     "three"),
    ({"id": 8, "category_id": 1,
      "segmentation": {"size": [3, 5], "counts": [15]}}, r"\[3, 5\]"),
])
def test_bad_annotations_are_named(annotation, message):
    with pytest.raises(ValueError, match=message):
        coco_semantic_mask([annotation], 4, 5, {1: 1})
