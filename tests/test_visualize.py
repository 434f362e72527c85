import numpy as np
import pytest
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
    with pytest.raises(ValueError, match="saliency"):
        visualize.load_saliency("sky")


def test_detection_figure_has_one_panel_per_model(tmp_path, rng):
    image = (rng.random((40, 60, 3)) * 255).astype("uint8")
    found = {"boxes": np.array([[5.0, 5.0, 20.0, 15.0]]),
             "scores": np.array([0.9]), "classes": np.array([1])}
    sizes = []
    for count in (1, 3):
        path = tmp_path / f"detections_{count}.png"
        visualize.save_detection_figure(
            str(path), image, np.array([[4.0, 4.0, 21.0, 16.0]]),
            {f"model {k}": found for k in range(count)},
            class_names=["car", "pedestrian"])
        with Image.open(path) as picture:
            sizes.append(picture.size)
    (one_width, one_height), (three_width, three_height) = sizes
    assert three_height == one_height
    assert three_width == pytest.approx(3 * one_width, rel=0.05)


def test_zoomed_image_is_the_zoom_at_its_own_size(tmp_path, rng):
    image = (rng.random((40, 64, 3)) * 255).astype("uint8")
    path = tmp_path / "zoomed.png"
    visualize.save_zoomed_image(str(path), image, np.ones((31, 51)),
                                (20, 32))
    expected = tf.image.resize(image[None].astype("float32"), (20, 32),
                               "bilinear", antialias=False)[0].numpy()
    with Image.open(path) as picture:
        zoomed = np.asarray(picture.convert("RGB")).astype("float32")
    np.testing.assert_allclose(zoomed, expected, atol=0.51)
