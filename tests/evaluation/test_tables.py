"""`metrics_table`: metrics of several models side by side in markdown."""

from keras_lzu.evaluation import metrics_table


def test_rows_in_order_scores_with_3_decimals_times_with_1():
    table = metrics_table(
        {"uniform": {"AP": 0.25, "AP50": 0.5, "ms/image": 12.345},
         "LZU": {"AP": 0.3125, "AP50": 1.0, "ms/image": 9.96}},
        columns=("AP", "AP50", "ms/image"))
    assert table.splitlines() == [
        "| model | AP | AP50 | ms/image |",
        "|---|---|---|---|",
        "| uniform | 0.250 | 0.500 | 12.3 |",
        "| LZU | 0.312 | 1.000 | 10.0 |",
    ]


def test_undefined_metric_is_n_a_and_a_missing_one_is_empty():
    table = metrics_table({"m": {"AP": 0.5, "AP_small": None}},
                          columns=("AP", "AP_small", "AR100"))
    assert table.splitlines()[-1] == "| m | 0.500 | n/a |  |"
