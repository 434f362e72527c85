"""Wrapped models train under XLA (`jit_compile=True`) wherever their base
model does, and Keras's default `jit_compile="auto"` resolves for a wrapper
as for its base model.

One tiny model per adapter fits one XLA-compiled step to a finite loss.
Compiling a whole train step takes a minute or more on 2 CPU cores, so only
the KerasHub RetinaNet runs by default; `LZU_SLOW_TESTS=1` runs the KerasCV
RetinaNet and every family of `family_checks` (KerasHub DeepLabV3,
SegFormer and D-FINE, KerasCV YOLOv8) too.
KerasCV's `DeepLabV3Plus` cannot compile: its `SpatialPyramidPooling` sets
`supports_jit = False` on TensorFlow, so Keras falls back to graph mode for
the base model and its wrapper alike (checked below instead of a fit).
"""

import os

import keras
import numpy as np
import pytest
from keras.src.trainers.trainer import model_supports_jit

import keras_lzu
from tests.models import conftest
from tests.models import family_checks
from tests.models import keras_hub_builders

pytestmark = pytest.mark.tensorflow_only

IMAGE_SIZE = (96, 128)
SLOW = pytest.mark.skipif(
    not os.environ.get("LZU_SLOW_TESTS"),
    reason="compiles a whole train step with XLA (minutes on 2 cores); "
    "set LZU_SLOW_TESTS=1",
)


def keras_cv_retinanet_case():
    images, boxes = conftest.square_images(1, IMAGE_SIZE)
    labels = {"boxes": boxes, "classes": np.ones((1, 1), "float32")}
    return (
        conftest.tiny_retinanet(),
        (64, 96),
        {"classification_loss": "focal", "box_loss": "smoothl1"},
        images,
        labels,
    )


def keras_hub_retinanet_case():
    images, boxes = conftest.square_images(1, IMAGE_SIZE)
    labels = {"boxes": boxes, "labels": np.ones((1, 1), "float32")}
    return keras_hub_builders.retinanet(), (64, 64), {}, images / 255, labels


def family_case(family):
    """A `family_checks` family as a case: its model, training batch and
    compile options, at the harness's sizes (what `test_families` fits)."""

    def case():
        images, labels = family_checks.training_batch(family)
        return (family.build(), family_checks.OUTPUT_SIZE,
                family.compile_options, images, labels)

    return case


FAMILY_CASES = [
    pytest.param(family_case(family), marks=SLOW, id=family.name)
    for family in family_checks.FAMILIES
    if family.name != "keras_hub_retinanet"
]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(keras_cv_retinanet_case, marks=SLOW,
                     id="keras_cv_retinanet"),
        pytest.param(keras_hub_retinanet_case, id="keras_hub_retinanet"),
        *FAMILY_CASES,
    ],
)
def test_wrapped_model_fits_a_step_under_xla(case):
    keras.utils.set_random_seed(7)
    base, output_size, losses, images, labels = case()
    model = keras_lzu.wrap(base, output_size)
    model.compile(optimizer="adam", jit_compile=True, **losses)
    assert model.jit_compile is True  # Keras kept XLA: every layer supports it.
    history = model.fit(images, labels, epochs=1, batch_size=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


FAMILIES = {family.name: family for family in family_checks.FAMILIES}


@pytest.mark.parametrize(
    "build, options",
    [
        (conftest.tiny_retinanet, {}),
        (conftest.tiny_deeplab, {}),
        (keras_hub_builders.retinanet, {}),
        (keras_hub_builders.deeplab, {}),
        *[(FAMILIES[name].build, FAMILIES[name].compile_options)
          for name in ("keras_hub_segformer", "keras_cv_yolov8",
                       "keras_hub_dfine")],
    ],
    ids=["keras_cv_retinanet", "keras_cv_deeplab", "keras_hub_retinanet",
         "keras_hub_deeplab", "keras_hub_segformer", "keras_cv_yolov8",
         "keras_hub_dfine"],
)
def test_jit_compile_resolves_for_the_wrapper_as_for_its_base(build, options):
    """`jit_compile="auto"` means XLA on accelerators where every layer
    supports it (`model_supports_jit`), graph mode on CPUs; an explicit
    `True` falls back to graph mode for the same models."""
    base = build()
    model = keras_lzu.wrap(base, family_checks.OUTPUT_SIZE)
    assert model_supports_jit(model) == model_supports_jit(base)
    for jit_compile in ("auto", True):
        model.compile(optimizer="sgd", jit_compile=jit_compile, **options)
        base.compile(optimizer="sgd", jit_compile=jit_compile, **options)
        assert model.jit_compile == base.jit_compile


def test_keras_cv_deeplab_base_cannot_compile_with_xla():
    """The reason its wrapper has no XLA fit test."""
    base = conftest.tiny_deeplab()
    assert not model_supports_jit(base)
    base.compile(optimizer="sgd", jit_compile=True)
    assert base.jit_compile is False
