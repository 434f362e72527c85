"""Wrap your own functional Keras model with LZU (`feature_layers=`).

Any functional model with one image input can have LZU: name the layers
whose 2-D feature maps should be unzoomed, and `keras_lzu.wrap` zooms the
images before the model and unzooms those feature maps, then runs the rest
of the model's graph unchanged, with the model's own layers and weights.
This script:

1. builds a small segmentation network with two feature levels (stride 2
   and stride 4), fused and upsampled to per-pixel class scores;
2. makes a saliency prior from the training boxes of synthetic driving
   scenes (`keras_lzu.saliency_prior_from_boxes`): where objects tend to be;
3. wraps the network: `keras_lzu.wrap(base, output_size, saliency=prior,
   feature_layers=["stride2", "stride4"])`;
4. trains it with the ordinary `compile` and `fit`; the layers after the
   unzoomed ones work in the uniform layout of `output_size`, so the masks
   are resized to `output_size`;
5. predicts masks in each image's own frame with `model.infer(images)`;
6. saves the model and loads it back with `keras_lzu.load_model`.

It writes OUT/model.keras, OUT/image.png (a validation image) and
OUT/mask.npy (the mask predicted for it, int32 class ids, 0 = background).

    python examples/wrap_functional_model.py --image-size 240 384 \\
        --output-size 120 192 --steps 50 --out wrapped_model
"""

import argparse
import os

import keras
import numpy as np
import tensorflow as tf

import keras_lzu
from keras_lzu.data import SyntheticDrivingScenes

SMOKE_TEST_ARGS = [
    "--image-size", "48", "64", "--output-size", "24", "32",
    "--train-images", "4", "--batch-size", "2", "--steps", "2",
    "--out", "{out}",
]


def build_segmenter(num_classes):
    """Your own model: any functional model with one image input."""
    images = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 255)(images)
    stride2 = keras.layers.Conv2D(
        16, 3, strides=2, padding="same", activation="relu", name="stride2"
    )(x)
    stride4 = keras.layers.Conv2D(
        32, 3, strides=2, padding="same", activation="relu", name="stride4"
    )(stride2)
    fused = keras.layers.Concatenate()(
        [stride2, keras.layers.UpSampling2D(2)(stride4)]
    )
    scores = keras.layers.Conv2D(num_classes, 1)(fused)
    scores = keras.layers.UpSampling2D(2, interpolation="bilinear")(scores)
    return keras.Model(images, scores, name="segmenter")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--image-size", type=int, nargs=2, default=(240, 384),
                        metavar=("HEIGHT", "WIDTH"),
                        help="size of the synthetic images")
    parser.add_argument("--output-size", type=int, nargs=2,
                        default=(120, 192), metavar=("HEIGHT", "WIDTH"),
                        help="zoomed size the network runs at "
                        "(multiples of 4)")
    parser.add_argument("--train-images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50,
                        help="training steps")
    parser.add_argument("--out", default="wrapped_model", help="output folder")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    height, width = args.image_size
    output_size = tuple(args.output_size)
    scenes = SyntheticDrivingScenes(image_size=(height, width), seed=0)
    num_classes = len(scenes.class_names) + 1  # + background

    train_boxes = [
        scenes.sample(index)["boxes"] for index in range(args.train_images)
    ]
    prior = keras_lzu.saliency_prior_from_boxes(
        train_boxes, image_size=(height, width)
    )

    base = build_segmenter(num_classes)
    model = keras_lzu.wrap(
        base, output_size, saliency=prior,
        feature_layers=["stride2", "stride4"],
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    train = scenes.as_segmentation_dataset(
        "train", batch_size=args.batch_size,
        num_samples=args.train_images, shuffle=True,
    ).map(lambda images, masks: (
        images, tf.image.resize(masks, output_size, method="nearest")
    )).repeat()
    model.fit(train, steps_per_epoch=args.steps, epochs=1, verbose=2)

    sample = scenes.sample(0, split="validation")
    image = sample["image"]
    mask = keras.ops.convert_to_numpy(
        model.infer(image[None].astype("float32"))["masks"]
    )[0]
    print(f"Predicted a {mask.shape} mask for a {image.shape[:2]} image: "
          f"pixel accuracy {np.mean(mask == sample['mask']):.3f} (background "
          f"alone covers {np.mean(sample['mask'] == 0):.3f})")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.keras")
    partial = os.path.join(args.out, "model.partial.keras")
    model.save(partial)
    os.replace(partial, path)  # a crash never leaves a truncated model.keras
    keras.utils.save_img(
        os.path.join(args.out, "image.png"), image, scale=False
    )
    np.save(os.path.join(args.out, "mask.npy"), mask)

    reloaded = keras_lzu.load_model(path)
    again = keras.ops.convert_to_numpy(
        reloaded.infer(image[None].astype("float32"))["masks"]
    )[0]
    print(f"Saved {path}; the reloaded model predicts the same mask: "
          f"{bool(np.array_equal(again, mask))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
