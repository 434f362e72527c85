"""Where LZU gains and loses: AP by object size and by warp region, and the
unzoom's share of the loss.

For one uniform / LZU pair of the harness's compact RetinaNet, trained in
the same run with the same seed, data and steps
(`harness.train_and_score`; LZU's warp the default KDE prior or
`keras_lzu.plan_warp`'s, `--warp`), on the validation split in the canvas
frame:

* COCO AP, AP50 and AP by object size (pycocotools' area ranges of the
  canvas boxes: small < 32^2 <= medium < 96^2 <= large);
* AP and AP50 by *region*: every ground-truth box and every detection is
  *magnified* or *compressed* by the LZU warp, by the warp's local linear
  scale against a uniform resize to the same input size at the box's
  centre (`local_magnification`: `keras_lzu.ops.warp_boxes` of a 2-pixel
  box there, `sqrt` of the ratio of its zoomed to its original area, both
  normalized). A region is evaluated the way pycocotools evaluates an area
  range (`region_metrics`): the other region's ground truth is ignored
  (a detection that matches it counts neither way), and the other
  region's detections that match nothing are ignored; a detection of
  either region that matches a box of the region counts. Both models are
  scored on the same regions, so their AP on a region compares like with
  like;
* the unzoom's share: the SAME trained LZU weights evaluated (a) as
  trained (point-sampled unzoom: one bilinear tap per output cell) and (b)
  with anti-aliased unzooms (each output cell averages the features over
  its footprint where the zoom magnified: `keras_lzu.set_antialias(model,
  "unzoom")`),
  without retraining. (c) Unzooming to a 2x larger layout is not run: the
  heads' convolutions and the anchors (10-160 px at strides 8-128 of the
  uniform layout) were trained on the 1x layout, so on a 2x layout every
  object would cover twice as many feature cells as in training and the
  anchors would be twice too small in the frame of the features; the
  result would measure that mismatch, not the unzoom.

Also reported: the mean linear magnification of the small and the large
ground-truth boxes (`box_magnification`: `sqrt` of the zoomed to the
uniformly resized box area).

    python -m benchmarks.diagnostics --layout band --scale 0.5 --seeds 0 1
"""

import argparse
import contextlib
import io
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import keras_lzu  # noqa: E402
from benchmarks import harness  # noqa: E402
from benchmarks.accuracy import layout_detectors  # noqa: E402

REGIONS = ("magnified", "compressed")
# Area offset that tags a box's region in `region_metrics`: larger than
# any canvas box area.
_REGION_AREA_OFFSET = 1e9
# COCO's size limits (pixels of area).
_SMALL, _MEDIUM = 32**2, 96**2
COLUMNS = ("AP", "AP50", "AP_small", "AP_medium", "AP_large",
           "AP magnified", "AP compressed", "AP50 magnified",
           "AP50 compressed")


def local_magnification(points, grid, canvas, half_size=1.0):
    """The warp's linear magnification against a uniform resize at points.

    Args:
        points: `(N, 2)` canvas pixel `(x, y)` positions.
        grid: `(1, gh, gw, 2)` warp grid.
        canvas: `(height, width)` of the canvas.
        half_size: half the side, in canvas pixels, of the box warped at
            each point.

    Returns:
        `(N,)` float: `sqrt(area of the zoomed box / area of the box)`,
        both normalized, so 1 is a uniform resize's scale, above 1 the
        warp magnifies and below 1 it compresses.
    """
    points = np.asarray(points, "float32").reshape(-1, 2)
    boxes = np.concatenate([points - half_size, points + half_size], axis=1)
    return box_magnification(boxes, grid, canvas)


def box_magnification(boxes, grid, canvas):
    """`sqrt(zoomed area / area)` of pixel xyxy boxes, both normalized.

    Boxes are clipped to the canvas first.
    """
    from keras import ops

    from keras_lzu.ops import warp_boxes

    height, width = canvas
    boxes = np.asarray(boxes, "float32").reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros((0,), "float32")
    scale = np.array([width, height, width, height], "float32")
    normalized = np.clip(boxes / scale, 0.0, 1.0)
    zoomed = ops.convert_to_numpy(warp_boxes(normalized[None], grid))[0]

    def area(b):
        return np.maximum(b[:, 2] - b[:, 0], 1e-9) * np.maximum(
            b[:, 3] - b[:, 1], 1e-9)

    return np.sqrt(area(zoomed) / area(normalized))


def centres(boxes):
    boxes = np.asarray(boxes, "float32").reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2,
                     (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def region_of(boxes, grid, canvas):
    """0 (magnified) or 1 (compressed) for each box, by the warp's local
    magnification at its centre."""
    magnification = local_magnification(centres(boxes), grid, canvas)
    return (magnification <= 1.0).astype("int64")


def region_metrics(split, detections, num_classes, grid):
    """AP, AP50 and AP_small of each warp region (pycocotools).

    pycocotools evaluates an area range by ignoring the ground truth
    outside it and the unmatched detections outside it. Here each box's
    `area` is tagged with its region (`area + region * offset`), and each
    region is evaluated as the area range of its tagged areas, so a region
    is evaluated exactly as COCO evaluates an object size: the other
    region's ground truth is ignored (detections matching it count neither
    way) and the other region's unmatched detections are ignored.

    Args:
        split: dict with `"images"` `(N, H, W, 3)`, `"boxes"` and
            `"classes"` (per image, canvas pixel xyxy and class ids).
        detections: per image, `{"boxes", "scores", "classes"}` in the
            canvas frame.
        num_classes: number of classes.
        grid: the LZU model's `(1, gh, gw, 2)` warp grid.

    Returns:
        `{region: {"AP", "AP50", "AP_small", "count"}}` (`None` for a metric
        of a region without ground truth).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    canvas = split["images"].shape[1:3]

    def tagged(box, region):
        x1, y1, x2, y2 = (float(v) for v in box)
        return ([x1, y1, x2 - x1, y2 - y1],
                (x2 - x1) * (y2 - y1) + region * _REGION_AREA_OFFSET)

    images, annotations, results = [], [], []
    counts = np.zeros(len(REGIONS), "int64")
    for i, (boxes, classes) in enumerate(zip(split["boxes"], split["classes"])):
        images.append({"id": i, "height": canvas[0], "width": canvas[1]})
        regions = region_of(boxes, grid, canvas)
        counts += np.bincount(regions, minlength=len(REGIONS))
        for box, label, region in zip(boxes, classes, regions):
            bbox, area = tagged(box, region)
            annotations.append({
                "id": len(annotations) + 1, "image_id": i,
                "category_id": int(label) + 1, "bbox": bbox, "area": area,
                "iscrowd": 0})
    for i, found in enumerate(detections):
        regions = region_of(found["boxes"], grid, canvas)
        for box, score, label, region in zip(
                found["boxes"], found["scores"], found["classes"], regions):
            if label < 0:
                continue
            bbox, area = tagged(box, region)
            results.append({
                "id": len(results) + 1, "image_id": i,
                "category_id": int(label) + 1, "bbox": bbox, "area": area,
                "score": float(score), "iscrowd": 0})
    categories = [{"id": k + 1, "name": str(k)} for k in range(num_classes)]
    ranges, labels = [], []
    for region, name in enumerate(REGIONS):
        low = region * _REGION_AREA_OFFSET
        ranges += [[low, low + _REGION_AREA_OFFSET - 1],
                   [low, low + _SMALL]]
        labels += [name, f"{name} small"]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations,
                         "categories": categories}
        truth.createIndex()
        predicted = COCO()
        predicted.dataset = {"images": images, "annotations": results,
                             "categories": categories}
        predicted.createIndex()
        evaluation = COCOeval(truth, predicted, "bbox")
        evaluation.params.areaRng = ranges
        evaluation.params.areaRngLbl = labels
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"]  # (T, R, K, A, M)

    def average(values):
        values = values[values > -1]
        return float(values.mean()) if values.size else None

    metrics = {}
    for region, name in enumerate(REGIONS):
        every, small = 2 * region, 2 * region + 1
        metrics[name] = {
            "AP": average(precision[:, :, :, every, -1]),
            "AP50": average(precision[0, :, :, every, -1]),
            "AP_small": average(precision[:, :, :, small, -1]),
            "count": int(counts[region]),
        }
    return metrics


def model_grid(model, images):
    """The (fixed) warp grid of a wrapped model, `(1, gh, gw, 2)`."""
    from keras import ops

    grid = model.saliency_layer(images[:1].astype("float32"))
    return ops.convert_to_numpy(grid)[:1]


def scores(val, detections, class_names, grid):
    """The row of `COLUMNS` of one model's detections."""
    overall = harness.coco_metrics(val, detections, class_names)
    regions = region_metrics(val, detections, len(class_names), grid)
    row = {key: overall[key] for key in COLUMNS[:5]}
    for name in REGIONS:
        row[f"AP {name}"] = regions[name]["AP"]
        row[f"AP50 {name}"] = regions[name]["AP50"]
    return row, regions


def diagnose(config, warp="default", log=print):
    """Trains the pair of `config` and scores uniform, LZU (a) and LZU (b).

    `warp` is the LZU model's: `"default"` (the KDE prior of the training
    boxes, `config.prior_floor`, separable) or `"planned"`
    (`keras_lzu.plan_warp`), as `accuracy.layout_detectors` builds them.

    Returns:
        dict with `"rows"` (`{model: {column: value}}`), `"counts"`
        (ground-truth boxes per region) and `"magnification"` (mean box
        magnification of the small and the large validation boxes).
    """
    scenes = harness.make_scenes(config)
    train = harness.load_split(scenes, "train", config.train_images)
    val = harness.load_split(scenes, "validation", config.val_images)
    size = config.zoomed_size
    names = ("uniform", f"LZU {warp}")
    detectors, _ = layout_detectors(config, train, size, names, log)
    models, _, trained, _ = harness.train_and_score(
        config, scenes, train, val, size, detectors, log, timing=False)
    lzu = models[names[1]]
    grid = model_grid(lzu, val["images"])
    keras_lzu.set_antialias(lzu, "unzoom")
    detections = {
        "uniform": trained["uniform"],
        "LZU (a) as trained": trained[names[1]],
        "LZU (b) anti-aliased unzoom": harness.predict_detections(
            lzu, val["images"])[0],
    }
    rows, counts = {}, None
    for name, found in detections.items():
        rows[name], regions = scores(val, found, scenes.class_names, grid)
        counts = {region: regions[region]["count"] for region in REGIONS}
    boxes = np.concatenate(val["boxes"])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    magnification = box_magnification(boxes, grid, config.canvas)
    return {
        "rows": rows,
        "counts": counts,
        "magnification": {
            "small": float(np.mean(magnification[areas < _SMALL])),
            "large": float(np.mean(magnification[areas >= _MEDIUM]))
            if np.any(areas >= _MEDIUM) else None,
        },
    }


def _cell(values):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ({', '.join(f'{v:.3f}' for v in values)})"


def format_table(results):
    """Markdown table: per model, each column's mean over the seeds and
    the per-seed values."""
    names = list(results[0]["rows"])
    lines = ["| model | " + " | ".join(COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for name in names:
        cells = [_cell([r["rows"][name][c] for r in results])
                 for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    defaults = harness.ExperimentConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="band",
                        choices=("horizon", "band", "diagonal", "cluster"))
    parser.add_argument("--band-height", type=float, default=0.3)
    parser.add_argument("--size-mix", default="small",
                        choices=("small", "mixed"))
    parser.add_argument("--scale", type=float, default=0.5,
                        help="input scale, a fraction of the canvas side")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--canvas", type=int, nargs=2, default=[640, 1024],
                        metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--train-images", type=int,
                        default=defaults.train_images)
    parser.add_argument("--val-images", type=int, default=96)
    parser.add_argument("--warp", default="default",
                        choices=("default", "planned"),
                        help="LZU's warp: the KDE prior of the boxes "
                             "(--prior-floor) or keras_lzu.plan_warp's")
    parser.add_argument("--prior-floor", type=float,
                        default=harness.PRIOR_FLOOR)
    parser.add_argument("--markdown", help="append the section to this file")
    args = parser.parse_args(argv)

    from benchmarks import machine

    began = time.perf_counter()
    results = []
    for seed in args.seeds:
        config = harness.ExperimentConfig(
            canvas=tuple(args.canvas), budget=args.scale**2,
            steps=args.steps, train_images=args.train_images,
            val_images=args.val_images, seed=seed,
            min_confidence=0.01, prior_floor=args.prior_floor,
            layout=args.layout, band_height=args.band_height,
            size_mix=args.size_mix)
        results.append(diagnose(config, args.warp))
        print(f"[diagnostics] seed {seed}:\n" + format_table(results[-1:])
              + f"\nGT boxes per region: {results[-1]['counts']}, mean box "
              f"magnification: {results[-1]['magnification']}", flush=True)
    size = config.zoomed_size
    minutes = (time.perf_counter() - began) / 60
    magnification = ", ".join(
        f"seed {seed}: small {r['magnification']['small']:.2f}x, large "
        + (f"{r['magnification']['large']:.2f}x"
           if r["magnification"]["large"] is not None else "n/a")
        for seed, r in zip(args.seeds, results))
    counts = ", ".join(f"seed {seed}: {r['counts']}"
                       for seed, r in zip(args.seeds, results))
    text = (
        f"## Diagnostics: where LZU gains and loses ({args.layout} layout, "
        f"{args.warp} warp)\n\n"
        f"Layout {args.layout!r}"
        + (f" (band at {args.band_height:g} of the height)"
           if args.layout == "band" else "")
        + f", size mix {args.size_mix}, canvas {args.canvas[0]}x"
        f"{args.canvas[1]}, input {args.scale:g}x ({size[0]}x{size[1]}), "
        f"{args.train_images} train / {args.val_images} validation images, "
        f"{args.steps} steps, seeds {' '.join(map(str, args.seeds))}, "
        + (f"prior floor {args.prior_floor:g}" if args.warp == "default"
           else "planned warp (keras_lzu.plan_warp)")
        + f"; {minutes:.0f} min. Cells: mean "
        "(per seed).\n\n"
        f"{machine.describe()}\n\n{format_table(results)}\n\n"
        f"Mean box magnification against a uniform resize: {magnification}."
        f"\n\nValidation boxes per region: {counts}.\n\n"
        "Command: `python -m benchmarks.diagnostics "
        + " ".join(sys.argv[1:] if argv is None else argv)
        + "`\n")
    machine.publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
