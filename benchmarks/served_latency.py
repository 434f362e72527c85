"""Served latency: an exported LZU RetinaNet against the same detector
exported without LZU, run by TensorFlow alone.

The detector is the KerasHub RetinaNet that `lzu train` builds (built from
scratch, `--backbone`, default `resnet18`; `tiny` is the smallest, where
LZU's share of the time is largest), untrained. Five SavedModels are
written with `keras_lzu.export` (the same signatures, input checks and
per-image decoding):

* `uniform`: the detector behind a bilinear `tf.image.resize` of the
  `--input` images to `--output`, boxes scaled back to the input frame: the
  model a user serves without LZU;
* `LZU separable`, `LZU general`: `keras_lzu.wrap` of the same detector
  (the same weights) with a fixed saliency (a band a third of the way down
  the image, as a horizon prior gives), with a separable and a general
  warp;
* `LZU separable, XLA LZU`, `LZU general, XLA LZU`: the same two models
  exported with `jit_compile_lzu=True` (the grid, zoom, inversion and
  unzooms compiled with XLA inside the SavedModel, the rest plain graph).

Each SavedModel is then timed in its own fresh process that imports
TensorFlow only (`tf.saved_model.load`, the `serving_default` signature on
a uint8 batch; no Keras object exists there, and the process checks that
neither keras_lzu nor KerasHub was imported). The processes stay up side
by side and are timed in interleaved rounds (one call each per round), so
a slow spell of a shared machine hits all of them alike; best and median
ms per call and the ratios to `uniform` are printed, with the time of each
model's first call (which compiles the XLA clusters for the batch's shape).
With `--cpu-time` each process runs TensorFlow on one thread and the CPU
time of the process is measured, which a busy shared machine hardly
disturbs.

Before timing, `saved_model_cli run` (TensorFlow's own command line tool)
runs `serving_default` of the `LZU separable` export and of its XLA export
on the same batch written to a `.npy` file, and their outputs are compared
with those of the timed processes: the benchmark fails if they differ
(beyond 1e-3), or if an XLA export's outputs differ from its plain
export's by more than 0.05 pixel (boxes) or 1e-3 (scores).

    python -m benchmarks.served_latency [--input 640 1024]
        [--output 320 512] [--backbone resnet18] [--batch 1]
        [--repeats 20] [--cpu-time] [--markdown FILE]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

XLA_SUFFIX = ", XLA LZU"
PLAIN_LZU_MODELS = ("LZU separable", "LZU general")
MODELS = ("uniform", *PLAIN_LZU_MODELS,
          *(name + XLA_SUFFIX for name in PLAIN_LZU_MODELS))
NUM_CLASSES = 3
WARMUP_CALLS = 3
_OUTPUT_KEYS = ("boxes", "scores", "classes", "num_detections")


def horizon_saliency(grid_shape=(31, 51)):
    """A band of high saliency a third of the way down the image."""
    saliency = np.ones(grid_shape, "float32")
    top = grid_shape[0] // 3
    saliency[top:top + grid_shape[0] // 5, :] = 8.0
    return saliency


def test_images(batch, size, seed=0):
    """The uint8 batch every model is timed on."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (batch, *size, 3), dtype=np.uint8)


class UniformResizeDetector:
    """A KerasHub RetinaNet behind a uniform bilinear resize, for export.

    What `keras_lzu.export` needs (`infer`, `lzu_metadata`, `variables`)
    without LZU: the images are rescaled as the detector's preprocessor
    does, resized to `output_size` with `tf.image.resize` (bilinear), run
    through the detector and decoded image by image as the wrapped models
    decode them; boxes are scaled back to the images' frame.
    """

    def __init__(self, detector, output_size):
        from keras_lzu.models import keras_hub_common

        self.detector = detector
        self.output_size = tuple(output_size)
        self.preprocessor = keras_hub_common.preprocessor_without_resizing(
            detector.preprocessor
        )
        self.variables = detector.variables
        self.lzu_metadata = {
            "task": "detection",
            "output_size": list(self.output_size),
            "num_classes": detector.num_classes,
            "bounding_box_format": detector.bounding_box_format,
        }

    # Plain TensorFlow calls: autograph has nothing to convert, and its
    # conversion cache has been seen to hand this method another
    # function's converted code.
    @tf.autograph.experimental.do_not_convert
    def infer(self, images):
        from keras import ops

        from keras_lzu.models import common
        from keras_lzu.models import keras_hub_common

        images = keras_hub_common.rescale_images(self.preprocessor, images)
        resized = tf.image.resize(
            images, self.output_size, "bilinear", antialias=False
        )
        uniform = ops.zeros((1, *self.output_size, 1))
        predictions = self.detector(resized, training=False)

        def decode_one(prediction):
            prediction = {k: v[None] for k, v in prediction.items()}
            decoded = self.detector.decode_predictions(prediction, uniform)
            valid = decoded["labels"] >= 0
            boxes = common.scale_boxes(
                decoded["boxes"], self.output_size,
                common.image_size(images), valid,
            )
            outputs = common.detection_outputs(
                ops.where(valid[..., None], boxes, -1.0),
                decoded["confidence"], decoded["labels"],
                decoded["num_detections"],
            )
            return {key: value[0] for key, value in outputs.items()}

        return ops.map(decode_one, predictions)


def export_models(directory, args):
    """Exports the three models; returns `{name: saved_model_dir}`."""
    import keras

    import keras_lzu
    from keras_lzu.training import models

    keras.utils.set_random_seed(0)
    detector = models.build_base_model(
        "detection", "keras_hub", NUM_CLASSES, backbone=args.backbone
    )
    wrapped = {
        "uniform": UniformResizeDetector(detector, args.output),
        "LZU separable": keras_lzu.wrap(
            detector, args.output, saliency=horizon_saliency(),
            separable=True,
        ),
        "LZU general": keras_lzu.wrap(
            detector, args.output, saliency=horizon_saliency(),
            separable=False,
        ),
    }
    paths = {}
    for index, name in enumerate(MODELS):
        plain_name = name.removesuffix(XLA_SUFFIX)
        paths[name] = keras_lzu.export(
            wrapped[plain_name], os.path.join(directory, f"model{index}"),
            jit_compile_lzu=name != plain_name,
        )
    return paths


def serve(saved_model_dir, input_size, batch, cpu_time=False):
    """The timing process: loads one SavedModel with TensorFlow only and
    answers commands on stdin with one JSON line each on stdout.

    Once loaded it prints the ms of its first call; then `time` -> the ms
    of one call of `serving_default`; `save PATH` -> writes the outputs for
    the test batch to `PATH` (`.npz`); `quit`. With `cpu_time`, TensorFlow
    runs on one thread and the times are the process's CPU time.
    """
    if cpu_time:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    clock = time.process_time if cpu_time else time.perf_counter
    model = tf.saved_model.load(saved_model_dir)
    signature = model.signatures["serving_default"]
    images = tf.constant(test_images(batch, input_size))
    # `import tensorflow` imports the `keras` package itself; nothing of
    # the model's libraries may be.
    libraries = sorted(m for m in sys.modules if m.split(".")[0] in (
        "keras_lzu", "keras_hub", "keras_cv"))
    if libraries:
        raise RuntimeError(
            f"the timing process imported {libraries[:5]}; it must run "
            "the SavedModel with TensorFlow only"
        )

    def call():
        outputs = signature(images=images)
        return {key: value.numpy() for key, value in outputs.items()}

    began = clock()
    call()
    first = 1000.0 * (clock() - began)
    for _ in range(WARMUP_CALLS - 1):
        call()
    print(json.dumps(first), flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "time":
            began = clock()
            call()
            reply = 1000.0 * (clock() - began)
        elif command[0] == "save":
            np.savez(command[1], **call())
            reply = command[1]
        else:
            break
        print(json.dumps(reply), flush=True)


class ServingProcess:
    """A `serve` process of one SavedModel, driven over pipes."""

    def __init__(self, saved_model_dir, args):
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "benchmarks.served_latency",
                "--serve", saved_model_dir,
                "--input", *map(str, args.input),
                "--batch", str(args.batch),
                *(["--cpu-time"] if args.cpu_time else []),
            ],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        self.saved_model_dir = saved_model_dir

    def ask(self, command=None):
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"the serving process of {self.saved_model_dir} exited with "
                f"{self.process.wait()}"
            )
        return json.loads(line)

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait()


def check_with_saved_model_cli(saved_model_dir, loaded, args, directory):
    """Runs `serving_default` with `saved_model_cli run` and compares its
    outputs with `loaded`, the timed process's on the same batch.

    Returns:
        The largest absolute difference of the outputs (0 expected).
    """
    inputs = os.path.join(directory, "images.npy")
    np.save(inputs, test_images(args.batch, args.input))
    cli_dir = tempfile.mkdtemp(prefix="saved_model_cli", dir=directory)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = [
        cli if os.path.exists(cli) else "saved_model_cli", "run",
        "--dir", saved_model_dir, "--tag_set", "serve",
        "--signature_def", "serving_default",
        "--inputs", f"images={inputs}", "--outdir", cli_dir, "--overwrite",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"saved_model_cli run failed ({result.returncode}):\n"
            f"{result.stderr[-3000:]}"
        )
    difference = 0.0
    for key in _OUTPUT_KEYS:
        cli_output = np.load(os.path.join(cli_dir, f"{key}.npy"))
        if cli_output.shape != loaded[key].shape:
            raise RuntimeError(
                f"saved_model_cli's {key} has shape {cli_output.shape}, "
                f"tf.saved_model.load's {loaded[key].shape}"
            )
        difference = max(
            difference,
            float(np.max(np.abs(cli_output - loaded[key]), initial=0.0)),
        )
    if difference > 1e-3:
        raise RuntimeError(
            f"saved_model_cli and tf.saved_model.load outputs of "
            f"{saved_model_dir} differ by {difference}"
        )
    return difference


def compare_with_plain(plain, xla, name):
    """The largest differences of an XLA export's outputs from its plain
    export's: `(boxes in pixels, scores)`.

    Raises:
        RuntimeError: if the detection counts differ or the sorted scores
            differ by more than 1e-3 (XLA only reorders float32 rounding;
            near-equal scores of an untrained model may swap places, so
            boxes are reported, not checked).
    """
    if not np.array_equal(plain["num_detections"], xla["num_detections"]):
        raise RuntimeError(
            f"{name}: {xla['num_detections']} detections, the plain export "
            f"{plain['num_detections']}"
        )
    scores = float(np.max(np.abs(
        np.sort(plain["scores"], axis=-1) - np.sort(xla["scores"], axis=-1)
    ), initial=0.0))
    if scores > 1e-3:
        raise RuntimeError(
            f"{name}: scores differ from the plain export's by {scores}"
        )
    boxes = float(np.max(np.abs(plain["boxes"] - xla["boxes"]), initial=0.0))
    return boxes, scores


def time_models(paths, args, directory):
    """Returns `(times, first_calls, checks)`: the ms of every round, the
    ms of each model's first call, and what the output checks found."""
    workers = {name: ServingProcess(paths[name], args) for name in MODELS}
    try:
        first_calls = {name: worker.ask() for name, worker in workers.items()}
        outputs = {
            name: dict(np.load(workers[name].ask(
                f"save {directory}/outputs{index}.npz")))
            for index, name in enumerate(MODELS)
        }
        checked = ("LZU separable", "LZU separable" + XLA_SUFFIX)
        checks = {
            "cli": max(check_with_saved_model_cli(
                paths[name], outputs[name], args, directory)
                for name in checked),
            "xla": {name: compare_with_plain(
                outputs[name], outputs[name + XLA_SUFFIX], name)
                for name in PLAIN_LZU_MODELS},
            "detections": int(outputs["LZU separable"][
                "num_detections"].sum()),
        }
        times = {name: [] for name in MODELS}
        for _ in range(args.repeats):
            for name in MODELS:
                times[name].append(workers[name].ask("time"))
    finally:
        for worker in workers.values():
            worker.close()
    return times, first_calls, checks


def format_table(times, first_calls):
    best_uniform = min(times["uniform"])
    median_uniform = float(np.median(times["uniform"]))
    lines = [
        "| model | best ms | median ms | x uniform (best) | "
        "x uniform (median) | first call ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in MODELS:
        best, median = min(times[name]), float(np.median(times[name]))
        lines.append(
            f"| {name} | {best:.1f} | {median:.1f} | "
            f"{best / best_uniform:.3f} | {median / median_uniform:.3f} | "
            f"{first_calls[name]:.0f} |"
        )
    return "\n".join(lines)


def describe_checks(checks):
    """The sentence under the table: what the output checks found."""
    xla = "; ".join(
        f"{name}: max |difference| {boxes:.1e} px (boxes), {scores:.1e} "
        "(scores)" for name, (boxes, scores) in checks["xla"].items()
    )
    return (
        "`saved_model_cli run` of the LZU separable export and of its XLA "
        "LZU export: the same outputs as `tf.saved_model.load` in the timing "
        f"processes (max |difference| {checks['cli']:.1e}, "
        f"{checks['detections']} detections of the untrained model). The XLA "
        f"LZU exports against the plain ones: {xla}."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=int, nargs=2, default=(640, 1024),
                        metavar=("H", "W"), help="served image size")
    parser.add_argument("--output", type=int, nargs=2, default=(320, 512),
                        metavar=("H", "W"), help="the model's input size")
    parser.add_argument("--backbone", default="resnet18",
                        help="a `lzu train --backbone` name")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cpu-time", action="store_true",
                        help="one TensorFlow thread, process CPU time")
    parser.add_argument("--markdown", help="append the section to this file")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, tuple(args.input), args.batch, args.cpu_time)
        return
    from benchmarks import machine

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        paths = export_models(directory, args)
        times, first_calls, checks = time_models(paths, args, directory)
    load = os.getloadavg()[0]
    clock = "CPU ms, one thread" if args.cpu_time else "wall ms"
    text = (
        f"## Served latency: {args.input[0]}x{args.input[1]} uint8 -> "
        f"{args.output[0]}x{args.output[1]} KerasHub RetinaNet "
        f"({args.backbone}), batch {args.batch}, {clock}\n\n"
        f"{machine.describe()}\n\n"
        f"{format_table(times, first_calls)}\n\n{describe_checks(checks)}"
        f"\n\n*`python -m benchmarks.served_latency --input {args.input[0]} "
        f"{args.input[1]} --output {args.output[0]} {args.output[1]} "
        f"--backbone {args.backbone} --batch {args.batch} "
        f"--repeats {args.repeats}{' --cpu-time' if args.cpu_time else ''}`"
        f", {time.perf_counter() - began:.0f} s, "
        f"load average {load:.1f} at the end*\n"
    )
    machine.publish(text, args.markdown)


if __name__ == "__main__":
    main()
