"""keras_lzu: Learning to Zoom and Unzoom for Keras 3."""
