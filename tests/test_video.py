import numpy as np
import pytest
import tensorflow as tf

import keras_lzu
from keras_lzu.data import SyntheticDrivingVideos
from keras_lzu.extras import MissingExtraError
from keras_lzu.video import read_video_frames

SIZE = (64, 96)
FRAMES = 4


@pytest.fixture(scope="module")
def video():
    return SyntheticDrivingVideos(image_size=SIZE, num_frames=FRAMES, seed=1,
                                  far_object_size=(80, 160),
                                  pan_speed=0.03).sequence(0)


def xywh(boxes):
    boxes = np.asarray(boxes, "float32").reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)


class OracleDetector:
    """Finds which frame it is given and answers with that frame's true
    boxes (scores falling with the row, in xywh), plus a low-score box;
    records the `prior_boxes` it receives."""

    bounding_box_format = "xywh"

    def __init__(self, videos, empty_frames=()):
        self.videos = videos
        self.empty_frames = set(empty_frames)
        self.received = []

    def answer(self, image):
        video = next(v for v in self.videos
                     if any(np.array_equal(image, f) for f in v["frames"]))
        t = next(t for t, f in enumerate(video["frames"])
                 if np.array_equal(image, f))
        boxes = video["boxes"][t] if t not in self.empty_frames else (
            np.zeros((0, 4), "float32"))
        scores = np.linspace(0.9, 0.5, len(boxes)).astype("float32")
        boxes = np.concatenate([boxes, [[1, 2, 9, 8]]]).astype("float32")
        return boxes, np.append(scores, 0.1), np.arange(len(boxes)) % 3

    def predict_on_batch(self, inputs):
        self.received.append(np.array(inputs["prior_boxes"]))
        rows = 40
        out = {"boxes": -np.ones((len(inputs["images"]), rows, 4)),
               "confidence": -np.ones((len(inputs["images"]), rows)),
               "classes": -np.ones((len(inputs["images"]), rows)),
               "num_detections": np.zeros(len(inputs["images"]), "int32")}
        for b, image in enumerate(inputs["images"]):
            boxes, scores, classes = self.answer(image)
            n = len(boxes)
            out["boxes"][b, :n] = xywh(boxes)
            out["confidence"][b, :n] = scores
            out["classes"][b, :n] = classes
            out["num_detections"][b] = n
        return out


def expected_prior(boxes, scores, threshold, rows):
    """The previous frame's boxes above the threshold, best first."""
    keep = [i for i in np.argsort(-scores, kind="stable")
            if scores[i] >= threshold][:rows]
    prior = -np.ones((rows, 4), "float32")
    prior[:len(keep)] = xywh(boxes[keep])
    return prior


def test_each_frame_gets_the_previous_frames_detections(video):
    model = OracleDetector([video])
    found = keras_lzu.predict_video(model, video["frames"],
                                    score_threshold=0.3, max_prior_boxes=6)
    assert len(found) == FRAMES and len(model.received) == FRAMES
    # The first frame zooms with the fixed prior: padding only.
    np.testing.assert_array_equal(model.received[0], -np.ones((1, 6, 4)))
    for t in range(1, FRAMES):
        boxes, scores, _ = model.answer(video["frames"][t - 1])
        np.testing.assert_allclose(
            model.received[t][0], expected_prior(boxes, scores, 0.3, 6),
            atol=1e-5)
        # The objects moved: frame t's prior is not frame t's own boxes.
        assert not np.allclose(video["boxes"][t - 1][:6], video["boxes"][t][:6])
    # Results are the detections in pixel xyxy, with the prior used.
    np.testing.assert_allclose(found[2]["boxes"][:-1], video["boxes"][2],
                               atol=1e-4)
    np.testing.assert_allclose(
        xywh(found[2]["prior_boxes"]), model.received[2][0][
            model.received[2][0][:, 0] >= 0], atol=1e-4)
    assert found[0]["prior_boxes"].shape == (0, 4)


def test_a_frame_after_one_without_detections_gets_the_fixed_prior(video):
    model = OracleDetector([video], empty_frames={1})
    found = keras_lzu.predict_video(model, list(video["frames"]),
                                    score_threshold=0.3, max_prior_boxes=4)
    # Frame 1 found only a box below the threshold.
    np.testing.assert_array_equal(model.received[2], -np.ones((1, 4, 4)))
    assert found[2]["prior_boxes"].shape == (0, 4)
    assert (model.received[3][0, :, 0] >= 0).all()


def test_streams_of_a_batch_keep_their_own_boxes(video):
    other = SyntheticDrivingVideos(image_size=SIZE, num_frames=FRAMES,
                                   seed=9, far_object_size=(80, 160)
                                   ).sequence(0)
    model = OracleDetector([video, other])
    stacked = np.stack([video["frames"], other["frames"]], axis=1)
    dataset = tf.data.Dataset.from_tensor_slices(stacked.astype("float32"))
    found = keras_lzu.predict_video(model, dataset, score_threshold=0.3,
                                    max_prior_boxes=8)
    assert len(found) == FRAMES and len(found[0]) == 2
    for b, source in enumerate((video, other)):
        boxes, scores, _ = model.answer(source["frames"][2])
        np.testing.assert_allclose(
            model.received[3][b], expected_prior(boxes, scores, 0.3, 8),
            atol=1e-5)


def test_bad_arguments_are_named(video):
    model = OracleDetector([video])
    with pytest.raises(ValueError, match="score_threshold"):
        keras_lzu.predict_video(model, video["frames"], score_threshold=2)
    with pytest.raises(ValueError, match="max_prior_boxes"):
        keras_lzu.predict_video(model, video["frames"], max_prior_boxes=0)
    with pytest.raises(ValueError, match="holds no frames"):
        keras_lzu.predict_video(model, [])
    with pytest.raises(ValueError, match="Frame 1"):
        keras_lzu.predict_video(model, [video["frames"][0],
                                        video["frames"][1][:32]])
    with pytest.raises(ValueError, match="predict_on_batch"):
        keras_lzu.predict_video(object(), video["frames"])


def test_read_video_frames_needs_the_video_extra_or_reads_the_file(
        video, tmp_path):
    try:
        import imageio.v3 as iio
    except ImportError:
        with pytest.raises(MissingExtraError, match=r"keras-lzu\[video\]"):
            next(read_video_frames(str(tmp_path / "missing.gif")))
        return
    path = str(tmp_path / "clip.gif")
    iio.imwrite(path, video["frames"], loop=0)
    frames = list(read_video_frames(path, max_frames=3))
    assert len(frames) == 3 and frames[0].shape == (*SIZE, 3)


class ScriptedWrapper:
    """A real box-saliency wrapper (run on the first frame) whose answers
    are the frame's true boxes (a detector that finds every object); it
    records the warp grid each frame was zoomed with."""

    def __init__(self, model, video):
        self.model = model
        self.oracle = OracleDetector([video])
        self.oracle.bounding_box_format = model.bounding_box_format
        self.bounding_box_format = model.bounding_box_format
        self.grids = []

    def predict_on_batch(self, inputs):
        if not self.grids:
            self.model.predict_on_batch(inputs)  # it takes these inputs
        images = tf.constant(inputs["images"])
        boxes = self.model.get_layer("lzu_prior_boxes")(
            [tf.constant(inputs["prior_boxes"]), images])
        self.grids.append(np.asarray(
            self.model.saliency_layer([images, boxes])))
        outputs = self.oracle.predict_on_batch(inputs)
        outputs["boxes"] = np.concatenate(
            [outputs["boxes"][..., :2],
             outputs["boxes"][..., :2] + outputs["boxes"][..., 2:]], -1)
        return outputs


def test_the_real_wrapper_magnifies_the_previous_detections(video):
    from keras_lzu.ops import warp_boxes
    from keras_lzu.training import build_base_model

    detector = build_base_model("detection", "keras_hub", 3,
                                backbone="tiny")
    model = ScriptedWrapper(
        keras_lzu.wrap(detector, (64, 96), saliency="boxes"), video)
    found = keras_lzu.predict_video(model, video["frames"],
                                    score_threshold=0.3)
    scale = np.array([SIZE[1], SIZE[0]] * 2, "float32")
    # The first frame has no previous detections: a uniform resize.
    identity = keras_lzu.ops.identity_grid(1, model.grids[0].shape[1:3])
    np.testing.assert_allclose(model.grids[0], identity, atol=1e-5)
    for t in range(1, FRAMES):
        previous = found[t]["prior_boxes"] / scale
        assert len(previous) > 0
        zoomed = np.asarray(warp_boxes(previous[None], model.grids[t]))[0]
        ratio = (np.prod(zoomed[:, 2:] - zoomed[:, :2], axis=1)
                 / np.prod(previous[:, 2:] - previous[:, :2], axis=1))
        # Most previous boxes take a larger share of the zoomed image.
        assert np.median(ratio) > 1.3
