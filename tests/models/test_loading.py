import subprocess
import sys
import textwrap

import numpy as np

import keras_lzu
from conftest import OUTPUT_SIZE, tiny_retinanet


def test_saved_wrapped_model_loads_in_a_fresh_process(tmp_path):
    model = keras_lzu.wrap(tiny_retinanet(), OUTPUT_SIZE)
    images = np.random.default_rng(3).random((2, 128, 192, 3)).astype("float32") * 255
    expected = model.predict(images, verbose=0)
    model.save(tmp_path / "wrapped.keras")
    np.save(tmp_path / "images.npy", images)
    code = textwrap.dedent(
        f"""
        import numpy as np
        import keras_lzu

        model = keras_lzu.load_model({str(tmp_path / "wrapped.keras")!r})
        images = np.load({str(tmp_path / "images.npy")!r})
        out = model.predict(images, verbose=0)
        np.savez({str(tmp_path / "out.npz")!r}, **out)
        print(type(model).__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("LZURetinaNet")
    loaded = np.load(tmp_path / "out.npz")
    for key in ("boxes", "confidence", "classes", "num_detections"):
        np.testing.assert_array_equal(loaded[key], np.asarray(expected[key]))
