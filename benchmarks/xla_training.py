"""Training speed with and without XLA, wrapped and unwrapped, in one run.

The detector is the harness's compact KerasCV RetinaNet
(`benchmarks.harness.build_retinanet`). Four models train on the same
batch of noise images with one bright square each (`--batch` images):

* `unwrapped`: the RetinaNet on images uniformly resized to the zoomed size
  `h x w` (labels scaled to it);
* `LZU fixed`: `keras_lzu.wrap` with a trainable fixed saliency on the
  `H x W` canvas images (labels in the canvas frame);
* `LZU frozen saliency`: the same with the saliency not trained, as
  `lzu train --saliency prior` trains (no gradient to the grid).

Each is compiled with `jit_compile=False` (graph mode) and `True` (XLA);
one `fit` runs `--warmup` steps (tracing and compiling included), timed
apart, then the `--steps` steps whose rate is reported (from the batches'
end times, so `fit`'s start-up is not counted in them). Optimizer: Adam,
focal and smooth-L1 losses.

    python -m benchmarks.xla_training [--canvas 480 768] [--budget 0.25]
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def square_batch(batch, canvas, seed=0):
    """Noise images (0..255) with one bright square each, and its pixel
    `xyxy` box and class 0."""
    rng = np.random.default_rng(seed)
    height, width = canvas
    images = rng.uniform(0, 60, (batch, height, width, 3)).astype("float32")
    boxes = np.zeros((batch, 1, 4), "float32")
    for b in range(batch):
        side = int(rng.integers(min(canvas) // 12, min(canvas) // 4))
        y0 = int(rng.integers(0, height - side))
        x0 = int(rng.integers(0, width - side))
        images[b, y0:y0 + side, x0:x0 + side] = 230.0
        boxes[b, 0] = (x0, y0, x0 + side, y0 + side)
    return images, {"boxes": boxes, "classes": np.zeros((batch, 1), "float32")}


def repeated(images, labels):
    import tensorflow as tf

    return tf.data.Dataset.from_tensors((images, labels)).repeat()


def step_clock():
    """A Keras callback recording when training starts (`began`) and when
    each batch ends (`ends`), in `time.perf_counter` seconds."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.began = time.perf_counter()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    return StepClock()


def fit_times(model, dataset, jit_compile, warmup, steps):
    """Seconds of the first `warmup` steps (tracing and compiling included)
    and steps/s of the next `steps`, all in one `fit`: the per-step rate
    comes from the batch end times, so `fit`'s own start-up cost (its
    iterator, its callbacks) is not spread over the timed steps."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        classification_loss="focal",
        box_loss="smoothl1",
        jit_compile=jit_compile,
    )
    clock = step_clock()
    history = model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps,
                        verbose=0, callbacks=[clock])
    first = clock.ends[warmup - 1] - clock.began
    rate = steps / (clock.ends[-1] - clock.ends[warmup - 1])
    loss = history.history["loss"][-1]
    return first, rate, loss, bool(model.jit_compile)


def run(canvas, budget, batch, warmup, steps):
    """Returns rows `(model, mode, first seconds, steps/s, loss, xla)`."""
    import tensorflow as tf

    from benchmarks import harness
    import keras_lzu

    size = harness.zoomed_size(canvas, budget)
    images, labels = square_batch(batch, canvas)
    scale = np.array([size[1] / canvas[1], size[0] / canvas[0]] * 2,
                     "float32")
    small = tf.image.resize(images, size).numpy()
    small_labels = {**labels, "boxes": labels["boxes"] * scale}
    rows = []
    for jit_compile, mode in ((False, "graph"), (True, "XLA")):
        retinanet = harness.build_retinanet(num_classes=3, seed=0)
        wrapped = keras_lzu.wrap(retinanet, output_size=size)
        frozen = keras_lzu.wrap(retinanet, output_size=size)
        frozen.saliency_layer.trainable = False
        for name, model, data in (
            ("unwrapped", retinanet, repeated(small, small_labels)),
            ("LZU fixed", wrapped, repeated(images, labels)),
            ("LZU frozen saliency", frozen, repeated(images, labels)),
        ):
            rows.append((name, mode,
                         *fit_times(model, data, jit_compile, warmup, steps)))
    return rows, size


def format_table(rows):
    base = {mode: rate for name, mode, _, rate, _, _ in rows
            if name == "unwrapped"}
    lines = [
        "| model | mode | first steps (s) | steps/s | x unwrapped | "
        "last loss |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, mode, first, rate, loss, xla in rows:
        shown = mode if xla == (mode == "XLA") else f"{mode} (fell back)"
        lines.append(
            f"| {name} | {shown} | {first:.1f} | {rate:.2f} | "
            f"{base[mode] / rate:.2f} | {loss:.3f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canvas", type=int, nargs=2, default=(480, 768),
                        metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--budget", type=float, default=0.25,
                        help="fraction of the canvas area the model sees")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args(argv)

    from benchmarks import machine

    rows, size = run(tuple(args.canvas), args.budget, args.batch,
                     args.warmup, args.steps)
    text = (
        f"## Training steps/s with and without XLA: RetinaNet (compact "
        f"heads), canvas {args.canvas[0]}x{args.canvas[1]} -> "
        f"{size[0]}x{size[1]}, batch {args.batch}\n\n{machine.describe()}"
        f"\n\n{format_table(rows)}\n\n*`x unwrapped` is the step time over "
        f"the unwrapped model's in the same mode; `first steps` are the "
        f"first {args.warmup} (tracing and compiling included), steps/s is "
        f"over the next {args.steps}.*\n"
    )
    machine.publish(text, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
