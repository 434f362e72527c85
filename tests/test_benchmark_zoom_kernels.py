"""`benchmarks.zoom_kernels`: the exact formulations it times compute the
same resampling (the sparse interpolation matrices and the direct gathers
are independent of `keras_lzu.ops.sample_separable`)."""

import numpy as np
import pytest

from benchmarks import zoom_kernels

pytestmark = pytest.mark.tensorflow_only


def test_exact_formulations_agree_and_every_row_has_a_ratio():
    rows = zoom_kernels.run([(40, 72)], repeats=1)
    names = [name for _, name, *_ in rows]
    assert names[0] == "keras_lzu sample_separable"
    assert names[-1] == "tf.image.resize (bilinear)"
    diffs = {name: diff for _, name, _, _, _, diff in rows}
    for name in ("direct column gather", "sparse matmul",
                 "keras_lzu sample_separable, XLA"):
        assert diffs[name] < 1e-5, name
    assert all(np.isfinite(ratio) and ratio > 0 for *_, ratio, _ in rows)
    text = zoom_kernels.format_table(rows, 1)
    assert text.count("| 40x72 |") == len(rows)
