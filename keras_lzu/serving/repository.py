"""The models a local server serves: versions on disk, loaded SavedModels.

Paths come only from the server's flags or its `ModelServerConfig` file;
requests name models, versions and labels, never paths.
"""

import collections
import logging
import os
import re
import threading

import grpc
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from keras_lzu.serving.errors import describe
from keras_lzu.serving.errors import invalid_argument
from keras_lzu.serving.errors import not_found
from keras_lzu.serving.errors import shorten

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


class LoadFailure(collections.namedtuple(
        "LoadFailure", ["message", "code", "fingerprint"])):
    """Why a version did not load.

    Attributes:
        message: what failed, for the log, GetModelStatus and NOT_FOUND
            answers.
        code: a TensorFlow / gRPC error code number.
        fingerprint: the version's files at that attempt; the version is
            tried again when they change.
    """


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
    versions. A version that does not load never takes a model offline:
    `latest` serves the newest versions that load, and a loaded version
    keeps serving until a newer one has loaded. A version that failed is
    reported (in the log and by `failures()`, which GetModelStatus shows)
    and tried again when its files change, so a version still being copied
    loads once it is complete. A version removed from disk is unloaded.
    `refresh()` applies all this, as TF Serving's file system poll does.

    Args:
        configs: a list of `ModelConfig` protos.

    Raises:
        ValueError: if model names repeat, or a model has no version that
            loads (the message says what failed).
    """

    def __init__(self, configs):
        names = [config.name for config in configs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model names are repeated: {duplicates}.")
        self._configs = {config.name: config for config in configs}
        self._servables = {name: {} for name in self._configs}
        self._failures = {name: {} for name in self._configs}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self.refresh()
        offline = [self._offline_reason(name) for name in self.model_names
                   if not self._servables[name]]
        if offline:
            raise ValueError(" ".join(offline))

    @property
    def model_names(self):
        return sorted(self._configs)

    def refresh(self):
        """Loads newly wanted versions and unloads unwanted ones."""
        with self._refresh_lock:
            for name in self.model_names:
                self._refresh_model(name)

    def versions(self, name):
        """Returns `{version: Servable}` of a model (NOT_FOUND if unknown)."""
        self._check_name(name)
        with self._lock:
            return dict(self._servables[name])

    def failures(self, name):
        """Returns `{version: LoadFailure}` of the versions the policy wants
        that did not load (NOT_FOUND if the model is unknown)."""
        self._check_name(name)
        with self._lock:
            return dict(self._failures[name])

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
                    f"Unknown version label "
                    f"'{shorten(model_spec.version_label)}' for model "
                    f"'{name}'."
                )
            version = labels[model_spec.version_label]
        elif versions:
            return versions[max(versions)]
        else:
            raise not_found(f"Servable not found for request: Latest({name})"
                            f"; {self._offline_reason(name)}")
        if version not in versions:
            failure = self.failures(name).get(version)
            reason = (f"; version {version} did not load: {failure.message}"
                      if failure else "")
            raise not_found(
                f"Servable not found for request: Specific({name}, "
                f"{version}){reason}; loaded versions: {sorted(versions)}."
            )
        return versions[version]

    def _check_name(self, name):
        if not name:
            raise invalid_argument("model_spec.name is empty.")
        if name not in self._configs:
            raise not_found(
                f"Servable not found for request: Latest({shorten(name)}); "
                f"no model named '{shorten(name)}' (served: "
                f"{self.model_names})."
            )

    def _refresh_model(self, name):
        config = self._configs[name]
        base = _base_path(config)
        candidates, count = _candidates(config, _version_directories(base))
        loaded = self._servables[name]
        previous_failures = self._failures[name]
        serving, failures = {}, {}
        for version in candidates:
            if len(serving) == count:
                break
            if version in loaded:
                serving[version] = loaded[version]
                continue
            result = _load(name, version, os.path.join(base, str(version)),
                           previous_failures.get(version))
            if isinstance(result, LoadFailure):
                failures[version] = result
            else:
                serving[version] = result
        for version in sorted(set(loaded) - set(serving)):
            log.info("Unloaded model %s version %d", name, version)
        with self._lock:
            self._servables[name] = serving
            self._failures[name] = failures

    def _offline_reason(self, name):
        failures = self.failures(name)
        base = _base_path(self._configs[name])
        if not failures:
            return (f"Model '{name}': no SavedModel version directory "
                    f"(<base_path>/<number>/saved_model.pb) under {base}.")
        reasons = "; ".join(
            f"version {version} did not load: {failures[version].message}"
            for version in sorted(failures, reverse=True))
        return f"Model '{name}': no version loaded from {base}: {reasons}."


def _base_path(config):
    return os.path.abspath(config.base_path)


def _version_directories(base):
    """The version numbers of `base`'s numeric subdirectories, ascending."""
    if not os.path.isdir(base):
        return []
    return sorted(int(entry) for entry in os.listdir(base)
                  if _VERSION_DIR.match(entry)
                  and os.path.isdir(os.path.join(base, entry)))


def _candidates(config, on_disk):
    """Returns `(versions in the order to try, how many to serve)`."""
    policy = config.model_version_policy
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return on_disk, len(on_disk)
    if which == "specific":
        wanted = set(policy.specific.versions)
        chosen = [version for version in on_disk if version in wanted]
        return chosen, len(chosen)
    count = policy.latest.num_versions if which == "latest" else 1
    return sorted(on_disk, reverse=True), max(count, 1)


def _load(name, version, path, previous_failure):
    """Returns a `Servable`, or a `LoadFailure` (the previous one, without
    trying again, when the version's files have not changed since)."""
    fingerprint = _fingerprint(path)
    if previous_failure is not None and (
            previous_failure.fingerprint == fingerprint):
        return previous_failure
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        failure = LoadFailure(
            f"no saved_model.pb in {path} (still being copied?)",
            grpc.StatusCode.NOT_FOUND.value[0], fingerprint)
    else:
        try:
            servable = Servable(name, version, path)
        except Exception as error:  # A bad version must not stop the others.
            failure = LoadFailure(f"{type(error).__name__}: {describe(error)}",
                                  _error_code(error), fingerprint)
        else:
            if _fingerprint(path) == fingerprint:
                log.info("Loaded model %s version %d", name, version)
                return servable
            failure = LoadFailure(
                f"the files in {path} changed while it loaded (still being "
                "copied?)", grpc.StatusCode.UNAVAILABLE.value[0], fingerprint)
    log.warning("Model %s: version %d did not load: %s", name, version,
                failure.message)
    return failure


def _fingerprint(path):
    """What changes when a file under `path` is added, removed or written."""
    entries = []
    for root, _, files in os.walk(path):
        for file in files:
            full = os.path.join(root, file)
            try:
                stat = os.stat(full)
            except OSError:  # Removed while listing: the next poll sees it.
                continue
            entries.append((os.path.relpath(full, path), stat.st_size,
                            stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino))
    return tuple(sorted(entries))


def _error_code(error):
    import tensorflow as tf

    if isinstance(error, tf.errors.OpError):
        return error.error_code
    return grpc.StatusCode.UNKNOWN.value[0]
