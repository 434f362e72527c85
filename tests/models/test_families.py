"""The checks every family `keras_lzu.wrap` supports must pass, on every
backend (`tests/models/family_checks.py` describes the families).

Runs on TensorFlow and, in `make test`'s JAX and PyTorch passes, on JAX and
PyTorch (the KerasCV families on TensorFlow only); only the SavedModel
export is TensorFlow's, and other backends check that it says so.
"""

import importlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.models import DEFAULT_ANTIALIAS
from tests.models import family_checks
from tests.models.family_checks import FAMILIES
from tests.models.family_checks import IMAGE_SIZE
from tests.models.family_checks import OUTPUT_SIZE

per_family = pytest.mark.parametrize(
    "family", [family_checks.param(family) for family in FAMILIES]
)

FIT_STEPS_PER_EPOCH = 4
FIT_EPOCHS = 6


def adapter(family):
    return importlib.import_module(f"keras_lzu.models.{family.adapter}")


@pytest.fixture(scope="module")
def cache():
    return {}


def cached(cache, key, make):
    if key not in cache:
        cache[key] = make()
    return cache[key]


@pytest.fixture
def pair(cache, family):
    """The unwrapped model and its wrapped model with a uniform saliency."""

    def make():
        base = family.build()
        return base, keras_lzu.wrap(base, OUTPUT_SIZE)

    return cached(cache, ("pair", family.name), make)


def without_names(config):
    """`config` without the layer names Keras numbers per process."""
    if isinstance(config, dict):
        return {
            key: without_names(value) for key, value in config.items()
            if key != "name"
        }
    if isinstance(config, (list, tuple)):
        return [without_names(value) for value in config]
    return config


def train(family):
    """A freshly built model, wrapped and fit on tf.data; its history and
    the saliency before training."""
    model = keras_lzu.wrap(family.build(), OUTPUT_SIZE)
    before = keras.ops.convert_to_numpy(model.saliency_layer.log_saliency)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2), **family.compile_options
    )
    # Built before `fit`, the optimizer makes no variables while TensorFlow
    # traces the training step, which it would then trace a second time.
    model.optimizer.build(model.trainable_variables)
    dataset = tf.data.Dataset.from_tensors(
        family_checks.training_batch(family)
    ).repeat()
    history = model.fit(
        dataset, steps_per_epoch=FIT_STEPS_PER_EPOCH, epochs=FIT_EPOCHS,
        verbose=0,
    )
    return model, history.history["loss"], before


@pytest.fixture
def trained(cache, family):
    return cached(cache, ("trained", family.name), lambda: train(family))


@per_family
def test_wrap_returns_the_task_class_with_lzu_metadata(family, pair):
    base, wrapped = pair
    assert isinstance(wrapped, type(base))
    assert type(base).__name__ == family.task_class
    assert adapter(family).matches(base)
    assert not adapter(family).matches(wrapped)
    assert wrapped.lzu_metadata == {
        "task": family.task,
        "output_size": list(OUTPUT_SIZE),
        "num_classes": family_checks.NUM_CLASSES,
        "bounding_box_format": family.bounding_box_format,
        "antialias": DEFAULT_ANTIALIAS,
    }


@per_family
def test_matches_does_not_import_its_library_for_other_models(
    family, monkeypatch
):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    # Any `import keras_hub` (or `keras_cv`) now raises ImportError.
    monkeypatch.setitem(sys.modules, family.library, None)
    assert not adapter(family).matches(model)


@per_family
def test_uniform_saliency_gives_the_raw_outputs_of_resized_images(
    family, pair
):
    base, wrapped = pair
    x = family_checks.images()
    ours = keras.tree.map_structure(
        keras.ops.convert_to_numpy, wrapped(x, training=False)
    )
    expected = family_checks.raw_reference(family, base, x)
    keras.tree.map_structure(
        lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4),
        ours, expected,
    )


@per_family
def test_predictions_are_in_the_callers_frame(family, pair):
    base, wrapped = pair
    family_checks.check_predictions_in_callers_frame(
        family, base, wrapped, family_checks.images(seed=2)
    )


@per_family
def test_fit_on_tf_data_lowers_the_loss_and_trains_the_saliency(
    family, trained
):
    model, losses, before = trained
    assert len(losses) == FIT_EPOCHS
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0], losses
    after = keras.ops.convert_to_numpy(model.saliency_layer.log_saliency)
    assert not np.allclose(after, before)


@per_family
def test_keras_file_round_trip_gives_identical_outputs(
    family, trained, tmp_path
):
    model = trained[0]
    path = str(tmp_path / f"{family.name}.keras")
    model.save(path)
    reloaded = keras_lzu.load_model(path)
    assert type(reloaded) is type(model)
    # Settings the weights do not carry (RetinaNet's class prior) survive.
    assert without_names(reloaded.wrapped_config()) == without_names(
        model.wrapped_config()
    )
    assert reloaded.lzu_metadata == model.lzu_metadata
    x = family_checks.images(seed=3)
    keras.tree.map_structure(
        np.testing.assert_array_equal,
        keras.tree.map_structure(
            keras.ops.convert_to_numpy, model(x, training=False)
        ),
        keras.tree.map_structure(
            keras.ops.convert_to_numpy, reloaded(x, training=False)
        ),
    )


@pytest.fixture(scope="module")
def exported(cache, tmp_path_factory):
    """Every family's trained model exported with `keras_lzu.export`, and
    uint8 images to serve: `(root, {family name: version path}, pixels)`."""
    pixels = family_checks.images(seed=4, pixels=True)
    root = tmp_path_factory.mktemp("exports")
    np.save(root / "images.npy", pixels.astype("uint8"))
    paths = {}
    for family in FAMILIES:
        model = cached(cache, ("trained", family.name), lambda: train(family))
        paths[family.name] = keras_lzu.export(model[0], root / family.name)
    return root, paths, pixels


@pytest.fixture(scope="module")
def served(exported):
    """Every family's export answered by `serving_default` in one fresh
    process that imports TensorFlow only: `{family name: outputs}`."""
    root, paths, _ = exported
    # `import tensorflow` imports Keras itself; loading and serving must
    # import nothing more of it, and keras_lzu / KerasCV / KerasHub not at
    # all.
    script = textwrap.dedent(
        """
        import importlib.abc, json, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("keras_lzu", "keras_cv",
                                          "keras_hub"):
                    raise ImportError(f"{name} must not be needed")

        sys.meta_path.insert(0, Block())
        import numpy as np
        import tensorflow as tf
        baseline = set(sys.modules)

        paths = json.loads(sys.argv[1])
        images = tf.constant(np.load(sys.argv[2]))
        for name, path in paths.items():
            serve = tf.saved_model.load(path).signatures["serving_default"]
            outputs = serve(images=images)
            np.savez(f"{sys.argv[3]}/{name}.npz",
                     **{k: v.numpy() for k, v in outputs.items()})
        added = {m.split(".")[0] for m in set(sys.modules) - baseline}
        assert not added & {"keras", "keras_lzu", "keras_cv", "keras_hub"}, (
            added
        )
        """
    )
    subprocess.run(
        [sys.executable, "-c", script, json.dumps(paths),
         str(root / "images.npy"), str(root)],
        check=True, env={**os.environ, "KERAS_BACKEND": "tensorflow"},
    )
    return {
        family.name: dict(np.load(root / f"{family.name}.npz"))
        for family in FAMILIES
    }


@pytest.fixture
def served_expected(cache, family, trained, exported):
    """What serving the exported images must return, from `predict`."""
    return cached(
        cache, ("served_expected", family.name),
        lambda: family_checks.served_from_predict(
            family, trained[0], exported[2]
        ),
    )


def assert_served_as_predicted(ours, expected):
    assert set(ours) == set(expected)
    for key, value in expected.items():
        assert ours[key].dtype == value.dtype, key
        # The export's fixed grid is a constant that TensorFlow folds into
        # the sampling coordinates, so the last float32 bits may differ from
        # `predict`'s; an untrained detector's exploding boxes (1e13 px)
        # scale that up, hence a relative tolerance beside the absolute one.
        np.testing.assert_allclose(ours[key], value, atol=1e-3, rtol=1e-4,
                                   err_msg=key)


@pytest.mark.tensorflow_only
@per_family
def test_export_answers_in_a_tensorflow_only_process_as_predict(
    family, served, served_expected
):
    assert_served_as_predicted(served[family.name], served_expected)


@pytest.fixture(scope="module")
def model_server(exported):
    """What `lzu serve --model_config_file` runs, on every family's
    export (each served under its family's name)."""
    from keras_lzu.serving import LocalModelServer

    root, paths, _ = exported
    config = root / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{root / name}" '
            'model_platform: "tensorflow" }\n'
            for name in paths
        )
        + "}\n"
    )
    server = LocalModelServer(model_config_file=str(config)).start()
    yield server
    server.stop(grace=1.0)


@pytest.mark.tensorflow_only
@per_family
def test_lzu_serve_answers_over_grpc_as_predict(
    family, exported, model_server, served_expected
):
    from keras_lzu.serving import GrpcPredictionClient

    with GrpcPredictionClient(
        model_server.target, family.name, retries=0
    ) as client:
        ours = client.predict(exported[2].astype("uint8"))
    assert_served_as_predicted(ours, served_expected)


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="exporting on TensorFlow is checked above",
)
@per_family
def test_export_on_another_backend_names_the_backend(family, pair, tmp_path):
    with pytest.raises(RuntimeError, match=keras.backend.backend()):
        keras_lzu.export(pair[1], tmp_path / "export")
    assert not os.path.exists(tmp_path / "export")


@per_family
def test_output_size_that_the_strides_refuse_is_named(family, pair):
    with pytest.raises(
        ValueError, match=rf"`output_size` must be a multiple of {family.stride}"
    ):
        keras_lzu.wrap(pair[0], family.bad_output_size)


@per_family
def test_images_with_another_channel_count_are_rejected(family, pair):
    # After a predict on other images, Keras retraces with unknown shapes.
    pair[1].predict(family_checks.images(), verbose=0)
    wrong = np.zeros((1, *IMAGE_SIZE, 1), "float32")
    with pytest.raises(ValueError, match="must have 3 channels"):
        pair[1](wrong)
    with pytest.raises(ValueError, match="must have 3 channels"):
        pair[1].predict(wrong, verbose=0)


def test_a_model_of_an_unsupported_family_is_named():
    import keras_hub

    from tests.models import keras_hub_builders

    classifier = keras_hub.models.ImageClassifier(
        backbone=keras_hub_builders.TinyPyramidEncoder(), num_classes=2
    )
    with pytest.raises(
        TypeError,
        match=r"does not support ImageClassifier\. Supported families: .*"
        r"SegFormerImageSegmenter.*feature_layers",
    ):
        keras_lzu.wrap(classifier, OUTPUT_SIZE)
