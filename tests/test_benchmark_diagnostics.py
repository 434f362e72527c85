"""The diagnostics benchmark's region split and region AP
(`benchmarks/diagnostics.py`), against closed forms; the training runs are
the benchmark itself."""

import numpy as np
import pytest

pytest.importorskip("keras_cv")
pytest.importorskip("pycocotools")

from benchmarks import diagnostics  # noqa: E402

pytestmark = pytest.mark.tensorflow_only

CANVAS = (100, 200)


def quarter_grid():
    """The left quarter of the canvas fills the left half of the zoomed
    image (2x in x); the rest is shrunk to 2/3; y is not warped."""
    xs, ys = np.meshgrid([0.0, 0.25, 1.0], [0.0, 1.0])
    return np.stack([xs, ys], axis=-1)[None].astype("float32")


def test_local_magnification_is_the_warps_scale_against_uniform():
    grid = quarter_grid()
    magnification = diagnostics.local_magnification(
        [[20.0, 50.0], [150.0, 30.0]], grid, CANVAS)
    np.testing.assert_allclose(magnification, [np.sqrt(2.0),
                                               np.sqrt(2.0 / 3.0)],
                               rtol=1e-4)
    identity = np.stack(np.meshgrid([0.0, 0.5, 1.0], [0.0, 1.0]), -1)
    np.testing.assert_allclose(
        diagnostics.local_magnification([[20.0, 50.0]], identity[None],
                                        CANVAS), [1.0], rtol=1e-4)


def test_region_ap_ignores_the_other_regions_boxes_as_coco_area_ranges_do():
    magnified = np.array([10.0, 40.0, 30.0, 60.0])   # centre x 20
    compressed = np.array([140.0, 40.0, 160.0, 60.0])  # centre x 150
    split = {"images": np.zeros((1, *CANVAS, 3), "uint8"),
             "boxes": [np.stack([magnified, compressed])],
             "classes": [np.array([0, 0])]}
    # Ranked: a hit on the magnified box, a false positive in the
    # compressed region, a hit on the compressed box.
    false_positive = np.array([100.0, 10.0, 120.0, 30.0])
    detections = [{"boxes": np.stack([magnified, false_positive, compressed]),
                   "scores": np.array([0.9, 0.8, 0.7]),
                   "classes": np.array([0, 0, 0])}]
    metrics = diagnostics.region_metrics(split, detections, 1, quarter_grid())
    # Magnified: its box found first; the compressed region's detections
    # are ignored (unmatched, or matching an ignored box). Compressed: the
    # hit on the magnified box is ignored (it matches an ignored box, not
    # a false positive), then a false positive and the hit: precision 1/2
    # at full recall.
    assert metrics["magnified"]["AP"] == pytest.approx(1.0)
    assert metrics["compressed"]["AP"] == pytest.approx(0.5)
    assert metrics["magnified"]["count"] == 1
    assert metrics["compressed"]["count"] == 1
