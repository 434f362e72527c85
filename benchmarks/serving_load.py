"""Load test: concurrent gRPC clients against `LocalModelServer` on loopback.

Exports a model (a wrapped KerasCV RetinaNet with `--model retinanet` when
KerasCV and `keras_lzu.wrap` are available, else a small stand-in with the
same interface), serves it, and runs `--clients` threads, each with its own
channel, sending `serving_default` requests until `--requests` are done or
`--seconds` pass. Prints requests/s, p50/p99 latency, errors, and the gRPC
overhead over calling the same SavedModel in process. Not a test.

    python benchmarks/serving_load.py --clients 16 --seconds 60
"""

import argparse
import os
import platform
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_model(kind, image_size):
    if kind == "retinanet":
        import keras_cv

        import keras_lzu

        # Built directly: presets would need a download.
        backbone = keras_cv.models.ResNetBackbone(
            stackwise_filters=[16, 32, 64, 128], stackwise_blocks=[2, 2, 2, 2],
            stackwise_strides=[1, 2, 2, 2], include_rescaling=True,
            block_type="block",
        )
        detector = keras_cv.models.RetinaNet(
            num_classes=20, bounding_box_format="xyxy", backbone=backbone,
        )
        return keras_lzu.wrap(detector, output_size=image_size)
    sys.path.insert(0, os.path.join(ROOT, "tests", "serving"))
    import fake_models

    return fake_models.FakeDetector()


def percentile_ms(latencies, q):
    return 1000.0 * float(np.percentile(latencies, q)) if latencies else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000,
                        help="Total requests (all clients).")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="Stop sending after this long.")
    parser.add_argument("--model", choices=["standin", "retinanet"],
                        default="standin")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)

    import grpc
    import tensorflow as tf

    from keras_lzu import saved_model_export
    from keras_lzu.serving import GrpcPredictionClient
    from keras_lzu.serving import LocalModelServer

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch, args.height, args.width, 3),
                          dtype=np.uint8)
    with tempfile.TemporaryDirectory() as export_dir:
        # The backbone sees half the resolution (a multiple of its stride).
        zoomed = (max(32, args.height // 64 * 32), max(32, args.width // 64 * 32))
        model = build_model(args.model, zoomed)
        saved_model_export.export(model, export_dir)
        serve = tf.saved_model.load(
            os.path.join(export_dir, "1")).signatures["serving_default"]
        serve(images=tf.constant(images))  # Warm up.
        in_process = []
        for _ in range(20):
            began = time.perf_counter()
            serve(images=tf.constant(images))
            in_process.append(time.perf_counter() - began)

        server = LocalModelServer(export_dir, "lzu",
                                  threads=max(args.clients, 4)).start()
        single = []
        with GrpcPredictionClient(server.target, "lzu", timeout=60) as client:
            client.predict(images)
            for _ in range(20):
                began = time.perf_counter()
                client.predict(images)
                single.append(time.perf_counter() - began)
        latencies, errors = [], []
        lock = threading.Lock()
        remaining = [args.requests]
        deadline = time.monotonic() + args.seconds

        def worker():
            with GrpcPredictionClient(server.target, "lzu",
                                      timeout=60) as client:
                client.predict(images)  # Connect and warm up.
                while time.monotonic() < deadline:
                    with lock:
                        if remaining[0] <= 0:
                            return
                        remaining[0] -= 1
                    began = time.perf_counter()
                    try:
                        client.predict(images)
                    except grpc.RpcError as error:
                        with lock:
                            errors.append(error.code().name)
                        continue
                    with lock:
                        latencies.append(time.perf_counter() - began)

        threads = [threading.Thread(target=worker)
                   for _ in range(args.clients)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        server.stop(grace=1.0)

    done = len(latencies)
    in_process_ms = percentile_ms(in_process, 50)
    p50 = percentile_ms(latencies, 50)
    rows = [
        ("model", f"{args.model} (input {args.batch}x{args.height}x"
                  f"{args.width}x3 uint8)"),
        ("clients", args.clients),
        ("requests ok", done),
        ("errors", f"{len(errors)} {sorted(set(errors))}" if errors else 0),
        ("wall time (s)", f"{elapsed:.1f}"),
        ("requests/s", f"{done / elapsed:.1f}"),
        ("latency p50 (ms)", f"{p50:.1f}"),
        ("latency p99 (ms)", f"{percentile_ms(latencies, 99):.1f}"),
        ("in-process p50 (ms)", f"{in_process_ms:.1f}"),
        ("1 client p50 (ms)", f"{percentile_ms(single, 50):.1f}"),
        ("gRPC overhead (ms)",
         f"{percentile_ms(single, 50) - in_process_ms:.1f} "
         "(1 client p50 - in-process p50)"),
        ("cpu count", os.cpu_count()),
        ("python", platform.python_version()),
        ("platform", platform.platform()),
        ("tensorflow", tf.__version__),
        ("grpcio", grpc.__version__),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
