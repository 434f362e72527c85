import numpy as np
import tensorflow as tf
from PIL import Image

from keras_lzu import visualize


def test_uniform_saliency_views_are_plain_resizes(rng):
    image = (rng.random((40, 64, 3)) * 255).astype("uint8")
    grid, zoomed, unzoomed = visualize.lzu_views(
        image, np.ones((31, 51)), (20, 32)
    )
    expected = tf.image.resize(image[None].astype("float32"), (20, 32),
                               "bilinear", antialias=False)[0]
    np.testing.assert_allclose(zoomed, expected.numpy(), atol=5e-3)
    assert unzoomed.shape == image.shape
    assert grid.shape == (31, 51, 2)


def test_visualize_command_writes_a_three_panel_png(tmp_path, rng):
    path = tmp_path / "in.png"
    Image.fromarray((rng.random((60, 90, 3)) * 255).astype("uint8")).save(path)
    out = tmp_path / "out.png"
    assert visualize.visualize_main([str(path), "-o", str(out), "--saliency", "center"]) == 0
    with Image.open(out) as picture:
        width, height = picture.size
    assert width > 2.5 * height


def test_unknown_saliency_name_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="saliency"):
        visualize.load_saliency("sky")
