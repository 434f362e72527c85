"""The models `lzu train` builds: the settings of a `TrainingConfig` reach
them, and they start where RetinaNet starts."""

import numpy as np
import pytest

import keras_lzu
from keras_lzu.data import saliency_prior_from_boxes
from keras_lzu.training import Training
from keras_lzu.training import TrainingConfig
from keras_lzu.training import build_base_model
from keras_lzu.training import build_model
from training_helpers import OUTPUT_SIZE
from training_helpers import read_json

pytestmark = pytest.mark.tensorflow_only


@pytest.mark.parametrize("library", ["keras_hub", "keras_cv"])
def test_anchor_matching_thresholds_reach_the_label_encoder(library,
                                                            tmp_path):
    config = TrainingConfig(
        task="detection", train_annotations="train.json",
        train_images="train", output_size=OUTPUT_SIZE, out=str(tmp_path),
        library=library, backbone="tiny", positive_iou=0.35,
        negative_iou=0.25,
    )
    model = build_model(config, num_classes=2, prior=np.ones((31, 51)))
    encoder = model.label_encoder
    assert (encoder.positive_threshold, encoder.negative_threshold) == (
        0.35, 0.25)
    if library == "keras_hub":
        model.save(tmp_path / "model.keras")
        encoder = keras_lzu.load_model(tmp_path / "model.keras").label_encoder
        assert (encoder.positive_threshold, encoder.negative_threshold) == (
            0.35, 0.25)


@pytest.mark.parametrize("library", ["keras_hub", "keras_cv"])
def test_default_thresholds_are_the_libraries_own(library):
    model = build_base_model("detection", library, 2, backbone="tiny")
    encoder = model.label_encoder
    assert (encoder.positive_threshold, encoder.negative_threshold) == (
        0.5, 0.4)


def test_keras_hub_detector_starts_at_the_prior_probability():
    # RetinaNet's classification bias makes every class 0.01 likely at
    # first (KerasHub gave that bias to its box head: 0.5).
    detector = build_base_model("detection", "keras_hub", 2, backbone="tiny")
    images = np.random.default_rng(0).uniform(0, 1, (2, 64, 96, 3))
    logits = np.asarray(detector(images.astype("float32"))["cls_logits"])
    probabilities = 1 / (1 + np.exp(-logits))
    assert np.median(probabilities) == pytest.approx(0.01, rel=0.2)


@pytest.mark.parametrize("settings, floor", [
    ({"prior_floor": 0.3}, 0.3),
    ({"plan": "none"}, 0.01),
])
def test_plan_none_and_prior_floor_give_the_fixed_kde_recipe(
        coco, tmp_path, settings, floor):
    content = read_json(coco.train)
    sizes = {i["id"]: (i["width"], i["height"]) for i in content["images"]}
    boxes = []
    for annotation in content["annotations"]:
        x, y, w, h = annotation["bbox"]
        width, height = sizes[annotation["image_id"]]
        boxes.append([x / width, y / height, (x + w) / width,
                      (y + h) / height])
    training = Training(TrainingConfig(
        task="detection", train_annotations=coco.train,
        train_images=coco.train_images, output_size=OUTPUT_SIZE,
        out=str(tmp_path), backbone="tiny", **settings,
    ))
    assert training.plan is None
    assert training.model.saliency_layer.separable
    saliency = np.asarray(training.model.saliency_layer.saliency())[0]
    expected = saliency_prior_from_boxes(np.array(boxes), floor=floor)
    np.testing.assert_allclose(saliency, expected, atol=1e-5)
    if floor != 0.01:
        default = saliency_prior_from_boxes(np.array(boxes))
        assert np.abs(saliency - default).max() > 0.01


def test_planned_prior_needs_a_budget_below_the_canvas(coco, tmp_path):
    with pytest.raises(ValueError, match="--plan none"):
        Training(TrainingConfig(
            task="detection", train_annotations=coco.train,
            train_images=coco.train_images, output_size=(96, 96),
            out=str(tmp_path), backbone="tiny",
        ))
