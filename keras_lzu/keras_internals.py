"""Every use of a private Keras API in keras_lzu, in one place.

Keras has no public way to do these things. Each function below wraps one
private name; tests/test_keras_internals.py checks what each one does on
the installed Keras, so a Keras upgrade that moves or changes one of them
fails there, by name, instead of deep inside `keras_lzu.wrap` or an op. At
run time a missing private name raises `KerasInternalsError`, which says
which one and which Keras was tested.

* `run_through_graph`: `Function._run_through_graph`, which re-runs a
  functional model's graph on new inputs and lets a function stand in for
  any operation. `wrap` uses it to run a model on zoomed images with the
  model's own layer objects (so weights are shared) while unzooming the
  outputs of the chosen feature layers.
* `is_functional`: whether a model has that graph
  (`keras.src.models.functional.Functional`; Keras adds it to the bases of
  any model subclass built from inputs and outputs).
* `pack_as_inputs`: `Functional._inputs_struct`, the nesting of a model's
  inputs (KerasCV's RetinaNet takes `{"images": ...}`), to build inputs of
  the same structure.
* `in_symbolic_scope`: `keras.src.backend.common.symbolic_scope`, whether
  Keras is only working out output shapes (`compute_output_spec`), when
  tensors have no values to validate.
"""

import keras

TESTED_KERAS = "3.15"


class KerasInternalsError(RuntimeError):
    """A private Keras API that keras_lzu relies on is missing."""


def _missing(name, error):
    return KerasInternalsError(
        f"keras_lzu relies on Keras's private {name}, which Keras "
        f"{keras.__version__} does not have (keras_lzu is tested with Keras "
        f"{TESTED_KERAS}; tests/test_keras_internals.py checks each such "
        f"use). Cause: {error!r}"
    )


def is_functional(model):
    """True for a Keras model built from a graph of layers (functional)."""
    try:
        from keras.src.models.functional import Functional
    except ImportError as error:
        raise _missing("keras.src.models.functional.Functional", error) \
            from None
    return isinstance(model, Functional)


def run_through_graph(model, inputs, operation_fn):
    """Runs a functional model's graph on `inputs`, calling
    `operation_fn(layer)` in place of each layer.

    Args:
        model: a functional `keras.Model`.
        inputs: tensors for the model's inputs, flat or in their structure.
        operation_fn: takes each operation (layer) of the graph and returns
            the callable to run in its place (the layer itself to keep it).

    Returns:
        The outputs, in the structure of the model's outputs.
    """
    try:
        run = model._run_through_graph
    except AttributeError as error:
        raise _missing("Function._run_through_graph", error) from None
    return run(inputs, operation_fn=operation_fn)


def pack_as_inputs(model, flat_inputs):
    """Nests `flat_inputs` in the structure of `model`'s inputs.

    Args:
        model: a functional `keras.Model`.
        flat_inputs: a list with one tensor per model input.

    Returns:
        The tensors in the structure the model was built with (a tensor, a
        list or a dict).
    """
    try:
        structure = model._inputs_struct
    except AttributeError as error:
        raise _missing("Functional._inputs_struct", error) from None
    return keras.tree.pack_sequence_as(structure, flat_inputs)


def in_symbolic_scope():
    """True while Keras traces shapes only (tensors have no values)."""
    try:
        from keras.src.backend.common.symbolic_scope import (
            in_symbolic_scope as keras_in_symbolic_scope,
        )
    except ImportError as error:
        raise _missing(
            "keras.src.backend.common.symbolic_scope.in_symbolic_scope", error
        ) from None
    return keras_in_symbolic_scope()
