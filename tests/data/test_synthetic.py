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


# ----------------------------------------------------------------------------
# Layouts. At 240x384 with far objects of 24-64 px (at 1200 px) small
# objects are 4.8-12.8 px tall and large ones 6-40% of the height (14.4 px
# and more), so a box's height tells which kind it is.

LAYOUT_SIZE = (240, 384)
LAYOUT_KWARGS = dict(image_size=LAYOUT_SIZE, far_object_size=(24, 64),
                     num_classes=5, seed=6)
SMALL_HEIGHT = (4.8, 12.8)
LARGE_HEIGHT = (0.06 * 240, 0.4 * 240)


def layout_boxes(count=6, **kwargs):
    scenes = SyntheticDrivingScenes(**{**LAYOUT_KWARGS, **kwargs})
    return np.concatenate(
        [scenes.sample(i)["boxes"] for i in range(count)])


def centres_and_heights(boxes):
    return ((boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
            boxes[:, 3] - boxes[:, 1])


def test_horizon_is_the_default_layout_and_ignores_the_others_options():
    default = SyntheticDrivingScenes(image_size=SMALL, seed=2)
    horizon = SyntheticDrivingScenes(
        image_size=SMALL, seed=2, layout="horizon", band_height=0.7,
        cluster_region=(0.0, 0.0, 0.2, 0.2))
    assert default.layout == "horizon"
    assert_samples_equal(default.sample(1), horizon.sample(1))


@pytest.mark.parametrize("band_height", [0.25, 0.65])
def test_band_layout_puts_small_objects_in_the_band_and_large_below(
        band_height):
    boxes = layout_boxes(layout="band", band_height=band_height)
    x, y, heights = centres_and_heights(boxes)
    small = heights <= SMALL_HEIGHT[1] + 1
    assert small.sum() >= 60 and (~small).sum() >= 6
    assert np.all(heights[small] >= SMALL_HEIGHT[0] - 1)
    assert np.all(heights[~small] >= LARGE_HEIGHT[0] - 1)
    band = band_height * 240
    assert np.all(np.abs(y[small] - band) <= 0.04 * 240 + 1)
    # Large objects stand below the band (their tops may reach into it
    # when they do not fit below).
    assert np.all(boxes[~small, 3] > band + 0.04 * 240)
    assert np.median(y[~small]) > band + 0.04 * 240
    # Spread across the width.
    assert x[small].min() < 0.2 * 384 and x[small].max() > 0.8 * 384


def test_diagonal_layout_puts_objects_on_the_road_growing_along_it():
    from keras_lzu.data import synthetic

    boxes = layout_boxes(layout="diagonal")
    x, y, heights = centres_and_heights(boxes)
    t, offset = synthetic.diagonal_road_position(x, y, 384, 240)
    small = heights <= SMALL_HEIGHT[1] + 1
    assert small.sum() >= 40 and (~small).sum() >= 6
    # Small objects lie on the far half of the road, within its width.
    assert np.all((t[small] > -0.02) & (t[small] < 0.52))
    half_width = synthetic.diagonal_road_half_width(t[small], 384)
    assert np.all(np.abs(offset[small]) <= half_width + 1)
    assert np.all(t[~small] > 0.45)
    # Sizes grow along the road: the rank correlation is close to 1.
    ranks = np.argsort(np.argsort(t)), np.argsort(np.argsort(heights))
    assert np.corrcoef(*ranks)[0, 1] > 0.9


def test_cluster_layout_puts_small_objects_in_the_region():
    region = (0.1, 0.5, 0.4, 0.9)
    boxes = layout_boxes(layout="cluster", cluster_region=region)
    x, y, heights = centres_and_heights(boxes)
    small = heights <= SMALL_HEIGHT[1] + 1
    assert small.sum() >= 60
    x1, y1, x2, y2 = np.multiply(region, [384, 240, 384, 240])
    assert np.all((x[small] >= x1 - 1) & (x[small] <= x2 + 1))
    assert np.all((y[small] >= y1 - 1) & (y[small] <= y2 + 1))
    # ... and fill it rather than a corner of it.
    assert np.ptp(x[small]) > 0.8 * (x2 - x1)
    assert np.ptp(y[small]) > 0.8 * (y2 - y1)


@pytest.mark.parametrize("layout", ["band", "cluster", "diagonal"])
def test_mixed_size_mix_spreads_sizes_from_small_to_large(layout):
    small_mix = layout_boxes(layout=layout)
    mixed = layout_boxes(layout=layout, size_mix="mixed")
    _, _, small_heights = centres_and_heights(small_mix)
    _, _, mixed_heights = centres_and_heights(mixed)
    medium = (SMALL_HEIGHT[1] + 1, LARGE_HEIGHT[1] / 2)

    def share_of_medium(heights):
        return np.mean((heights > medium[0]) & (heights < medium[1]))

    assert share_of_medium(small_heights) < 0.15
    assert share_of_medium(mixed_heights) > 0.25
    assert share_of_medium(mixed_heights) > 2.5 * share_of_medium(
        small_heights)
    assert mixed_heights.min() < SMALL_HEIGHT[1]
    assert mixed_heights.max() <= LARGE_HEIGHT[1] + 1


@pytest.mark.parametrize("layout", ["band", "diagonal", "cluster"])
def test_layouts_are_deterministic_by_seed(layout):
    a = SyntheticDrivingScenes(image_size=SMALL, seed=5, layout=layout)
    b = SyntheticDrivingScenes(image_size=SMALL, seed=5, layout=layout)
    c = SyntheticDrivingScenes(image_size=SMALL, seed=6, layout=layout)
    assert_samples_equal(a.sample(3, "validation"), b.sample(3, "validation"))
    assert not np.array_equal(a.sample(3)["boxes"], c.sample(3)["boxes"])


def test_layout_scenes_write_coco_with_their_boxes(tmp_path):
    import json

    scenes = SyntheticDrivingScenes(image_size=(96, 160), seed=1,
                                    layout="band", band_height=0.6)
    path = scenes.write_coco(str(tmp_path), 2, split="validation")
    with open(path) as f:
        annotations = json.load(f)["annotations"]
    for index in range(2):
        boxes = [a["bbox"] for a in annotations if a["image_id"] == index + 1]
        sample = scenes.sample(index, "validation")
        expected = sample["boxes"].copy()
        expected[:, 2:] -= expected[:, :2]
        np.testing.assert_allclose(boxes, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layout": "ring"}, "layout"),
        ({"layout": "band", "band_height": 0.9}, "band_height"),
        ({"band_height": True}, "band_height"),
        ({"cluster_region": (0.5, 0.1, 0.4, 0.3)}, "cluster_region"),
        ({"cluster_region": (0.0, 0.0, 1.0)}, "cluster_region"),
        ({"cluster_region": (0.0, 0.0, 1.0, 1.5)}, "cluster_region"),
        ({"layout": "band", "size_mix": "large"}, "size_mix"),
        ({"size_mix": "mixed"}, "size_mix.*horizon"),
    ],
)
def test_invalid_layout_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticDrivingScenes(image_size=SMALL, **kwargs)
