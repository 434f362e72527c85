"""`lzu serve`, `lzu predict` and `lzu export`: each `*_main(argv)` parses
its own arguments (argv without the subcommand) and returns an exit code."""

import argparse
import logging
import os
import sys

from keras_lzu.serving.server import DEFAULT_MAX_IMAGE_PIXELS
from keras_lzu.serving.server import DEFAULT_MAX_MESSAGE_BYTES
from keras_lzu.serving.server import DEFAULT_REST_API_TIMEOUT_IN_MS


def serve_main(argv=None):
    """`lzu serve`: TF Serving's gRPC / REST API for exported models.

    Flags follow `tensorflow_model_server` where they apply.
    """
    parser = argparse.ArgumentParser(
        prog="lzu serve",
        description="Serve SavedModels exported by keras_lzu.export() over "
        "TF Serving's gRPC and REST APIs (for tests, CI and laptops; use "
        "TensorFlow Serving in production).",
    )
    parser.add_argument("--port", type=int, default=8500,
                        help="gRPC port (default 8500; 0 picks a free one).")
    parser.add_argument("--rest_api_port", type=int, default=0,
                        help="REST port (default 0: REST off).")
    parser.add_argument("--rest_api_timeout_in_ms", type=int,
                        default=DEFAULT_REST_API_TIMEOUT_IN_MS,
                        help="Close a REST connection that sends nothing "
                        "for this long (default 30000).")
    parser.add_argument("--rest_api_num_threads", type=int, default=None,
                        help="REST connections served at once (default 4 "
                        "per CPU); more wait to be accepted.")
    parser.add_argument("--model_name", default="lzu",
                        help="Name clients use (default 'lzu').")
    parser.add_argument("--model_base_path",
                        help="Directory of numbered SavedModel versions.")
    parser.add_argument("--model_config_file",
                        help="Text ModelServerConfig listing models.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="Interface to bind (default 127.0.0.1).")
    parser.add_argument("--max_message_bytes", type=int,
                        default=DEFAULT_MAX_MESSAGE_BYTES,
                        help="gRPC message / REST body limit in bytes.")
    parser.add_argument("--max_image_pixels", type=int,
                        default=DEFAULT_MAX_IMAGE_PIXELS,
                        help="Largest height * width accepted.")
    parser.add_argument("--threads", type=int, default=8,
                        help="gRPC worker threads.")
    parser.add_argument("--file_system_poll_wait_seconds", type=float,
                        default=1.0,
                        help="Look for new versions this often (0 = never).")
    parser.add_argument("--grace_seconds", type=float, default=5.0,
                        help="Time running requests get on SIGTERM.")
    args = parser.parse_args(argv)
    if (args.model_base_path is None) == (args.model_config_file is None):
        parser.error("give --model_base_path (with --model_name) or "
                     "--model_config_file")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    from keras_lzu.serving.server import LocalModelServer

    try:
        server = LocalModelServer(
            model_base_path=args.model_base_path, model_name=args.model_name,
            model_config_file=args.model_config_file, port=args.port,
            rest_api_port=args.rest_api_port, host=args.host,
            max_message_bytes=args.max_message_bytes,
            max_image_pixels=args.max_image_pixels, threads=args.threads,
            poll_seconds=args.file_system_poll_wait_seconds,
            rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
            rest_api_num_threads=args.rest_api_num_threads,
        ).start()
    except (OSError, ValueError) as error:
        print(f"lzu serve: {error}", file=sys.stderr)
        return 2
    rest = f", REST on {server.rest_url}" if server.rest_url else ""
    print(f"lzu serve: {server.repository.model_names} on gRPC "
          f"{server.target}{rest}", flush=True)
    server.serve_forever(grace=args.grace_seconds)
    print("lzu serve: stopped", flush=True)
    return 0


def predict_main(argv=None):
    """`lzu predict`: send images to a server and print the detections."""
    parser = argparse.ArgumentParser(
        prog="lzu predict",
        description="Run images through a model served by TF Serving or "
        "`lzu serve` and print one line per detection.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="JPEG or PNG files.")
    parser.add_argument("--server", default="127.0.0.1:8500",
                        help="gRPC HOST:PORT (default 127.0.0.1:8500).")
    parser.add_argument("--model_name", default="lzu")
    parser.add_argument("--model_version", type=int, default=None)
    parser.add_argument("--signature", default="serving_default",
                        choices=["serving_default", "predict_encoded"],
                        help="serving_default sends decoded pixels, "
                        "predict_encoded the files themselves.")
    parser.add_argument("--score_threshold", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--output",
                        help="Write an annotated PNG (IMAGE-index suffix "
                        "added for several images).")
    args = parser.parse_args(argv)
    from keras_lzu.serving.grpc_client import GrpcPredictionClient

    import grpc

    try:
        with GrpcPredictionClient(
            args.server, args.model_name, version=args.model_version,
            timeout=args.timeout,
        ) as client:
            for index, path in enumerate(args.images):
                with open(path, "rb") as f:
                    data = f.read()
                pixels = _decode(data)
                if args.signature == "predict_encoded":
                    outputs = client.predict_encoded(data)
                else:
                    outputs = client.predict(pixels)
                for line in format_outputs(path, outputs,
                                           args.score_threshold):
                    print(line)
                if args.output:
                    target = _output_path(args.output, index,
                                          len(args.images))
                    draw_outputs(pixels, outputs, target,
                                 args.score_threshold)
                    print(f"wrote {target}")
    except grpc.RpcError as error:
        print(f"lzu predict: {error.code().name}: {error.details()}",
              file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"lzu predict: {error}", file=sys.stderr)
        return 2
    return 0


def export_main(argv=None):
    """`lzu export`: export a saved `.keras` LZU model for TF Serving."""
    parser = argparse.ArgumentParser(
        prog="lzu export",
        description="Export a model saved with model.save('x.keras') (a "
        "keras_lzu.wrap() model) as a versioned SavedModel for TF Serving.",
    )
    parser.add_argument("--model", required=True, help="A .keras file.")
    parser.add_argument("--export_dir", required=True,
                        help="Model base path; versions go in subdirectories.")
    parser.add_argument("--version", type=int, default=None,
                        help="Version number (default: next free).")
    parser.add_argument("--max_image_size", type=int, nargs=2,
                        metavar=("HEIGHT", "WIDTH"), default=(8192, 8192))
    parser.add_argument(
        "--jit_compile_lzu", action="store_true",
        help="Compile the grid, zoom and unzooms with XLA inside the "
        "SavedModel (faster on CPU; tensorflow_model_server then needs "
        "--xla_cpu_compilation_enabled=true).",
    )
    args = parser.parse_args(argv)
    import keras_lzu
    from keras_lzu import saved_model_export as export_lib

    try:
        model = keras_lzu.load_model(args.model)
        path = export_lib.export(model, args.export_dir, version=args.version,
                                 max_image_size=args.max_image_size,
                                 jit_compile_lzu=args.jit_compile_lzu)
    except (OSError, ValueError) as error:
        print(f"lzu export: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0


def format_outputs(name, outputs, score_threshold=0.0):
    """Returns printable lines for one image's outputs (no batch axis).

    Detections print as `NAME class=C score=S box=[x1, y1, x2, y2]`;
    segmentation as the pixel count of each class.
    """
    import numpy as np

    if "masks" in outputs:
        classes, counts = np.unique(outputs["masks"], return_counts=True)
        return [f"{name} class={c} pixels={n}"
                for c, n in zip(classes.tolist(), counts.tolist())]
    count = int(outputs["num_detections"])
    lines = []
    for box, score, label in zip(outputs["boxes"][:count],
                                 outputs["scores"][:count],
                                 outputs["classes"][:count]):
        if score < score_threshold:
            continue
        coords = ", ".join(f"{v:.1f}" for v in box)
        lines.append(f"{name} class={int(label)} score={score:.3f} "
                     f"box=[{coords}]")
    if not lines:
        lines.append(f"{name} no detections")
    return lines


def draw_outputs(pixels, outputs, path, score_threshold=0.0):
    """Writes `pixels` with boxes (or a mask overlay) drawn, as a PNG."""
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    if "masks" in outputs:
        palette = np.random.default_rng(0).integers(0, 256, (256, 3))
        colors = palette[np.asarray(outputs["masks"]) % 256]
        blended = 0.5 * pixels + 0.5 * colors
        Image.fromarray(blended.astype(np.uint8)).save(path)
        return
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    count = int(outputs["num_detections"])
    for box, score, label in zip(outputs["boxes"][:count],
                                 outputs["scores"][:count],
                                 outputs["classes"][:count]):
        if score < score_threshold:
            continue
        draw.rectangle([float(v) for v in box], outline=(255, 0, 0), width=2)
        draw.text((float(box[0]) + 2, float(box[1]) + 2),
                  f"{int(label)}: {score:.2f}", fill=(255, 255, 0))
    image.save(path)


def _decode(data):
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _output_path(output, index, total):
    if total == 1:
        return output
    root, extension = os.path.splitext(output)
    return f"{root}-{index}{extension or '.png'}"
