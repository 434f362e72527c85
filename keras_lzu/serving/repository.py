"""The models a local server serves: versions on disk, loaded SavedModels.

Paths come only from the server's flags or its `ModelServerConfig` file;
requests name models, versions and labels, never paths.
"""

import logging
import os
import re
import threading

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from keras_lzu.serving.errors import invalid_argument
from keras_lzu.serving.errors import not_found

_VERSION_DIR = re.compile(r"^[0-9]+$")
log = logging.getLogger(__name__)


def read_model_config_file(path):
    """Parses a text-format `ModelServerConfig` file (TF Serving's
    `--model_config_file`).

    Args:
        path: the file's path.

    Returns:
        A list of `tensorflow_serving.config.ModelConfig`.

    Raises:
        ValueError: if the file is not a valid `ModelServerConfig` with a
            non-empty `model_config_list`, or a model has no name or path or
            a platform other than `tensorflow`.
    """
    with open(path) as f:
        text = f.read()
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise ValueError(f"Invalid model config file {path}: {error}") from None
    models = list(config.model_config_list.config)
    if not models:
        raise ValueError(f"{path} has no model_config_list entries.")
    for model in models:
        if not model.name or not model.base_path:
            raise ValueError(
                f"{path}: every config needs a name and a base_path; got "
                f"{text_format.MessageToString(model, as_one_line=True)!r}."
            )
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(
                f"{path}: model '{model.name}' has model_platform "
                f"{model.model_platform!r}; only 'tensorflow' is served."
            )
    return models


def single_model_config(name, base_path):
    """The config TF Serving builds from `--model_name/--model_base_path`."""
    config = model_server_config_pb2.ModelConfig()
    config.name = name
    config.base_path = base_path
    config.model_platform = "tensorflow"
    return config


class Servable:
    """One loaded version of a model.

    Attributes:
        name, version: what it serves as.
        signatures: name -> concrete function, callable with keyword tensors.
        signature_defs: name -> `SignatureDef` proto, read from
            `saved_model.pb` as TF Serving reports it.
    """

    def __init__(self, name, version, path):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.name = name
        self.version = version
        self.path = path
        self._loaded = tf.saved_model.load(path, tags=["serve"])
        self.signatures = dict(self._loaded.signatures)
        saved_model = saved_model_pb2.SavedModel()
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            saved_model.ParseFromString(f.read())
        self.signature_defs = {}
        for meta_graph in saved_model.meta_graphs:
            if "serve" in meta_graph.meta_info_def.tags:
                self.signature_defs = {
                    key: value
                    for key, value in meta_graph.signature_def.items()
                    if key in self.signatures
                }
                break

    def input_specs(self, signature_name):
        """Returns `{input name: tf.TensorSpec}` of a signature."""
        function = self.signatures[signature_name]
        return dict(function.structured_input_signature[1])


class ModelRepository:
    """Loads the versions each `ModelConfig` asks for and finds servables.

    Version policy follows TF Serving: `latest { num_versions }` (default 1),
    `all {}` or `specific { versions: ... }`; `version_labels` map labels to
    versions. `refresh()` loads versions that appeared and drops the ones no
    longer wanted, as TF Serving's file system poll does.

    Args:
        configs: a list of `ModelConfig` protos.
    """

    def __init__(self, configs):
        names = [config.name for config in configs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model names are repeated: {duplicates}.")
        self._configs = {config.name: config for config in configs}
        self._servables = {name: {} for name in self._configs}
        self._lock = threading.Lock()
        self.refresh()
        for name, versions in self._servables.items():
            if not versions:
                raise ValueError(
                    f"Model '{name}': no SavedModel version directory "
                    f"(<base_path>/<number>/saved_model.pb) under "
                    f"{self._configs[name].base_path}."
                )

    @property
    def model_names(self):
        return sorted(self._configs)

    def refresh(self):
        """Loads newly wanted versions and unloads unwanted ones."""
        for name, config in self._configs.items():
            wanted = _wanted_versions(config)
            loaded = self._servables[name]
            new = {}
            for version in wanted:
                if version in loaded:
                    new[version] = loaded[version]
                    continue
                path = os.path.join(_base_path(config), str(version))
                try:
                    new[version] = Servable(name, version, path)
                    log.info("Loaded model %s version %d", name, version)
                except Exception:  # A bad version must not stop the others.
                    log.exception("Failed to load %s", path)
            with self._lock:
                self._servables[name] = new

    def versions(self, name):
        """Returns `{version: Servable}` of a model (NOT_FOUND if unknown)."""
        if not name:
            raise invalid_argument("model_spec.name is empty.")
        with self._lock:
            if name not in self._servables:
                raise not_found(
                    f"Servable not found for request: Latest({name}); no "
                    f"model named '{name}' (served: {self.model_names})."
                )
            return dict(self._servables[name])

    def find(self, model_spec):
        """Returns the `Servable` a `ModelSpec` asks for.

        Raises:
            ServingError: `NOT_FOUND` for an unknown model, version or label,
                `INVALID_ARGUMENT` for an empty name.
        """
        versions = self.versions(model_spec.name)
        name = model_spec.name
        if model_spec.HasField("version"):
            version = model_spec.version.value
        elif model_spec.version_label:
            labels = self._configs[name].version_labels
            if model_spec.version_label not in labels:
                raise not_found(
                    f"Unknown version label '{model_spec.version_label}' "
                    f"for model '{name}'."
                )
            version = labels[model_spec.version_label]
        elif versions:
            return versions[max(versions)]
        else:
            raise not_found(f"Servable not found for request: Latest({name})")
        if version not in versions:
            raise not_found(
                f"Servable not found for request: Specific({name}, "
                f"{version}); loaded versions: {sorted(versions)}."
            )
        return versions[version]


def _base_path(config):
    return os.path.abspath(config.base_path)


def _wanted_versions(config):
    base = _base_path(config)
    available = []
    if os.path.isdir(base):
        available = sorted(
            int(entry) for entry in os.listdir(base)
            if _VERSION_DIR.match(entry) and os.path.isfile(
                os.path.join(base, entry, "saved_model.pb"))
        )
    policy = config.model_version_policy
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return available
    if which == "specific":
        return [v for v in available if v in set(policy.specific.versions)]
    count = policy.latest.num_versions if which == "latest" else 1
    return available[-max(count, 1):]
