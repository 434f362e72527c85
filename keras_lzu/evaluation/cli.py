"""`lzu evaluate`: COCO box AP or mIoU of a saved model on a COCO dataset.

    lzu evaluate --model lzu.keras --annotations val/instances.json \\
        --images val/images [--json metrics.json] [--batch-size 4]
"""

import argparse
import json
import os
import sys

from keras_lzu.files import write_atomically


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="lzu evaluate",
        description="Score a detector (COCO box AP, pycocotools) or a "
                    "segmenter (mIoU against the COCO masks) on a COCO "
                    "dataset.")
    parser.add_argument("--model", required=True,
                        help="a .keras file (keras_lzu.load_model) or an "
                             "exported SavedModel directory")
    parser.add_argument("--annotations", required=True,
                        help="COCO instances JSON file")
    parser.add_argument("--images", required=True,
                        help="directory the images' file_names are in")
    parser.add_argument("--json", help="also write the metrics to this file")
    parser.add_argument("--batch-size", type=int, default=4,
                        help="images per model call (default 4)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be positive, not {args.batch_size}")
    return args


def metrics_table(report):
    """A markdown table of an `evaluate_on_coco` report."""
    metrics = report["metrics"]
    per_class_label = "AP" if report["task"] == "detection" else "IoU"
    rows = [(name, value) for name, value in metrics.items()
            if name != "per_class"]
    rows += [(f"{per_class_label} {name}", value)
             for name, value in metrics["per_class"].items()]
    lines = ["| metric | value |", "|---|---:|"]
    lines += [f"| {name} | {'n/a' if value is None else f'{value:.4f}'} |"
              for name, value in rows]
    return "\n".join(lines)


def write_json_atomically(path, content):
    """Writes `content` as JSON to `path` through a temporary file, so that
    `path` is either the old file or the complete new one."""

    def write(f):
        json.dump(content, f, indent=2)
        f.write("\n")

    write_atomically(path, write)


def evaluate_main(argv=None):
    """`lzu evaluate --model PATH --annotations FILE --images DIR`."""
    args = parse_args(argv)
    from keras_lzu.evaluation.coco_model import evaluate_on_coco

    if args.json and not os.path.isdir(
            os.path.dirname(os.path.abspath(args.json))):
        print(f"lzu evaluate: the directory of `--json` {args.json!r} does "
              "not exist", file=sys.stderr)
        return 2
    try:
        report = evaluate_on_coco(args.model, args.annotations, args.images,
                                  args.batch_size)
    except (FileNotFoundError, ValueError) as error:
        print(f"lzu evaluate: {error}", file=sys.stderr)
        return 2
    report = {"model": args.model, "annotations": args.annotations,
              "images": args.images, **report}
    print(f"{report['task']}, {report['num_images']} images, "
          f"{args.model}\n\n{metrics_table(report)}")
    if args.json:
        write_json_atomically(args.json, report)
        print(f"\nMetrics: {os.path.abspath(args.json)}")
    return 0
