"""`make demo`: for now, the visualization of LZU on the bundled sample."""

import os

from keras_lzu import visualize


def demo_main(argv=None):
    os.makedirs("demo_out", exist_ok=True)
    return visualize.visualize_main(
        [visualize.SAMPLE_IMAGE, "-o", os.path.join("demo_out", "lzu_sample.png")]
        + list(argv or [])
    )
