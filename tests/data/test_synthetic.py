import numpy as np
import pytest

from keras_lzu.data import SyntheticDrivingScenes

SMALL = (240, 384)


@pytest.fixture(scope="module")
def scenes():
    return SyntheticDrivingScenes(image_size=(600, 960), num_classes=5, seed=3)


@pytest.fixture(scope="module")
def samples(scenes):
    return [scenes.sample(i) for i in range(8)]


def assert_samples_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_sample_has_documented_types_and_shapes():
    sample = SyntheticDrivingScenes(image_size=SMALL).sample(0)
    assert sample["image"].dtype == np.uint8
    assert sample["image"].shape == (*SMALL, 3)
    assert sample["boxes"].dtype == np.float32
    assert sample["boxes"].shape[1] == 4
    assert sample["classes"].dtype == np.int32
    assert sample["classes"].shape == (sample["boxes"].shape[0],)
    assert sample["mask"].dtype == np.int32
    assert sample["mask"].shape == SMALL


def test_same_seed_gives_same_samples():
    a = SyntheticDrivingScenes(image_size=SMALL, seed=5)
    b = SyntheticDrivingScenes(image_size=SMALL, seed=5)
    assert_samples_equal(a.sample(2), b.sample(2))


def test_sample_does_not_depend_on_order():
    first = SyntheticDrivingScenes(image_size=SMALL, seed=5)
    second = SyntheticDrivingScenes(image_size=SMALL, seed=5)
    later = [first.sample(i) for i in (4, 1, 2)][2]
    assert_samples_equal(later, second.sample(2))


def test_different_seeds_differ():
    a = SyntheticDrivingScenes(image_size=SMALL, seed=0).sample(0)
    b = SyntheticDrivingScenes(image_size=SMALL, seed=1).sample(0)
    assert not np.array_equal(a["image"], b["image"])


def test_train_and_validation_samples_differ():
    scenes = SyntheticDrivingScenes(image_size=SMALL)
    train = scenes.sample(0, "train")
    validation = scenes.sample(0, "validation")
    assert not np.array_equal(train["image"], validation["image"])


def test_classes_are_in_range():
    scenes = SyntheticDrivingScenes(image_size=SMALL, num_classes=2)
    classes = np.concatenate([scenes.sample(i)["classes"] for i in range(4)])
    assert set(np.unique(classes)) == {0, 1}
    assert scenes.class_names == ("car", "pedestrian")


def test_boxes_are_inside_the_image_and_non_empty(samples):
    height, width = 600, 960
    for sample in samples:
        x1, y1, x2, y2 = sample["boxes"].T
        assert np.all((0 <= x1) & (x1 < x2) & (x2 <= width))
        assert np.all((0 <= y1) & (y1 < y2) & (y2 <= height))


def test_many_objects_per_image(samples):
    counts = [len(s["boxes"]) for s in samples]
    assert min(counts) >= 10


def test_objects_concentrate_in_a_band_around_the_horizon(samples):
    height = 600
    offsets = np.concatenate(
        [
            (s["boxes"][:, 1] + s["boxes"][:, 3]) / 2 - s["horizon"]
            for s in samples
        ]
    )
    in_band = np.abs(offsets) < 0.1 * height
    assert in_band.mean() > 0.7


def test_objects_are_smaller_nearer_the_horizon(samples):
    bottoms, heights = [], []
    for s in samples:
        bottoms.append(s["boxes"][:, 3] - s["horizon"])
        heights.append(s["boxes"][:, 3] - s["boxes"][:, 1])
    bottoms, heights = np.concatenate(bottoms), np.concatenate(heights)
    near_horizon = np.abs(bottoms) < 0.1 * 600
    low_in_image = bottoms > 0.25 * 600
    assert low_in_image.sum() >= 5
    assert np.median(heights[near_horizon]) * 4 < np.median(
        heights[low_in_image]
    )


def test_far_objects_are_8_to_30_pixels_at_full_resolution():
    scenes = SyntheticDrivingScenes(seed=0)
    sample = scenes.sample(0)
    boxes = sample["boxes"]
    far = np.abs(boxes[:, 3] - sample["horizon"]) < 0.1 * 1200
    heights = (boxes[:, 3] - boxes[:, 1])[far]
    assert far.sum() >= 15
    assert np.mean((heights >= 6) & (heights <= 32)) > 0.8


def test_mask_pixels_lie_in_a_box_of_their_class(samples):
    for sample in samples:
        mask = sample["mask"]
        assert set(np.unique(mask)) <= set(range(6))
        for label in range(5):
            rows, cols = np.nonzero(mask == label + 1)
            boxes = sample["boxes"][sample["classes"] == label]
            if len(rows) == 0:
                continue
            assert len(boxes) > 0
            x, y = cols[:, None] + 0.5, rows[:, None] + 0.5
            inside = (
                (x >= boxes[:, 0])
                & (x <= boxes[:, 2])
                & (y >= boxes[:, 1])
                & (y <= boxes[:, 3])
            )
            assert inside.any(axis=1).all()


def test_every_box_has_visible_mask_pixels_of_its_class(samples):
    for sample in samples:
        for box, label in zip(sample["boxes"].astype(int), sample["classes"]):
            x1, y1, x2, y2 = box
            assert np.any(sample["mask"][y1:y2, x1:x2] == label + 1)


def test_masked_pixels_differ_from_the_background_colour(samples):
    # Object pixels are painted, so they differ from the sky/road colours of
    # the same rows far more than the +-6 noise.
    sample = samples[0]
    image = sample["image"].astype(float)
    cars = sample["mask"] == 1
    if cars.sum() == 0:
        pytest.skip("no car in this sample")
    red = image[..., 0] - (image[..., 1] + image[..., 2]) / 2
    assert np.median(red[cars]) > 60
    assert np.median(red[sample["mask"] == 0]) < 30


def test_as_dataset_matches_samples_with_minus_one_padding():
    scenes = SyntheticDrivingScenes(image_size=SMALL, seed=2)
    images, labels = next(iter(scenes.as_dataset(batch_size=3, num_samples=3)))
    assert images.dtype == "float32" and images.shape == (3, *SMALL, 3)
    assert labels["boxes"].shape == (3, scenes.max_boxes, 4)
    assert labels["classes"].shape == (3, scenes.max_boxes)
    assert labels["classes"].dtype == "float32"
    for i in range(3):
        sample = scenes.sample(i)
        n = len(sample["boxes"])
        np.testing.assert_array_equal(
            images[i], sample["image"].astype("float32")
        )
        np.testing.assert_array_equal(labels["boxes"][i, :n], sample["boxes"])
        np.testing.assert_array_equal(
            labels["classes"][i, :n], sample["classes"]
        )
        np.testing.assert_array_equal(labels["boxes"][i, n:], -1.0)
        np.testing.assert_array_equal(labels["classes"][i, n:], -1.0)


def test_as_dataset_relative_format_divides_by_image_size():
    scenes = SyntheticDrivingScenes(image_size=SMALL, seed=2)
    _, labels = next(
        iter(
            scenes.as_dataset(
                batch_size=1, num_samples=1, bounding_box_format="rel_xyxy"
            )
        )
    )
    boxes = scenes.sample(0)["boxes"]
    expected = boxes / np.array([384, 240, 384, 240], "float32")
    np.testing.assert_allclose(
        labels["boxes"][0, : len(boxes)], expected, rtol=1e-6
    )


def test_as_dataset_shuffle_is_a_seeded_permutation():
    scenes = SyntheticDrivingScenes(image_size=(64, 96), seed=4)

    def first_pixels(dataset):
        return [tuple(images[:, 0, 0, 0].numpy()) for images, _ in dataset]

    # Images are told apart by their content, so the check does not rely on
    # the dataset's own ordering.
    originals = [scenes.sample(i)["image"] for i in range(6)]
    shuffled = scenes.as_dataset(batch_size=6, num_samples=6, shuffle=True)
    images = next(iter(shuffled))[0].numpy()
    order = [
        next(k for k, o in enumerate(originals) if np.array_equal(o, image))
        for image in images.astype("uint8")
    ]
    assert sorted(order) == list(range(6))
    assert order != list(range(6))
    again = scenes.as_dataset(batch_size=6, num_samples=6, shuffle=True)
    assert first_pixels(again.take(1)) == [tuple(images[:, 0, 0, 0])]


def test_as_dataset_ragged_has_one_row_per_box():
    scenes = SyntheticDrivingScenes(image_size=SMALL, seed=2)
    _, labels = next(
        iter(scenes.as_dataset(batch_size=2, num_samples=2, ragged=True))
    )
    lengths = labels["boxes"].row_lengths().numpy()
    assert lengths.tolist() == [
        len(scenes.sample(i)["boxes"]) for i in range(2)
    ]


def test_as_segmentation_dataset_yields_masks():
    scenes = SyntheticDrivingScenes(image_size=SMALL, seed=2)
    images, masks = next(
        iter(
            scenes.as_segmentation_dataset(
                split="validation", batch_size=2, num_samples=2
            )
        )
    )
    assert images.shape == (2, *SMALL, 3) and masks.shape == (2, *SMALL, 1)
    assert masks.dtype == "int32"
    np.testing.assert_array_equal(
        masks[1, ..., 0], scenes.sample(1, "validation")["mask"]
    )


def _car_body_colours(sample):
    """The median colour of each car's visible pixels (cars of >= 40 px)."""
    colours = []
    for box, label in zip(sample["boxes"], sample["classes"]):
        x1, y1, x2, y2 = box.astype(int)
        if label != 0 or (x2 - x1) * (y2 - y1) < 40:
            continue
        inside = sample["mask"][y1:y2, x1:x2] == 1
        if inside.sum() >= 20:
            pixels = sample["image"][y1:y2, x1:x2][inside].astype(float)
            colours.append(np.median(pixels, axis=0))
    return np.array(colours)


def test_class_colours_false_draws_body_colours_like_the_clutter():
    kwargs = dict(image_size=(480, 768), num_classes=3, seed=7)
    coded = SyntheticDrivingScenes(**kwargs)
    shared = SyntheticDrivingScenes(class_colours=False, **kwargs)
    coded_colours, shared_colours = [], []
    for index in range(3):
        a, b = coded.sample(index), shared.sample(index)
        # Same layout and labels; only the body colours change.
        np.testing.assert_array_equal(a["boxes"], b["boxes"])
        np.testing.assert_array_equal(a["classes"], b["classes"])
        assert not np.array_equal(a["image"], b["image"])
        coded_colours.append(_car_body_colours(a))
        shared_colours.append(_car_body_colours(b))
    red = np.array([200.0, 40.0, 40.0])
    coded_distance = np.linalg.norm(np.concatenate(coded_colours) - red, axis=1)
    shared_colours = np.concatenate(shared_colours)
    shared_distance = np.linalg.norm(shared_colours - red, axis=1)
    assert len(coded_distance) >= 10 and len(shared_distance) >= 10
    # Class colour: every car is red within the jitter (+-25 per channel).
    assert coded_distance.max() < 60
    # Shared palette: most cars are not red, and their colours spread like
    # uniform(30, 230) draws (std about 58 per channel).
    assert np.mean(shared_distance > 60) > 0.7
    assert shared_colours.std(axis=0).min() > 35


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": (16, 16)}, "image_size"),
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 6}, "num_classes"),
        ({"num_far_objects": (5, 2)}, "num_far_objects"),
        ({"far_object_size": (0, 4)}, "far_object_size"),
        ({"train_size": 0}, "train_size"),
        ({"class_colours": 1}, "class_colours"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticDrivingScenes(**kwargs)


def test_invalid_split_and_index_raise():
    scenes = SyntheticDrivingScenes(image_size=SMALL)
    with pytest.raises(ValueError, match="split"):
        scenes.sample(0, "test")
    with pytest.raises(ValueError, match="index"):
        scenes.sample(-1)
    with pytest.raises(ValueError, match="bounding_box_format"):
        scenes.as_dataset(bounding_box_format="xyzw")
