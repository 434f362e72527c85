import numpy as np
import pytest

from keras_lzu.data import SyntheticDrivingVideos
from keras_lzu.data import synthetic

SIZE = (96, 160)
FRAMES = 5


@pytest.fixture(scope="module")
def videos():
    return SyntheticDrivingVideos(
        image_size=SIZE, num_frames=FRAMES, seed=4,
        far_object_size=(80, 160), pan_speed=0.03)


@pytest.fixture(scope="module")
def sequences(videos):
    return [videos.sequence(i) for i in range(4)]


def world_box(tracks, k, t, horizon, vanishing_x):
    """Track `k`'s box at frame `t` by the documented pinhole model."""
    height, width = SIZE
    age = t - tracks["birth"][k]
    scale = 1.0 / (tracks["depth"][k] - tracks["approach_speed"][k] * age)
    lateral = tracks["lateral"][k] + tracks["lateral_speed"][k] * age
    name = synthetic.CLASS_NAMES[tracks["class"][k]]
    reference, _, pole, _ = synthetic._GEOMETRY[name]
    h = scale * reference * height
    w = h * tracks["aspect"][k]
    bottom = horizon[t] + scale * (height - horizon[0]) - h * pole
    cx = vanishing_x[t] + scale * lateral * width
    return np.array([cx - w / 2, bottom - h, cx + w / 2, bottom])


def inside(box, margin=1.0):
    height, width = SIZE
    return (box[0] > margin and box[1] > margin and box[2] < width - margin
            and box[3] < height - margin)


def test_track_boxes_follow_their_world_motion(sequences):
    errors, moved = [], 0
    for video in sequences:
        tracks = video["tracks"]
        for t in range(FRAMES - 1):
            now = dict(zip(video["track_ids"][t], video["boxes"][t]))
            after = dict(zip(video["track_ids"][t + 1],
                             video["boxes"][t + 1]))
            for k in set(now) & set(after):
                if not (inside(now[k]) and inside(after[k])):
                    continue
                expected = [world_box(tracks, k, s, video["horizon"],
                                      video["vanishing_x"]) for s in (t, t + 1)]
                # The drawn box is the extent of whole pixels whose centres
                # are inside the shape: within 1.5 pixels of the projected
                # box (round shapes lose their extreme rows).
                np.testing.assert_allclose(now[k], expected[0], atol=1.5)
                centre = (after[k][:2] + after[k][2:]) / 2 - (
                    now[k][:2] + now[k][2:]) / 2
                velocity = (expected[1][:2] + expected[1][2:]) / 2 - (
                    expected[0][:2] + expected[0][2:]) / 2
                np.testing.assert_allclose(centre, velocity, atol=1.5)
                errors.append(np.abs(centre - velocity))
                moved += np.abs(velocity).max() > 2
    assert len(errors) > 20 and moved > 5
    assert np.mean(errors) < 0.5


def test_approaching_objects_grow_and_leave_while_others_enter(sequences):
    grew = entered = left = 0
    for video in sequences:
        tracks = video["tracks"]
        first = dict(zip(video["track_ids"][0], video["boxes"][0]))
        last = dict(zip(video["track_ids"][-1], video["boxes"][-1]))
        for k in set(first) & set(last):
            if tracks["approach_speed"][k] > 0 and inside(last[k]):
                grew += (last[k][3] - last[k][1]) > (first[k][3] - first[k][1])
        entered += len(set(last) - set(first))
        left += len(set(first) - set(last))
    assert grew > 0 and entered > 0 and left > 0


def test_camera_pan_moves_the_background_with_the_vanishing_point(
        sequences):
    video = max(sequences, key=lambda v: abs(np.diff(v["vanishing_x"])).max())
    shift = int(video["vanishing_x"][1] - video["vanishing_x"][0])
    assert shift != 0
    dy = int(video["horizon"][1] - video["horizon"][0])
    a, b = (video["frames"][t].astype(int) for t in (0, 1))
    # Frame 1 is frame 0's scene moved by the camera's pan and pitch: the
    # sky (above the objects) agrees up to the per-frame noise.
    rows = slice(max(dy, 0) + 2, 20 - max(-dy, 0))
    width = SIZE[1] - abs(shift)
    a_part = a[rows, max(-shift, 0):max(-shift, 0) + width]
    b_rows = slice(rows.start + dy, rows.stop + dy)
    b_part = b[b_rows, max(shift, 0):max(shift, 0) + width]
    assert np.median(np.abs(a_part - b_part)) <= 6
    unshifted = b[rows, max(-shift, 0):max(-shift, 0) + width]
    assert np.abs(a_part - b_part).mean() < np.abs(a_part - unshifted).mean()


def test_horizons_differ_between_videos(videos):
    horizons = [videos.sequence(i)["horizon"][0] for i in range(6)]
    assert np.ptp(horizons) > 0.1 * SIZE[0]


def test_same_seed_gives_the_same_video(videos):
    again = SyntheticDrivingVideos(
        image_size=SIZE, num_frames=FRAMES, seed=4,
        far_object_size=(80, 160), pan_speed=0.03).sequence(1)
    video = videos.sequence(1)
    np.testing.assert_array_equal(again["frames"], video["frames"])
    for t in range(FRAMES):
        np.testing.assert_array_equal(again["boxes"][t], video["boxes"][t])
    other = SyntheticDrivingVideos(image_size=SIZE, num_frames=FRAMES,
                                   seed=5).sequence(1)
    assert not np.array_equal(other["frames"], video["frames"])


def test_as_dataset_streams_padded_sequences(videos, sequences):
    frames, labels = next(iter(videos.as_dataset(batch_size=2,
                                                 num_videos=2)))
    assert frames.shape == (2, FRAMES, *SIZE, 3)
    for b in range(2):
        np.testing.assert_array_equal(frames[b].numpy(),
                                      sequences[b]["frames"])
        for t in range(FRAMES):
            n = len(sequences[b]["boxes"][t])
            np.testing.assert_array_equal(labels["boxes"][b, t, :n],
                                          sequences[b]["boxes"][t])
            np.testing.assert_array_equal(labels["track_ids"][b, t, :n],
                                          sequences[b]["track_ids"][t])
            assert (labels["classes"][b, t, n:].numpy() == -1).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"num_frames": 0}, "num_frames"),
    ({"pan_speed": -1}, "pan_speed"),
    ({"horizon_range": (0.5, 0.2)}, "horizon_range"),
    ({"camera_speed": (1, float("nan"))}, "camera_speed"),
    ({"focus_spread": "wide"}, "focus_spread"),
])
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticDrivingVideos(image_size=SIZE, **kwargs)
