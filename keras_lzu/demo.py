"""`lzu demo` (`make demo`): LZU against uniform downsampling on the
library's own path, end to end, in a few minutes on 2 CPU cores.

1. Data: writes a synthetic driving-scene dataset in COCO format, train and
   validation (`keras_lzu.data.SyntheticDrivingScenes.write_coco`):
   high-resolution canvases with small objects packed near the horizon.
2. Training: trains two KerasHub RetinaNets with `keras_lzu.training.train`
   from one `TrainingConfig` that differs only in `saliency`: `"uniform"`
   (the canvas downsampled to the input size) and `"prior"` (LZU: zoomed
   through the fixed KDE prior of the training boxes, features unzoomed).
   Each run writes `model.keras` and `metrics.json`; the LZU run also
   exports a TF Serving SavedModel.
3. Evaluation: COCO AP, AP50 and AP_small on the validation set
   (`keras_lzu.evaluation.evaluate_on_coco`, pycocotools, each image in
   its own frame, which `train` does with a validation set), and the wall
   time of `infer` per image.
4. Serving: serves the LZU export with `LocalModelServer` on 127.0.0.1,
   queries it with `GrpcPredictionClient` and checks the answers against
   the model's in-process `infer`.
5. Report: figures (`keras_lzu.visualize`: the saliency and its warp grid,
   the zoomed image, both models' detections) and `report.md` in `--out`;
   prints the table and the `lzu train` / `lzu evaluate` command lines that
   redo the run, to rerun on your own data.

Every number comes from the run. The benchmarks' controlled comparisons
(seeds, every input scale, segmentation) are in `benchmarks/`.
"""

import argparse
import dataclasses
import os
import shlex
import time

import numpy as np

from keras_lzu.files import write_atomically
from keras_lzu.machine import describe_machine

DEFAULT_OUT = "demo_out"
# What the demo imports besides TensorFlow and Keras; the `demo` extra
# installs all of them.
DEMO_REQUIREMENTS = ("keras_hub", "matplotlib", "PIL", "pycocotools.cocoeval",
                     "grpc", "tensorflow_serving.apis")
# The two detectors of the comparison: name in the report -> `saliency`.
MODELS = {"uniform": "uniform", "LZU": "prior"}
# Detections drawn in the figure: those at least this confident.
FIGURE_MIN_SCORE = 0.5


@dataclasses.dataclass
class DemoConfig:
    """Everything that sets the size of a demo run.

    The defaults are a run of a few minutes on 2 CPU cores in which the
    objects are still detectable at the input size: far objects a few
    pixels to a few tens of pixels tall once downsampled.

    Attributes:
        canvas: `(height, width)` of the high-resolution images.
        output_size: `(height, width)` the detectors see (the compute
            budget), multiples of 32.
        train_images: training images written.
        val_images: validation images written.
        steps: training steps of each detector.
        batch_size: images per step.
        learning_rate: peak Adam learning rate (cosine decay).
        backbone: from-scratch backbone (`keras_lzu.training.BACKBONES`).
        prior_floor: floor of LZU's KDE prior relative to its peak (the
            strength of the warp: the larger, the gentler).
        anchor_size: anchor side in strides of its level (small objects:
            below KerasHub's 4).
        positive_iou: IoU from which an anchor is a positive of a box.
        negative_iou: IoU below which an anchor is background.
        num_classes: object classes of the scenes (1 .. 5).
        far_object_size: `(low, high)` heights of the far objects in pixels
            of a 1200-pixel-high canvas.
        class_colours: bool, each class has its own colour; `False` draws
            colours from the clutter's palette, so that classes are told
            apart by shape and small parts.
        serving_images: validation images sent through gRPC.
        seed: seed of the data, the weights and the shuffling.
        out: output directory.
    """

    canvas: tuple = (640, 1024)
    output_size: tuple = (160, 256)
    train_images: int = 320
    val_images: int = 48
    steps: int = 300
    batch_size: int = 4
    learning_rate: float = 2e-3
    backbone: str = "tiny"
    prior_floor: float = 0.3
    anchor_size: float = 1.25
    positive_iou: float = 0.35
    negative_iou: float = 0.25
    num_classes: int = 3
    far_object_size: tuple = (48, 128)
    class_colours: bool = False
    serving_images: int = 4
    seed: int = 0
    out: str = DEFAULT_OUT

    @property
    def data_dir(self):
        return os.path.join(self.out, "data")

    def split_dir(self, split):
        return os.path.join(self.data_dir, split)

    def training_config(self, saliency):
        """The `TrainingConfig` of one detector: the same for both models
        but for `saliency`, its output directory and the export (LZU's)."""
        from keras_lzu.training import TrainingConfig

        train, val = self.split_dir("train"), self.split_dir("validation")
        return TrainingConfig(
            task="detection",
            train_annotations=os.path.join(train, "instances.json"),
            train_images=os.path.join(train, "images"),
            val_annotations=os.path.join(val, "instances.json"),
            val_images=os.path.join(val, "images"),
            output_size=tuple(self.output_size),
            saliency=saliency,
            backbone=self.backbone,
            prior_floor=self.prior_floor,
            steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            anchor_size=self.anchor_size,
            positive_iou=self.positive_iou,
            negative_iou=self.negative_iou,
            export=saliency == MODELS["LZU"],
            seed=self.seed,
            out=os.path.join(self.out, saliency),
        )


def write_dataset(config):
    """Writes the train and validation COCO files of `config`.

    Returns:
        The `SyntheticDrivingScenes` they were drawn from.
    """
    from keras_lzu.data import SyntheticDrivingScenes

    scenes = SyntheticDrivingScenes(
        image_size=config.canvas, num_classes=config.num_classes,
        seed=config.seed, far_object_size=config.far_object_size,
        train_size=config.train_images, validation_size=config.val_images,
        class_colours=config.class_colours,
    )
    scenes.write_coco(config.split_dir("train"), config.train_images, "train")
    scenes.write_coco(config.split_dir("validation"), config.val_images,
                      "validation")
    return scenes


def compiled_infer(model):
    """`model.infer` traced once as a graph for any batch and image size,
    as `keras_lzu.export` serves it; returns a function `uint8 images ->
    dict of NumPy outputs`.

    Eager calls round differently (oneDNN): their scores differ in the
    last digits, which reorders the low-scoring tail of a detector's 100
    boxes.
    """
    import tensorflow as tf

    infer = tf.function(model.infer, input_signature=[
        tf.TensorSpec((None, None, None, 3), tf.float32)])

    def run(images):
        outputs = infer(tf.constant(images, tf.float32))
        return {key: value.numpy() for key, value in outputs.items()}

    return run


def seconds_per_image(infer, images, batch_size=4):
    """Wall time of `infer` per image, after one warm-up batch.

    Args:
        infer: a function of uint8 images (`compiled_infer`).
        images: uint8 `(N, H, W, 3)`.
        batch_size: images per call.
    """
    batches = [images[i:i + batch_size]
               for i in range(0, len(images), batch_size)]
    infer(batches[0])
    began = time.perf_counter()
    for batch in batches:
        infer(batch)
    return (time.perf_counter() - began) / len(images)


def serving_check(infer, export_base_path, images, atol=1e-2):
    """Serves an export on loopback and compares its gRPC answers with the
    model's in-process predictions on the same images.

    Detections are compared as sets (non-maximum suppression may order
    boxes of equal scores differently in two graphs): same count per image,
    and each detection within `atol` of one of the same class and a score
    within `atol`.

    Args:
        infer: the in-process model, a function of uint8 images
            (`compiled_infer`).
        export_base_path: its export, `keras_lzu.export`'s `export_dir`
            (numeric version directories).
        images: uint8 `(N, H, W, 3)`.
        atol: largest difference allowed in box pixels and in scores.

    Returns:
        dict with `"ok"` (bool), `"max_box_diff"`, `"max_score_diff"`,
        `"same_counts"`, `"images"`, `"detections"` and `"target"`.
    """
    from keras_lzu.serving import GrpcPredictionClient
    from keras_lzu.serving import LocalModelServer

    expected = infer(images)
    server = LocalModelServer(export_base_path, model_name="lzu",
                              host="127.0.0.1", port=0).start()
    try:
        with GrpcPredictionClient(server.target, "lzu", timeout=120) as client:
            answers = client.predict(images)
    finally:
        server.stop(grace=1.0)
    same_counts = bool(np.array_equal(answers["num_detections"],
                                      expected["num_detections"]))
    box_diff = score_diff = 0.0
    for i, n in enumerate(expected["num_detections"]):
        n = int(n)
        if n and same_counts:
            got = {k: answers[k][i, :n] for k in ("boxes", "scores", "classes")}
            want = {k: expected[k][i, :n] for k in got}
            score_diff = max(score_diff, float(np.abs(
                np.sort(got["scores"]) - np.sort(want["scores"])).max()))
            box_diff = max(box_diff, _unordered_box_diff(got, want, atol),
                           _unordered_box_diff(want, got, atol))
    ok = same_counts and box_diff <= atol and score_diff <= atol
    return {"ok": ok, "max_box_diff": box_diff, "max_score_diff": score_diff,
            "same_counts": same_counts, "images": len(images),
            "detections": int(np.sum(expected["num_detections"])),
            "target": server.target}


def _unordered_box_diff(a, b, score_atol):
    """Largest distance from a detection in `a` to its closest match in `b`
    (same class, score within `score_atol`); inf if one has none."""
    worst = 0.0
    for box, score, cls in zip(a["boxes"], a["scores"], a["classes"]):
        candidates = ((b["classes"] == cls)
                      & (np.abs(b["scores"] - score) <= score_atol))
        if not candidates.any():
            return float("inf")
        worst = max(worst, float(np.abs(b["boxes"][candidates] - box)
                                 .max(axis=-1).min()))
    return worst


def read_validation(config, count):
    """The first `count` validation images and their boxes, read back from
    the COCO files as `lzu evaluate` reads them.

    Returns:
        `(uint8 images (count, H, W, 3), list of (n_i, 4) pixel xyxy
        ground-truth boxes)`.
    """
    from keras_lzu.evaluation.coco_model import CocoImages

    val = config.training_config(MODELS["LZU"])
    coco = CocoImages(val.val_annotations, val.val_images)
    records = coco.dataset["images"][:count]
    boxes = []
    for record in records:
        xywh = np.array([a["bbox"] for a in coco.annotations_of(record["id"])],
                        "float32").reshape(-1, 4)
        boxes.append(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]],
                                    axis=1))
    return np.stack([coco.read(record) for record in records]), boxes


def write_figures(config, saliency, infers, image, ground_truth,
                  class_names):
    """The saliency and its grid, the zoomed image and both models'
    detections (`{name: compiled_infer(model)}`) on `image`; returns
    `{name: path}`."""
    from keras_lzu import visualize

    paths = {
        "saliency": os.path.join(config.out, "saliency_grid.png"),
        "zoomed": os.path.join(config.out, "zoomed.png"),
        "detections": os.path.join(config.out, "detections.png"),
    }
    visualize.save_saliency_figure(paths["saliency"], image, saliency,
                                   config.output_size)
    visualize.save_zoomed_image(paths["zoomed"], image, saliency,
                                config.output_size)
    detections = {}
    for name, infer in infers.items():
        outputs = infer(image[None])
        n = int(outputs["num_detections"][0])
        detections[name] = {key: outputs[key][0, :n]
                            for key in ("boxes", "scores", "classes")}
    visualize.save_detection_figure(paths["detections"], image, ground_truth,
                                    detections, FIGURE_MIN_SCORE,
                                    class_names)
    return paths


def rerun_commands(config):
    """The shell lines that redo the demo's training and evaluation with
    `lzu train` and `lzu evaluate` (the same data, settings and seed)."""
    from keras_lzu.training.cli import command_line

    lines = [shlex.join(["lzu", *command_line(config.training_config(s))])
             for s in MODELS.values()]
    lzu = config.training_config(MODELS["LZU"])
    lines.append(shlex.join([
        "lzu", "evaluate", "--model", lzu.model_path,
        "--annotations", lzu.val_annotations, "--images", lzu.val_images]))
    return lines


def run_demo(config, log=print):
    """Runs the whole demo and writes its report; returns a result dict.

    Returns:
        dict with `"metrics"` (`{"uniform": {...}, "LZU": {...}}`: the COCO
        metrics of `evaluate_on_coco` and `"ms/image"`), `"serving"` (see
        `serving_check`), `"table"` (markdown), `"commands"` (see
        `rerun_commands`), `"report"` (path), `"figures"` (paths),
        `"runs"` (each model's output directory) and `"seconds"` (wall
        time of each stage).
    """
    from keras_lzu.evaluation import metrics_table
    from keras_lzu.training import train

    os.makedirs(config.out, exist_ok=True)
    began = time.perf_counter()
    seconds = {}
    log(f"[demo] canvas {config.canvas[0]}x{config.canvas[1]}, detectors see "
        f"{config.output_size[0]}x{config.output_size[1]}; "
        f"{config.train_images} train / {config.val_images} validation "
        f"images; {config.steps} steps of batch {config.batch_size}; seed "
        f"{config.seed}")
    scenes = write_dataset(config)
    seconds["data"] = time.perf_counter() - began
    log(f"[demo] wrote the COCO dataset to {config.data_dir} in "
        f"{seconds['data']:.0f} s")

    models, infers, metrics, runs = {}, {}, {}, {}
    val_images, val_boxes = read_validation(config, config.val_images)
    for name, saliency in MODELS.items():
        stamp = time.perf_counter()
        training = config.training_config(saliency)
        log(f"[demo] training the {name} RetinaNet (saliency={saliency!r})")
        result = train(training)
        models[name], runs[name] = result["model"], training.out
        infers[name] = compiled_infer(models[name])
        metrics[name] = dict(result["metrics"]["final"])
        metrics[name]["ms/image"] = 1000.0 * seconds_per_image(
            infers[name], val_images, config.batch_size)
        seconds[f"train and evaluate {name}"] = time.perf_counter() - stamp
    lzu_saliency = np.asarray(models["LZU"].saliency_layer.saliency())[0]
    table = metrics_table(metrics)
    log("[demo] validation metrics:\n" + table)

    stamp = time.perf_counter()
    serving = serving_check(
        infers["LZU"], config.training_config(MODELS["LZU"]).export_dir,
        val_images[:config.serving_images])
    seconds["serving"] = time.perf_counter() - stamp
    log(f"[demo] gRPC check on {serving['target']}: {serving['images']} "
        f"images, {serving['detections']} detections, max |box diff| "
        f"{serving['max_box_diff']:.2e} px, max |score diff| "
        f"{serving['max_score_diff']:.2e}: "
        f"{'OK' if serving['ok'] else 'MISMATCH'}")

    figures = write_figures(config, lzu_saliency, infers, val_images[0],
                            val_boxes[0], list(scenes.class_names))
    commands = rerun_commands(config)
    seconds["total"] = time.perf_counter() - began
    report = write_report(config, metrics, serving, figures, seconds, table,
                          commands)
    return {"metrics": metrics, "serving": serving, "table": table,
            "commands": commands, "report": report, "figures": figures,
            "runs": runs, "seconds": seconds}


def write_report(config, metrics, serving, figures, seconds, table,
                 commands):
    """Writes `report.md` in `config.out` (atomically); returns its path."""
    gains = {key: metrics["LZU"][key] - metrics["uniform"][key]
             for key in ("AP", "AP50", "AP_small")
             if None not in (metrics["LZU"][key], metrics["uniform"][key])}
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    height, width = config.output_size
    lines = [
        "# keras_lzu demo: LZU vs uniform downsampling",
        "",
        f"Synthetic driving scenes written as COCO ({config.data_dir}), "
        f"canvas {config.canvas[0]}x{config.canvas[1]}, "
        f"{config.num_classes} classes, {config.train_images} training and "
        f"{config.val_images} validation images (seed {config.seed}). Two "
        f"KerasHub RetinaNets (`--backbone {config.backbone}`, trained from "
        f"scratch, {config.steps} steps of batch {config.batch_size}) see "
        f"{height}x{width} images: *uniform* downsamples the canvas, *LZU* "
        "zooms it through the warp of the fixed KDE prior of the training "
        "boxes and unzooms the feature pyramid. Everything else is the "
        "same `TrainingConfig`.",
        "",
        "## Validation metrics (COCO, pycocotools, each image's own frame)",
        "",
        table,
        "",
        "LZU - uniform: " + ", ".join(f"{k} {v:+.3f}"
                                      for k, v in gains.items()),
        "",
        "One short run on one seed: from one seed to the next the AP of "
        "either model moves by about 0.01-0.02, and a few hundred steps "
        "from scratch leave both far from converged. The controlled "
        "comparison (seeds, input scales, segmentation) is "
        "`benchmarks/accuracy.py`, pooled in `benchmarks/results.md`. "
        "ms/image is the wall time per image (batch "
        f"{config.batch_size}) of the model's `infer` traced as a graph, as "
        "the export serves it, box decoding included, on this machine.",
        "",
        "## Serving",
        "",
        f"The LZU export (`{config.training_config('prior').export_dir}`) "
        f"served by `LocalModelServer` on {serving['target']}; "
        f"{serving['images']} validation images over gRPC: "
        f"{serving['detections']} detections, max |box diff| "
        f"{serving['max_box_diff']:.2e} px, max |score diff| "
        f"{serving['max_score_diff']:.2e} against the model in this "
        "process: "
        f"**{'OK' if serving['ok'] else 'MISMATCH'}**.",
        "",
        "## Figures",
        "",
        "![saliency prior and warp grid]"
        f"({os.path.basename(figures['saliency'])})",
        "",
        "The LZU model's saliency (the KDE prior of the training boxes) over "
        "a validation image, the warp grid it makes, the zoomed image and "
        "its unzoom.",
        "",
        f"![zoomed image]({os.path.basename(figures['zoomed'])})",
        "",
        f"![detections]({os.path.basename(figures['detections'])})",
        "",
        "Detections of both models on the same validation image (dashed: "
        "ground truth).",
        "",
        "## Redo it, or run it on your data",
        "",
        "```bash",
        *commands,
        "```",
        "",
        "## Run",
        "",
        f"Wall time: {stages}.",
        "",
        describe_machine(),
        "",
    ]
    return write_atomically(os.path.join(config.out, "report.md"),
                            lambda f: f.write("\n".join(lines)))


def parse_args(argv=None):
    """The demo's flags as a `DemoConfig`."""
    defaults = DemoConfig()
    parser = argparse.ArgumentParser(
        prog="lzu demo",
        description="Write a synthetic COCO dataset, train uniform and LZU "
                    "RetinaNets on it with keras_lzu.training, evaluate, "
                    "serve, and write a report.")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--canvas", type=int, nargs=2,
                        metavar=("HEIGHT", "WIDTH"), default=defaults.canvas)
    parser.add_argument("--output-size", type=int, nargs=2,
                        metavar=("HEIGHT", "WIDTH"),
                        default=defaults.output_size,
                        help="size the detectors see, multiples of 32")
    parser.add_argument("--train-images", type=int,
                        default=defaults.train_images)
    parser.add_argument("--val-images", type=int, default=defaults.val_images)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--num-classes", type=int,
                        default=defaults.num_classes)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--out", default=defaults.out)
    args = parser.parse_args(argv)
    return DemoConfig(
        canvas=tuple(args.canvas), output_size=tuple(args.output_size),
        train_images=args.train_images, val_images=args.val_images,
        steps=args.steps, batch_size=args.batch_size,
        num_classes=args.num_classes, seed=args.seed, out=args.out)


def check_requirements():
    """Raises `keras_lzu.extras.MissingExtraError` naming the `demo` extra
    if a package the demo needs is missing, before any work."""
    from keras_lzu.extras import import_optional

    for module in DEMO_REQUIREMENTS:
        import_optional(module, "demo", "lzu demo")


def demo_main(argv=None):
    """`lzu demo [--steps N] [--canvas H W] [--output-size H W] ...`."""
    config = parse_args(argv)
    check_requirements()
    # Checks every setting (and the output size) before any work.
    for saliency in MODELS.values():
        config.training_config(saliency)
    result = run_demo(config)
    print("\n" + result["table"])
    print(f"\ngRPC answers equal in-process predictions: "
          f"{result['serving']['ok']}")
    print("\nThe same with `lzu`, or on your own COCO data (replace the "
          "paths):\n" + "\n".join(result["commands"]))
    print(f"\nTotal wall time: {result['seconds']['total']:.0f} s")
    print(f"Report: {os.path.abspath(result['report'])}")
    return 0 if result["serving"]["ok"] else 1
