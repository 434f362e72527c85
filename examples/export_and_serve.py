"""Export an LZU model, serve it as TF Serving does, query it by gRPC and REST.

1. Takes a model made by `keras_lzu.wrap` (a `.keras` file given with
   `--model`, such as wrap_functional_model.py or `lzu train` write) or
   builds a small wrapped segmenter;
2. `keras_lzu.export(model, OUT/export)` writes a versioned SavedModel in
   TensorFlow Serving's layout (OUT/export/1/);
3. starts the local TF-Serving-compatible server in this process
   (`keras_lzu.serving.LocalModelServer`, what `lzu serve` runs) with gRPC
   and REST on free loopback ports;
4. sends a uint8 image with `GrpcPredictionClient` and with
   `RestPredictionClient`, and its PNG file to the `predict_encoded`
   signature, and compares the answers with `model.infer` run in this
   process.

The clients speak TensorFlow Serving's own protocol, so they work unchanged
against the official server. To serve the export with the
`tensorflow/serving` image (the files are in serving/ of the repository):

    LZU_EXPORT_DIR=$PWD/OUT/export \\
        docker compose -f serving/docker-compose.yml up -d

then query `GrpcPredictionClient("127.0.0.1:8500", "lzu")` or
`RestPredictionClient("http://127.0.0.1:8501", "lzu")`. The local server
from a shell: `lzu serve --model_name lzu --model_base_path OUT/export
--port 8500 --rest_api_port 8501`.

It writes OUT/export/<version>/ (the SavedModel), OUT/image.png (the image
sent) and OUT/served.npz (each output as `grpc_<name>`, `rest_<name>`,
`encoded_<name>` and, computed in this process, `keras_<name>`).

    python examples/export_and_serve.py --out served
    python examples/export_and_serve.py \\
        --model wrapped_model/model.keras --out served
"""

import argparse
import os

import keras
import numpy as np

import keras_lzu
from keras_lzu.data import SyntheticDrivingScenes
from keras_lzu.serving import GrpcPredictionClient
from keras_lzu.serving import LocalModelServer
from keras_lzu.serving import RestPredictionClient

SMOKE_TEST_ARGS = ["--image-size", "60", "90", "--out", "{out}"]


def small_wrapped_segmenter(num_classes, output_size):
    images = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 255)(images)
    features = keras.layers.Conv2D(
        16, 3, strides=2, padding="same", activation="relu", name="features"
    )(x)
    scores = keras.layers.Conv2D(num_classes, 1)(features)
    scores = keras.layers.UpSampling2D(2, interpolation="bilinear")(scores)
    base = keras.Model(images, scores, name="segmenter")
    return keras_lzu.wrap(base, output_size, feature_layers=["features"])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--model", help="a .keras file saved from a model "
                        "that keras_lzu.wrap made (default: a small one)")
    parser.add_argument("--image-size", type=int, nargs=2, default=(240, 384),
                        metavar=("HEIGHT", "WIDTH"),
                        help="size of the synthetic image sent")
    parser.add_argument("--out", default="served", help="output folder")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.model:
        model = keras_lzu.load_model(args.model)
    else:
        model = small_wrapped_segmenter(num_classes=6, output_size=(32, 48))
    os.makedirs(args.out, exist_ok=True)
    version_dir = keras_lzu.export(model, os.path.join(args.out, "export"))
    print(f"Exported {version_dir}")

    image = SyntheticDrivingScenes(image_size=tuple(args.image_size)).sample(
        0, split="validation")["image"]
    image_path = os.path.join(args.out, "image.png")
    keras.utils.save_img(image_path, image, scale=False)
    with open(image_path, "rb") as file:
        png = file.read()

    with LocalModelServer(os.path.join(args.out, "export"), "lzu",
                          rest=True) as server:
        print(f"Serving gRPC on {server.target}, REST on {server.rest_url}")
        with GrpcPredictionClient(server.target, "lzu") as client:
            print("Model status:", client.get_model_status())
            print("LZU metadata:", client.get_lzu_metadata())
            grpc_outputs = client.predict(image)
            encoded_outputs = client.predict_encoded(png)
        rest_outputs = RestPredictionClient(server.rest_url, "lzu").predict(
            image)

    keras_outputs = {
        name: keras.ops.convert_to_numpy(value)[0]
        for name, value in model.infer(image[None].astype("float32")).items()
    }
    answers = {"grpc": grpc_outputs, "rest": rest_outputs,
               "encoded": encoded_outputs, "keras": keras_outputs}
    for name, value in keras_outputs.items():
        differences = {
            source: float(np.max(np.abs(
                np.asarray(outputs[name], "float64") - value), initial=0.0))
            for source, outputs in answers.items() if source != "keras"
        }
        print(f"{name} {value.shape}: largest difference from model.infer "
              f"in this process: {differences}")
    np.savez(
        os.path.join(args.out, "served.npz"),
        **{f"{source}_{name}": value
           for source, outputs in answers.items()
           for name, value in outputs.items()},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
