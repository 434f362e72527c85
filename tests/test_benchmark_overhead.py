"""`benchmarks.overhead --families`: one table, a row per family, mode and
case, with ratios to the family's own unwrapped model."""

import pytest

from benchmarks import family_models
from benchmarks import overhead
from tests.models import keras_hub_builders

CASES = ("unwrapped", "uniform pipeline (resize + model)",
         "LZU fixed, h x w input", "LZU fixed")


def table_rows(text):
    """The table's rows as lists of cells (header and rule left out)."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in lines[1:]]


def test_family_section_times_every_case_against_the_unwrapped_model(
        monkeypatch):
    tiny = family_models.FamilyModel(
        "tiny_segmenter", "tiny DeepLabV3", keras_hub_builders.deeplab,
        (64, 96), "segmentation",
    )
    monkeypatch.setattr(family_models, "FAMILIES", (tiny,))

    text = overhead.family_section(
        ["tiny_segmenter"], batch=1, repeats=1, modes=("graph",),
        cpu_time=False,
    )

    assert text.startswith("## LZU overhead per model family")
    rows = table_rows(text)
    assert [tuple(row[:3]) for row in rows] == [
        ("tiny DeepLabV3, 64x96 (canvas 128x192)", "graph", case)
        for case in CASES
    ]
    best = [float(row[3]) for row in rows]
    assert all(ms > 0 for ms in best)
    assert all(float(row[4]) >= float(row[3]) for row in rows)
    for row, ms in zip(rows, best):
        # Printed to 0.1 ms and 0.01: the ratios agree within rounding.
        rounding = 0.005 + 0.05 * (1 + ms / best[0]) / best[0]
        assert float(row[5]) == pytest.approx(ms / best[0], abs=rounding)


def test_unknown_family_is_refused_by_name():
    with pytest.raises(ValueError, match="`name` must be one of"):
        family_models.family_model("yolov9")
    with pytest.raises(SystemExit):
        overhead.main(["--families", "yolov9"])
