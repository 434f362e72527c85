import json
import os

import numpy as np
import pytest

from keras_lzu.data import CocoFormatError
from keras_lzu.data import SyntheticDrivingVideos
from keras_lzu.data import load_coco_dataset
from keras_lzu.data import load_video_dataset
from keras_lzu.data import read_video_annotations

SIZE = (64, 96)
FRAMES, COUNT = 4, 2


@pytest.fixture(scope="module")
def videos():
    return SyntheticDrivingVideos(image_size=SIZE, num_frames=FRAMES,
                                  seed=2, far_object_size=(80, 160))


@pytest.fixture(scope="module")
def expected(videos):
    return [videos.sequence(i, "validation") for i in range(COUNT)]


@pytest.fixture(scope="module")
def written(videos, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("video"))
    path = videos.write_coco(directory, COUNT, split="validation")
    return path, os.path.join(directory, "images")


def test_pycocotools_reads_the_video_file(written, expected):
    coco_api = pytest.importorskip("pycocotools.coco")
    coco = coco_api.COCO(written[0])
    assert len(coco.getImgIds()) == COUNT * FRAMES
    content = coco.dataset
    assert [v["id"] for v in content["videos"]] == [1, 2]
    for image in coco.loadImgs(coco.getImgIds()):
        video = expected[image["video_id"] - 1]
        t = image["frame_id"]
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        boxes = np.array([a["bbox"] for a in annotations]).reshape(-1, 4)
        truth = video["boxes"][t]
        np.testing.assert_allclose(boxes[:, :2], truth[:, :2])
        np.testing.assert_allclose(boxes[:, 2:], truth[:, 2:] - truth[:, :2])
        assert [a["category_id"] - 1 for a in annotations] == list(
            video["classes"][t])
    # One track id per generator track, the same in every frame.
    pairs = {(a["video_id"], a["track_id"]) for a in content["annotations"]}
    tracks = {(v + 1, int(k)) for v, video in enumerate(expected)
              for ids in video["track_ids"] for k in ids}
    assert len(pairs) == len(tracks) == len(content["tracks"])


def test_read_video_annotations_orders_frames_and_keeps_tracks(
        written, expected):
    records = read_video_annotations(written[0])
    assert [len(v["frames"]) for v in records["videos"]] == [FRAMES] * COUNT
    for video, truth in zip(records["videos"], expected):
        assert [f["frame_id"] for f in video["frames"]] == list(range(FRAMES))
        file_ids = {}
        for t, frame in enumerate(video["frames"]):
            np.testing.assert_array_equal(frame["boxes"], truth["boxes"][t])
            for file_id, track in zip(frame["track_ids"],
                                      truth["track_ids"][t]):
                assert file_ids.setdefault(int(track), file_id) == file_id


def test_load_video_dataset_gives_clips_of_the_generator_frames(
        written, expected):
    dataset = load_video_dataset(*written, sequence_length=2,
                                 bounding_box_format="xywh")
    clips = list(dataset)
    assert len(clips) == COUNT * FRAMES // 2
    frames, labels = clips[1]  # video 0, frames 2-3
    np.testing.assert_array_equal(frames[0].numpy(),
                                  expected[0]["frames"][2:4])
    truth = expected[0]["boxes"][3]
    n = len(truth)
    np.testing.assert_allclose(labels["boxes"][0, 1, :n, 2:],
                               truth[:, 2:] - truth[:, :2])
    assert (labels["track_ids"][0, 1, n:].numpy() == -1).all()
    # The same file is a plain COCO dataset of frames.
    images, _ = next(iter(load_coco_dataset(*written, batch_size=COUNT
                                            * FRAMES, shuffle=False)))
    np.testing.assert_array_equal(
        images.numpy()[:FRAMES], expected[0]["frames"].astype("float32"))


def _broken(content, change):
    content = json.loads(json.dumps(content))
    change(content)
    return content


BROKEN = [
    (lambda c: c.pop("videos"), "no list named 'videos'"),
    (lambda c: c["images"][1].pop("frame_id"), r"images\[1\] lacks"),
    (lambda c: c["images"][1].update(frame_id=0), r"images\[1\].frame_id 0 "
                                                  "appears twice"),
    (lambda c: c["images"][0].update(frame_id=-2), r"images\[0\].frame_id "
                                                   "must be a non-negative"),
    (lambda c: c["images"][0].update(video_id=9), r"images\[0\].video_id 9"),
    (lambda c: c["annotations"][0].pop("track_id"),
     r"annotations\[0\] lacks \['track_id'\]"),
    (lambda c: c["annotations"][0].update(track_id="a"),
     r"annotations\[0\].track_id must be an integer"),
    (lambda c: c["annotations"][0].update(video_id=2),
     r"annotations\[0\].video_id 2 is not the video"),
    (lambda c: c["videos"].append(dict(c["videos"][0])),
     r"videos\[2\].id 1 is not unique"),
]


@pytest.mark.parametrize("change, message", BROKEN)
def test_bad_video_fields_name_the_file_and_field(
        written, tmp_path, change, message):
    with open(written[0]) as f:
        content = json.load(f)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(_broken(content, change)))
    with pytest.raises(CocoFormatError, match=message) as error:
        read_video_annotations(str(path))
    assert str(path) in str(error.value)


def test_a_track_in_two_categories_is_an_error(written, tmp_path):
    with open(written[0]) as f:
        content = json.load(f)
    first = content["annotations"][0]
    same = next(a for a in content["annotations"][1:]
                if a["track_id"] == first["track_id"])
    same["category_id"] = first["category_id"] % 3 + 1
    path = tmp_path / "tracks.json"
    path.write_text(json.dumps(content))
    with pytest.raises(CocoFormatError, match="a track stays in one video"):
        read_video_annotations(str(path))


def test_bad_arguments_raise(written):
    with pytest.raises(ValueError, match="sequence_length"):
        load_video_dataset(*written, sequence_length=0)
    with pytest.raises(ValueError, match="no clip of 9 frames"):
        load_video_dataset(*written, sequence_length=9)
    with pytest.raises(FileNotFoundError, match="image_dir"):
        load_video_dataset(written[0], "/nonexistent")
