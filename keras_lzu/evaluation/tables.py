"""Metrics of several models side by side, as a markdown table."""


def metrics_table(rows, columns=("AP", "AP50", "AP_small", "ms/image")):
    """A markdown table with one row per model and one column per metric.

    Scores are written with 3 decimals, times (columns whose name ends in
    `"ms/image"`) with 1; a metric that is `None` (e.g. `AP_small` on data
    without small objects) is `n/a`, a missing one is left empty.

    Args:
        rows: dict `{model name: {metric name: value}}`, in row order.
        columns: the metric names to show, in column order.

    Returns:
        The table as a string, without a trailing newline.

    Example:

    >>> print(metrics_table({"uniform": {"AP": 0.1234, "ms/image": 12.345},
    ...                      "LZU": {"AP": 0.2, "ms/image": 15.0}},
    ...                     columns=("AP", "ms/image")))
    | model | AP | ms/image |
    |---|---|---|
    | uniform | 0.123 | 12.3 |
    | LZU | 0.200 | 15.0 |
    """
    lines = ["| model | " + " | ".join(columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for name, values in rows.items():
        cells = [_cell(values.get(column, ""), column) for column in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value, column):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}" if column.endswith("ms/image") else f"{value:.3f}"
    return str(value)
