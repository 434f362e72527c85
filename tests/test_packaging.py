"""The install requirements never put two TensorFlow builds in one
environment, and keras_lzu says what to install when TensorFlow is needed
and missing."""

import configparser
import os
import re
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENSORFLOW_BUILDS = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu"}
PLATFORMS = {
    "linux-x86_64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "linux-aarch64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "macos-arm64": {"sys_platform": "darwin", "platform_machine": "arm64"},
    "windows-amd64": {"sys_platform": "win32", "platform_machine": "AMD64"},
}


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    return config


def _requirements(text):
    return [Requirement(line) for line in text.strip().splitlines() if line]


def _install_requires():
    return _requirements(_setup_cfg()["options"]["install_requires"])


def _extras():
    return {
        name: _requirements(text)
        for name, text in _setup_cfg()["options.extras_require"].items()
    }


def _installed(requirements, platform, extra=""):
    environment = dict(PLATFORMS[platform], extra=extra)
    return [
        requirement for requirement in requirements
        if requirement.marker is None
        or requirement.marker.evaluate(environment)
    ]


def _tensorflow_builds(requirements):
    return sorted(
        requirement.name for requirement in requirements
        if requirement.name.lower() in TENSORFLOW_BUILDS
    )


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_plain_install_brings_no_tensorflow_build(platform):
    assert _tensorflow_builds(_installed(_install_requires(), platform)) == []


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_cpu_extra_brings_exactly_one_tensorflow_build(platform):
    builds = _tensorflow_builds(
        _installed(_extras()["cpu"], platform, extra="cpu")
    )
    expected = (
        "tensorflow-cpu" if PLATFORMS[platform]["platform_machine"]
        in ("x86_64", "AMD64") else "tensorflow"
    )
    assert builds == [expected]


def test_gpu_install_never_brings_tensorflow_cpu():
    extras = _extras()
    pulled = _installed(_install_requires(), "linux-x86_64")
    for name, requirements in extras.items():
        if name != "cpu":
            pulled += _installed(requirements, "linux-x86_64", extra=name)
    assert "tensorflow-cpu" not in _tensorflow_builds(pulled)
    gpu = _installed(extras["gpu"], "linux-x86_64", extra="gpu")
    assert [(r.name, sorted(r.extras)) for r in gpu] == [
        ("tensorflow", ["and-cuda"])
    ]


def test_every_tensorflow_requirement_pins_one_version():
    # tensorflow-cpu and tensorflow share one directory: two different
    # versions of them in one environment mix their files.
    pins = {
        str(requirement.specifier)
        for requirements in _extras().values()
        for requirement in requirements
        if requirement.name.lower() in TENSORFLOW_BUILDS
    }
    assert pins == {"==2.21.*"}


def test_extras_that_bring_the_plain_tensorflow_wheel_pin_it():
    # tensorflow-serving-api and keras-hub (through tensorflow-text) depend
    # on `tensorflow`; unpinned, it could come at another version than the
    # cpu extra's tensorflow-cpu.
    for name, requirements in _extras().items():
        names = {requirement.name for requirement in requirements}
        if names & {"tensorflow-serving-api", "keras-hub"}:
            assert "tensorflow" in names, name


def test_make_install_installs_the_cpu_build():
    with open(os.path.join(ROOT, "Makefile")) as makefile:
        installs = re.findall(
            r'pip install .*-e "\.\[([^\]]*)\]"', makefile.read()
        )
    assert len(installs) == 1
    extras = installs[0].split(",")
    assert "cpu" in extras and "gpu" not in extras


# Runs Python with TensorFlow hidden from imports, as on a machine without it.
_WITHOUT_TENSORFLOW = """
import sys
from importlib.machinery import PathFinder

class WithoutTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "tensorflow":
            return None
        return PathFinder.find_spec(name, path, target)

    def invalidate_caches(self):
        PathFinder.invalidate_caches()

sys.meta_path[:] = [
    WithoutTensorFlow() if finder is PathFinder else finder
    for finder in sys.meta_path
]
"""


def _run_without_tensorflow(code, backend):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_TENSORFLOW + code],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_import_on_the_tensorflow_backend_says_how_to_install_it():
    result = _run_without_tensorflow("import keras_lzu", "tensorflow")
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        "keras_lzu.extras.MissingExtraError: Keras's TensorFlow backend"
    )
    assert "pip install 'keras-lzu[cpu]'" in last_line
    assert "pip install 'keras-lzu[gpu]'" in last_line
    assert "KERAS_BACKEND=jax" in last_line


def test_ops_and_layers_run_on_torch_without_tensorflow():
    code = """
import numpy as np
import keras_lzu
grid = keras_lzu.ops.identity_grid(1, (3, 3))
images = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
zoomed = keras_lzu.ZoomLayer((2, 2))([images, grid])
print("zoomed", np.asarray(zoomed).ravel().tolist())
print("tensorflow loaded:", "tensorflow" in sys.modules)
try:
    keras_lzu.export
except ImportError as error:
    print("export:", type(error).__name__, error)
"""
    result = _run_without_tensorflow(code, "torch")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Identity zoom of a 4x4 ramp to 2x2: the means of its 2x2 blocks.
    assert lines[0] == "zoomed [2.5, 4.5, 10.5, 12.5]"
    assert lines[1] == "tensorflow loaded: False"
    assert lines[2].startswith(
        "export: MissingExtraError keras_lzu.export needs TensorFlow"
    )
    assert "pip install 'keras-lzu[gpu]'" in lines[2]
