"""The private Keras APIs keras_lzu uses still do what it relies on.

Every use lives in `keras_lzu.keras_internals`; a Keras upgrade that
removes or changes one fails here, named, before anything else breaks."""

import keras
import numpy as np
import pytest

from keras_lzu import keras_internals


def _two_layer_model():
    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(
        4, kernel_initializer="ones", name="hidden"
    )(inputs)
    outputs = keras.layers.Dense(
        2, kernel_initializer="ones", name="out"
    )(hidden)
    return keras.Model(inputs, outputs)


def test_run_through_graph_runs_the_model_with_one_layer_replaced():
    model = _two_layer_model()
    x = np.array([[1.0, 2.0, 3.0]], "float32")

    def operation_fn(operation):
        if operation.name != "hidden":
            return operation
        return lambda *args, **kwargs: 10.0 * operation(*args, **kwargs)

    outputs = keras_internals.run_through_graph(model, [x], operation_fn)
    # hidden = 6 per unit, scaled to 60; out = 4 * 60 per unit.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs), [[240.0, 240.0]]
    )
    kept = keras_internals.run_through_graph(model, [x], lambda op: op)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(kept),
        keras.ops.convert_to_numpy(model(x)),
    )


def test_run_through_graph_builds_a_new_functional_graph():
    model = _two_layer_model()
    images = keras.Input((3,))
    outputs = keras_internals.run_through_graph(
        model, [images], lambda op: op
    )
    rebuilt = keras.Model(images, outputs)
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(rebuilt(x)),
        keras.ops.convert_to_numpy(model(x)),
    )
    assert rebuilt.get_layer("hidden") is model.get_layer("hidden")


@pytest.mark.parametrize("structure", ["tensor", "list", "dict"])
def test_pack_as_inputs_follows_the_model_input_structure(structure):
    image = keras.Input((3,), name="images")
    inputs = {"tensor": image, "list": [image], "dict": {"images": image}}
    model = keras.Model(inputs[structure], keras.layers.Dense(2)(image))
    packed = keras_internals.pack_as_inputs(model, ["value"])
    assert packed == {
        "tensor": "value", "list": ["value"], "dict": {"images": "value"}
    }[structure]


def test_is_functional_tells_graph_models_from_others():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    assert keras_internals.is_functional(_two_layer_model())
    assert not keras_internals.is_functional(Subclassed())
    assert not keras_internals.is_functional(keras.layers.Dense(2))


def test_in_symbolic_scope_is_true_only_while_keras_traces_shapes():
    seen = []

    class Probe(keras.layers.Layer):
        def call(self, x):
            seen.append(keras_internals.in_symbolic_scope())
            return x

    probe = Probe()
    probe(keras.Input((3,)))  # shape inference: compute_output_spec
    symbolic, seen[:] = list(seen), []
    probe(np.ones((1, 3), "float32"))
    assert symbolic and all(symbolic)
    assert seen == [False]


def test_a_missing_private_name_is_a_clear_error():
    class NotFunctional:
        pass

    with pytest.raises(
        keras_internals.KerasInternalsError,
        match=r"private Function\._run_through_graph.*Keras 3\.15",
    ):
        keras_internals.run_through_graph(NotFunctional(), [], None)
    with pytest.raises(
        keras_internals.KerasInternalsError,
        match=r"private Functional\._inputs_struct",
    ):
        keras_internals.pack_as_inputs(NotFunctional(), [])
