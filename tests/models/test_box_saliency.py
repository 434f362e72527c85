"""`keras_lzu.wrap(detector, ..., saliency="boxes" | "prior+boxes")`.

References: a wrapper with prior boxes of padding only must compute what
the uniform (or fixed-prior) wrapper of the same detector computes; a box
prior must magnify its box, measured with `keras_lzu.ops.warp_boxes`; bad
prior boxes raise errors naming `prior_boxes` (see
`keras_lzu.models.prior_boxes`; the same check fails a TensorFlow graph,
tested through a SavedModel in tests/serving/test_serving_with_boxes.py).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.data import with_previous_detections
from keras_lzu.models import prior_boxes as prior_boxes_lib
from tests.models import keras_hub_builders
from tests.models.conftest import tiny_functional_segmenter

pytestmark = pytest.mark.tensorflow_only

OUTPUT_SIZE = (64, 64)
IMAGE_SIZE = (128, 192)
GRID_SHAPE = (9, 13)
# A small box in the caller's frame (pixel xyxy), away from the centre.
BOX = np.array([16.0, 80.0, 48.0, 112.0], "float32")


@pytest.fixture(scope="module")
def detector():
    keras.utils.set_random_seed(7)
    return keras_hub_builders.retinanet()


@pytest.fixture(scope="module")
def prior():
    prior = np.ones(GRID_SHAPE, "float32")
    prior[4:6] = 8.0
    return prior


def wrap(detector, saliency, **kwargs):
    model = keras_lzu.wrap(
        detector, OUTPUT_SIZE, saliency=saliency, grid_shape=GRID_SHAPE,
        **kwargs,
    )
    model.compile(run_eagerly=True)
    return model


@pytest.fixture(scope="module")
def boxes_model(detector):
    return wrap(detector, "boxes")


@pytest.fixture(scope="module")
def combined_model(detector, prior):
    return wrap(detector, "prior+boxes", prior=prior)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return rng.uniform(0, 1, (2, *IMAGE_SIZE, 3)).astype("float32")


def padding(batch=2, rows=3):
    return np.full((batch, rows, 4), -1.0, "float32")


def with_box(box=BOX, rows=3):
    boxes = padding(rows=rows)
    boxes[0, 0] = box
    return boxes


def raw(model, images, prior_boxes):
    outputs = model({"images": images, "prior_boxes": prior_boxes})
    return {key: np.asarray(value) for key, value in outputs.items()}


def assert_outputs_close(ours, reference, atol=1e-4):
    assert set(ours) == set(reference)
    for key in ours:
        np.testing.assert_allclose(ours[key], reference[key], atol=atol)


def grid_of(model, images, prior_boxes):
    normalized = model.get_layer("lzu_prior_boxes")([prior_boxes, images])
    return model.saliency_layer([images, normalized]), normalized


def test_inputs_are_images_and_prior_boxes(boxes_model):
    assert sorted(boxes_model.input) == ["images", "prior_boxes"]
    assert boxes_model.takes_prior_boxes


def test_padding_only_equals_the_uniform_wrapper(detector, boxes_model,
                                                 images):
    uniform = wrap(detector, "fixed")
    reference = {
        key: np.asarray(value) for key, value in uniform(images).items()
    }
    assert_outputs_close(raw(boxes_model, images, padding()), reference)


def test_padding_only_equals_the_fixed_prior_wrapper(
    detector, combined_model, prior, images
):
    fixed = wrap(detector, prior)
    reference = {
        key: np.asarray(value) for key, value in fixed(images).items()
    }
    ours = raw(combined_model, images, padding())
    assert_outputs_close(ours, reference)
    # The prior is not uniform: the reference differs from no zoom at all.
    uniform = wrap(detector, "fixed")(images)
    assert np.abs(
        np.asarray(uniform["cls_logits"]) - reference["cls_logits"]
    ).max() > 1e-3


@pytest.mark.parametrize("saliency", ["boxes", "prior+boxes"])
def test_a_prior_box_magnifies_its_region(boxes_model, combined_model,
                                          images, saliency):
    model = boxes_model if saliency == "boxes" else combined_model
    grid, normalized = grid_of(model, images, with_box())
    box = np.asarray(normalized)[:1, :1]
    np.testing.assert_allclose(
        box[0, 0], BOX / np.array([192, 128, 192, 128]), atol=1e-6
    )
    no_box, _ = grid_of(model, images, padding())

    def zoomed_area(grid):
        b = np.asarray(keras_lzu.ops.warp_boxes(box, grid[:1]))[0, 0]
        return (b[2] - b[0]) * (b[3] - b[1])

    # The box takes a larger share of the zoomed image than without it.
    assert zoomed_area(grid) > 1.3 * zoomed_area(no_box)
    if saliency == "boxes":
        area = (box[0, 0, 2] - box[0, 0, 0]) * (box[0, 0, 3] - box[0, 0, 1])
        np.testing.assert_allclose(zoomed_area(no_box), area, rtol=1e-3)
    # The second image has no box: its grid is the one of padding only.
    np.testing.assert_allclose(grid[1], no_box[1], atol=1e-6)


def test_predictions_follow_the_prior_boxes(boxes_model, images):
    ours = boxes_model.predict(
        {"images": images, "prior_boxes": with_box()}, verbose=0
    )
    plain = boxes_model.predict(
        {"images": images, "prior_boxes": padding()}, verbose=0
    )
    # The first image is zoomed on its box, the second is not.
    assert not np.allclose(ours["confidence"][0], plain["confidence"][0])
    np.testing.assert_allclose(
        ours["confidence"][1], plain["confidence"][1], atol=1e-5
    )


def labels(batch=2):
    boxes = np.full((batch, 2, 4), -1.0, "float32")
    boxes[:, 0] = [30, 20, 120, 90]
    classes = np.full((batch, 2), -1.0, "float32")
    classes[:, 0] = 1
    return {"boxes": boxes, "labels": classes}


def test_fits_on_tf_data_with_simulated_previous_detections(
    detector, images
):
    model = wrap(detector, "prior+boxes")
    model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels())).batch(2)
    dataset = with_previous_detections(dataset, seed=0, drop_rate=0.0)
    (inputs, _), = dataset.take(1)
    assert inputs["prior_boxes"].shape[-1] == 4
    assert np.any(inputs["prior_boxes"].numpy() >= 0)
    before = [np.array(w) for w in model.saliency_layer.weights]
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [np.array(w) for w in model.saliency_layer.weights]
    # Every saliency weight (prior, bandwidth, amplitude) was trained.
    for old, new in zip(before, after):
        assert np.all(np.isfinite(new)) and not np.array_equal(old, new)


def test_preprocessor_rescales_images_and_passes_prior_boxes(images):
    import keras_hub

    preprocessor = keras_hub.models.RetinaNetObjectDetectorPreprocessor(
        image_converter=keras_hub.layers.RetinaNetImageConverter(
            scale=1 / 255.0, bounding_box_format="xyxy"
        )
    )
    model = keras_lzu.wrap(
        keras_hub_builders.retinanet(preprocessor=preprocessor), OUTPUT_SIZE,
        saliency="boxes", grid_shape=GRID_SHAPE,
    )
    x, y = model.preprocess_samples(
        {"images": images * 255.0, "prior_boxes": with_box()}, labels()
    )
    np.testing.assert_allclose(x["images"], images, atol=1e-5)
    np.testing.assert_array_equal(x["prior_boxes"], with_box())
    np.testing.assert_array_equal(y["boxes"], labels()["boxes"])


def test_keras_round_trip_gives_identical_outputs(combined_model, images,
                                                  tmp_path):
    path = str(tmp_path / "combined.keras")
    combined_model.save(path)
    loaded = keras_lzu.load_model(path)
    assert loaded.saliency_layer.mode == "prior+boxes"
    prior_boxes = with_box()
    assert_outputs_close(
        raw(loaded, images, prior_boxes),
        raw(combined_model, images, prior_boxes), atol=0,
    )


def test_keras_cv_retinanet_takes_prior_boxes(retinanet_base):
    size = (64, 96)
    images = np.random.default_rng(1).uniform(
        0, 255, (1, 96, 144, 3)
    ).astype("float32")
    uniform = keras_lzu.wrap(retinanet_base, size, grid_shape=GRID_SHAPE)
    boxes = keras_lzu.wrap(
        retinanet_base, size, saliency="boxes", grid_shape=GRID_SHAPE
    )
    reference = uniform({"images": images})
    ours = boxes({"images": images, "prior_boxes": padding(batch=1)})
    for key in reference:
        np.testing.assert_allclose(ours[key], reference[key], atol=1e-4)
    zoomed = boxes({"images": images, "prior_boxes": with_box()[:1]})
    assert not np.allclose(zoomed["classification"], ours["classification"])
    y = {"boxes": labels(1)["boxes"], "classes": labels(1)["labels"]}
    boxes.compile(
        optimizer="sgd", classification_loss="focal", box_loss="smoothl1",
        run_eagerly=True,
    )
    history = boxes.fit(
        {"images": images, "prior_boxes": with_box()[:1]}, y, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])


# Bad input.


@pytest.mark.parametrize(
    "value, message",
    [
        (np.nan, "must hold finite values"),
        (np.inf, "must hold finite values"),
    ],
)
def test_non_finite_prior_boxes_are_rejected(boxes_model, images, value,
                                             message):
    prior_boxes = with_box()
    prior_boxes[0, 0, 2] = value
    with pytest.raises(ValueError, match=f"`prior_boxes`.*{message}"):
        raw(boxes_model, images, prior_boxes)


def test_inverted_corners_are_rejected(boxes_model, images):
    inverted = with_box(BOX[[2, 1, 0, 3]])
    with pytest.raises(ValueError, match="`prior_boxes`.*inverted corners"):
        raw(boxes_model, images, inverted)


@pytest.mark.parametrize(
    "prior_boxes",
    [np.zeros((2, 4), "float32"), np.zeros((2, 3, 5), "float32"),
     np.zeros((2, 1, 3, 4), "float32")],
)
def test_prior_boxes_of_a_wrong_shape_are_rejected(boxes_model, images,
                                                   prior_boxes):
    with pytest.raises(ValueError, match=r"`prior_boxes` must have shape"):
        raw(boxes_model, images, prior_boxes)


def test_prior_boxes_for_another_batch_size_are_rejected(boxes_model,
                                                        images):
    with pytest.raises(ValueError, match="`prior_boxes` must hold one row"):
        raw(boxes_model, images, padding(batch=3))


@pytest.mark.parametrize(
    "inputs", [lambda images: images, lambda images: {"images": images}]
)
def test_missing_prior_boxes_are_rejected(boxes_model, images, inputs):
    with pytest.raises(ValueError, match="'prior_boxes'"):
        boxes_model(inputs(images))


def test_boxes_outside_the_frame_are_clipped(boxes_model, images):
    # The image is 192 wide and 128 tall.
    reaching_out = with_box(np.array([-24, 80, 48, 172], "float32"))
    inside = raw(boxes_model, images, with_box(np.array([0, 80, 48, 128])))
    assert_outputs_close(
        raw(boxes_model, images, reaching_out), inside, atol=1e-6
    )
    no_box = raw(boxes_model, images, padding())
    assert not np.allclose(inside["cls_logits"], no_box["cls_logits"])
    # A box wholly outside the image carries no saliency, like padding.
    outside = with_box(np.array([200, 10, 260, 40], "float32"))
    assert_outputs_close(raw(boxes_model, images, outside), no_box,
                         atol=1e-6)


def test_padding_only_has_finite_gradients(combined_model, images):
    y = labels()
    inputs = {"images": images, "prior_boxes": padding()}
    with tf.GradientTape() as tape:
        y_pred = combined_model(inputs, training=True)
        loss = combined_model.compute_loss(inputs, y, y_pred)
    weights = combined_model.saliency_layer.trainable_weights
    assert len(weights) == 3
    gradients = tape.gradient(loss, weights)
    for gradient in gradients:
        assert np.all(np.isfinite(gradient))
    # The prior's saliency is trained even without boxes.
    assert np.abs(gradients[0]).max() > 0


def test_unchecked_bad_boxes_never_make_a_nan_grid(combined_model, images):
    """Under XLA values go unchecked: bad rows count as padding."""
    bad = padding()
    bad[0, 0] = [np.nan, 1, 5, 5]
    bad[0, 1] = [40, 40, 10, 50]
    layer = combined_model.get_layer("lzu_prior_boxes")
    saliency = combined_model.saliency_layer

    @tf.function(jit_compile=True)
    def grid(prior_boxes):
        return saliency([images, layer([prior_boxes, images])])

    np.testing.assert_allclose(grid(bad), grid(padding()), atol=1e-6)


def test_prior_boxes_layer_converts_formats_and_keeps_padding():
    layer = prior_boxes_lib.PriorBoxesToSaliency("center_xywh")
    boxes = np.array([[[40, 20, 20, 10], [-1, -1, -1, -1]]], "float32")
    images = np.zeros((1, 40, 80, 3), "float32")
    np.testing.assert_allclose(
        layer([boxes, images]),
        [[[30 / 80, 15 / 40, 50 / 80, 25 / 40], [-1, -1, -1, -1]]],
        atol=1e-6,
    )


def test_segmenters_are_refused_with_the_supported_detectors():
    with pytest.raises(ValueError, match="RetinaNet"):
        keras_lzu.wrap(
            tiny_functional_segmenter(), (32, 48), saliency="boxes",
            feature_layers=["stem"],
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"saliency": "boxes", "prior": np.ones((3, 3))}, "`prior`"),
        ({"saliency": "bogus"}, "`saliency` must be one of"),
        ({"saliency": np.ones((3, 3)), "prior": np.ones((3, 3))}, "not both"),
    ],
)
def test_bad_saliency_arguments_are_rejected(detector, kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_lzu.wrap(detector, OUTPUT_SIZE, **kwargs)
