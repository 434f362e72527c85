"""The LZU layers traced inside `compiled_lzu_layers()` run as XLA clusters
of a TensorFlow graph, with the results of the NumPy reference."""

import numpy as np
import pytest

import reference
from keras_lzu import InvertGrid, SaliencyGrid, UnzoomLayer, ZoomLayer
from keras_lzu.layers import xla_clusters

pytestmark = pytest.mark.tensorflow_only

ZOOMED_SIZE = (24, 32)


def _layers(separable):
    """The four layers, built (as in an exported model)."""
    prior = np.ones((9, 13), "float32")
    prior[3:5, 4:8] = 12.0
    saliency = SaliencyGrid("fixed", grid_shape=(9, 13), separable=separable,
                            prior=prior, name="saliency")
    saliency.build((None, None, None, 3))
    return (
        saliency,
        ZoomLayer(ZOOMED_SIZE, separable=separable, name="zoom"),
        InvertGrid(separable=separable, name="invert"),
        UnzoomLayer((20, 28), name="unzoom"),
    )


def _forward_graph(layers, trace_in_scope):
    """A concrete `tf.function` of the four layers on images of any size,
    traced inside `compiled_lzu_layers()` or not; and what it compiled."""
    import tensorflow as tf

    saliency, zoom, invert, unzoom = layers

    def forward(images):
        grid = saliency(images)
        zoomed = zoom([images, grid])
        return grid, zoomed, unzoom([zoomed, invert(grid)])

    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    function = tf.function(forward)
    if not trace_in_scope:
        return function.get_concrete_function(spec), []
    with xla_clusters.compiled_lzu_layers() as compiled:
        return function.get_concrete_function(spec), compiled


def _xla_functions(concrete):
    library = concrete.graph.as_graph_def().library.function
    return [f for f in library if f.attr["_XlaMustCompile"].b]


@pytest.mark.parametrize("separable", [True, False])
def test_layers_traced_in_the_scope_are_xla_clusters_exact_as_reference(
        separable, rng):
    layers = _layers(separable)
    compiled_forward, compiled = _forward_graph(layers, trace_in_scope=True)
    assert compiled == ["saliency", "zoom", "invert", "unzoom"]
    assert len(_xla_functions(compiled_forward)) == 4

    images = rng.uniform(0, 255, (2, 50, 70, 3)).astype("float32")
    grid, zoomed, unzoomed = (t.numpy() for t in compiled_forward(images))
    np.testing.assert_allclose(
        grid, layers[0](images).numpy(), atol=1e-6)
    grid = grid[0].astype("float64")
    np.testing.assert_allclose(
        zoomed, reference.zoom(images, grid[None], ZOOMED_SIZE), atol=2e-3)
    invert = (reference.invert_separable if separable
              else reference.invert_brute_force)
    for b in range(2):
        np.testing.assert_allclose(
            unzoomed[b], reference.unzoom(zoomed[b], grid, (20, 28), invert),
            atol=2e-3)


def test_layers_traced_outside_the_scope_stay_plain_graph_ops():
    forward, _ = _forward_graph(_layers(True), trace_in_scope=False)
    assert _xla_functions(forward) == []


def test_eager_calls_in_the_scope_are_not_compiled(rng):
    saliency, zoom, _, _ = _layers(True)
    images = rng.uniform(0, 255, (1, 30, 40, 3)).astype("float32")
    with xla_clusters.compiled_lzu_layers() as compiled:
        zoom([images, saliency(images)])
    assert compiled == []
