"""`TrainingConfig` rejects bad settings, naming the argument."""

import pytest

from keras_lzu.training import TrainingConfig

VALID = dict(task="detection", train_annotations="train.json",
             train_images="train", output_size=(64, 96), out="out")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"task": "tracking"}, "`task` must be one of"),
        ({"output_size": "24"}, "`output_size` must be (height, width)"),
        ({"output_size": (64, 96.5)}, "`output_size` must be (height, width)"),
        ({"output_size": (True, 96)}, "`output_size` must be (height, width)"),
        ({"canvas": (0, 96)}, "`canvas` must be (height, width)"),
        ({"saliency": "boxes"}, "`saliency` must be one of"),
        ({"backbone": "vgg"}, "`backbone` must be one of"),
        ({"epochs": 2, "steps": 3}, "Give `epochs` or `steps`, not both"),
        ({"steps": 0}, "`steps` must be a positive integer"),
        ({"learning_rate": 0.0}, "`learning_rate` must be a positive number"),
        ({"anchor_size": float("nan")}, "`anchor_size` must be a positive"),
        ({"prior_floor": 0}, "`prior_floor` must be a positive number"),
        ({"plan": "yes"}, "`plan` must be one of"),
        ({"plan": "auto", "prior_floor": 0.1},
         "`prior_floor` sets the floor of the fixed recipe"),
        ({"positive_iou": 1.5}, "`positive_iou` must be a number in (0, 1]"),
        ({"negative_iou": 0}, "`negative_iou` must be a number in (0, 1]"),
        ({"positive_iou": 0.3, "negative_iou": 0.4},
         "`negative_iou` must not exceed `positive_iou`"),
        ({"seed": -1}, "`seed` must be a non-negative integer"),
        ({"distribute": "tpu"}, "`distribute` must be one of"),
        ({"val_images": "val"}, "`val_annotations` and `val_images`"),
        ({"export": "yes"}, "`export` must be a bool"),
        ({"export": True, "jit_compile_lzu": 1},
         "`jit_compile_lzu` must be a bool"),
        ({"jit_compile_lzu": True}, "set `export=True`"),
        ({"antialias": "on"}, "`antialias` must be False"),
    ],
)
def test_bad_settings_raise_naming_the_argument(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")
                       .replace(")", r"\)")):
        TrainingConfig(**{**VALID, **changes})


def test_defaults():
    config = TrainingConfig(**VALID)
    assert (config.epochs, config.steps) == (10, None)
    assert (config.saliency, config.library, config.backbone) == (
        "prior", "keras_hub", "resnet18")
    assert TrainingConfig(**VALID, preset="my_preset").backbone is None


def test_antialias_defaults_to_wraps_default_constant(monkeypatch):
    from keras_lzu.models import antialiasing

    for default in (True, False):
        monkeypatch.setattr(antialiasing, "DEFAULT_ANTIALIAS", default)
        assert TrainingConfig(**VALID).antialias is default


def test_plan_is_auto_unless_a_prior_floor_is_given():
    assert TrainingConfig(**VALID).plan == "auto"
    assert TrainingConfig(**VALID, prior_floor=0.3).plan == "none"
    config = TrainingConfig(**VALID, plan="none")
    assert (config.plan, config.prior_floor) == ("none", None)


@pytest.mark.parametrize("changes", [
    {},
    {"val_annotations": "val.json", "val_images": "val", "steps": 300,
     "saliency": "uniform", "library": "keras_cv", "backbone": "tiny",
     "batch_size": 2, "learning_rate": 2e-3, "canvas": (640, 1024),
     "prior_floor": 0.1, "anchor_size": 1.25, "positive_iou": 0.35,
     "negative_iou": 0.25, "distribute": "mirrored", "export": True,
     "jit_compile_lzu": True, "seed": 3, "antialias": True},
    {"preset": "my_preset", "epochs": 3, "antialias": "unzoom"},
    {"plan": "none"},
    {"antialias": "zoom"},
    {"antialias": False},
])
def test_command_line_parses_back_to_the_same_config(changes):
    from keras_lzu.training import cli

    config = TrainingConfig(**{**VALID, **changes})
    argv = cli.command_line(config)
    assert argv[0] == "train"
    assert cli.config_from_args(cli.parse_args(argv[1:])) == config


@pytest.mark.parametrize("flags, antialias", [
    ([], None), (["--antialias"], True), (["--antialias", "on"], True),
    (["--antialias", "off"], False), (["--antialias", "zoom"], "zoom"),
    (["--antialias", "unzoom"], "unzoom"),
])
def test_antialias_flag(flags, antialias):
    from keras_lzu.models import DEFAULT_ANTIALIAS
    from keras_lzu.training import cli

    args = cli.parse_args(["--task", "detection", "--train", "t.json",
                           "--train-images", "t", "--output-size", "64", "96",
                           *flags, "--out", "o"])
    expected = DEFAULT_ANTIALIAS if antialias is None else antialias
    assert cli.config_from_args(args).antialias == expected


def test_bad_antialias_flag_is_a_usage_error(capsys):
    from keras_lzu.training import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(["--task", "detection", "--train", "t.json",
                        "--train-images", "t", "--output-size", "64", "96",
                        "--antialias", "both", "--out", "o"])
    assert exit_info.value.code == 2
    assert "--antialias: invalid choice: 'both'" in capsys.readouterr().err
