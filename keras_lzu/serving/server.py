"""`LocalModelServer`: TF Serving's gRPC (and REST) API in one Python process.

For tests, CI and laptops, where `tensorflow_model_server` is not installed.
It loads SavedModels with `tf.saved_model.load` only (no Keras) and answers
`PredictionService.Predict`, `PredictionService.GetModelMetadata` and
`ModelService.GetModelStatus` with the request and response messages of
`tensorflow_serving.apis`, so the same client code talks to it and to TF
Serving. Production deployments use TF Serving (see `serving/README.md`).
"""

import logging
import os
import signal
import threading
from concurrent import futures

import grpc
import numpy as np
from google.protobuf import any_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from keras_lzu.serving import image_headers
from keras_lzu.serving import repository as repository_lib
from keras_lzu.serving import tensors
from keras_lzu.serving.errors import from_exception
from keras_lzu.serving.errors import invalid_argument
from keras_lzu.serving.errors import not_found
from keras_lzu.serving.errors import shorten

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192
DEFAULT_REST_API_TIMEOUT_IN_MS = 30000
DEFAULT_SIGNATURE = "serving_default"
ENCODED_IMAGES_INPUT = "image_bytes"
log = logging.getLogger(__name__)


class PredictionCore:
    """Validates requests and runs servables; shared by gRPC and REST.

    Args:
        repository: a `ModelRepository`.
        max_message_bytes: largest request tensor, in bytes.
        max_image_pixels: largest `height * width` of an image input
            (uint8 / float rank-4 tensors with 3 channels, or the JPEG / PNG
            files of an `image_bytes` input).
    """

    def __init__(self, repository, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                 max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS):
        self.repository = repository
        self.max_message_bytes = int(max_message_bytes)
        self.max_image_pixels = int(max_image_pixels)

    def signature(self, model_spec):
        """Returns `(servable, signature_name)` (NOT_FOUND if unknown)."""
        servable = self.repository.find(model_spec)
        name = model_spec.signature_name or DEFAULT_SIGNATURE
        if name not in servable.signatures:
            raise not_found(
                f"Serving signature name: '{shorten(name)}' not found in "
                f"signature def of model '{servable.name}' version "
                f"{servable.version}; "
                f"available: {sorted(servable.signatures)}."
            )
        return servable, name

    def predict(self, request):
        """Answers a `PredictRequest` with a `PredictResponse`."""
        servable, signature_name = self.signature(request.model_spec)
        specs = servable.input_specs(signature_name)
        _check_input_names(request.inputs.keys(), specs)
        arrays = {}
        for name, spec in specs.items():
            proto = request.inputs[name]
            if proto.dtype != spec.dtype.as_datatype_enum:
                raise invalid_argument(
                    f"Expects arg '{name}' to be "
                    f"{tensors.dtype_name(spec.dtype.as_datatype_enum)} but "
                    f"{tensors.dtype_name(proto.dtype)} is provided."
                )
            arrays[name] = tensors.proto_to_array(
                proto, name, self.max_message_bytes
            )
        outputs = self.run(servable, signature_name, arrays,
                           list(request.output_filter))
        response = predict_pb2.PredictResponse()
        _fill_model_spec(response.model_spec, servable, signature_name)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tensors.array_to_proto(value))
        return response

    def run(self, servable, signature_name, arrays, output_filter=()):
        """Checks decoded inputs against the signature and runs it.

        Args:
            servable: a `Servable`.
            signature_name: one of its signatures.
            arrays: `{input name: np.ndarray}` with the signature's dtypes.
            output_filter: output names to return (all when empty).

        Returns:
            `{output name: np.ndarray}`.
        """
        specs = servable.input_specs(signature_name)
        _check_input_names(arrays.keys(), specs)
        for name, spec in specs.items():
            self._check_input(name, np.asarray(arrays[name]), spec)
        function = servable.signatures[signature_name]
        output_names = set(function.structured_outputs)
        unknown = [shorten(name)
                   for name in sorted(set(output_filter) - output_names)]
        if unknown:
            raise invalid_argument(
                f"output tensor alias not found in signature: {unknown}; "
                f"outputs: {sorted(output_names)}."
            )
        try:
            outputs = function(**arrays)
        except Exception as error:  # Anything the model raises is reported.
            raise from_exception(error) from None
        wanted = set(output_filter) or output_names
        return {name: value.numpy() for name, value in outputs.items()
                if name in wanted}

    def _check_input(self, name, array, spec):
        if spec.shape.rank is None:
            return
        if array.ndim != spec.shape.rank:
            raise invalid_argument(
                f"Input '{name}' must have rank {spec.shape.rank} (shape "
                f"{_shape_text(spec.shape)}), got shape {list(array.shape)}."
            )
        for axis, size in enumerate(spec.shape.as_list()):
            if size is not None and array.shape[axis] != size:
                raise invalid_argument(
                    f"Input '{name}' must have shape {_shape_text(spec.shape)}"
                    f", got {list(array.shape)}."
                )
        if array.size == 0:
            raise invalid_argument(
                f"Input '{name}' of shape {list(array.shape)} is empty: a "
                "batch needs at least one item, and every dimension must be "
                "at least 1."
            )
        if array.ndim == 4 and array.shape[-1] == 3 and spec.dtype.is_numeric:
            self._check_pixels(name, array.shape[1], array.shape[2])
        if name == ENCODED_IMAGES_INPUT and array.dtype == object:
            for index, data in enumerate(array.reshape(-1)):
                try:
                    _, height, width = image_headers.image_size(bytes(data))
                except ValueError as error:
                    raise invalid_argument(
                        f"Input '{name}'[{index}] is not a decodable image: "
                        f"{error}."
                    ) from None
                self._check_pixels(f"{name}[{index}]", height, width)

    def _check_pixels(self, name, height, width):
        if height * width > self.max_image_pixels:
            raise invalid_argument(
                f"Image '{name}' of {height}x{width} pixels is over the "
                f"server's limit of {self.max_image_pixels} pixels "
                "(--max_image_pixels)."
            )

    def model_metadata(self, request):
        """Answers a `GetModelMetadataRequest` like TF Serving."""
        fields = list(request.metadata_field)
        if not fields:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one "
                "metadata_field ('signature_def')."
            )
        unsupported = sorted(set(fields) - {"signature_def"})
        if unsupported:
            raise invalid_argument(
                f"Metadata field(s) {unsupported} are not supported; only "
                "'signature_def' is."
            )
        servable = self.repository.find(request.model_spec)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature_def in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature_def)
        packed = any_pb2.Any()
        packed.Pack(signature_map)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_model_spec(response.model_spec, servable, None)
        response.metadata["signature_def"].CopyFrom(packed)
        return response

    def model_status(self, request):
        """Answers a `GetModelStatusRequest` like TF Serving: loaded
        versions are `AVAILABLE`, versions that did not load `END` with
        their error."""
        name = request.model_spec.name
        available = self.repository.versions(name)
        failures = self.repository.failures(name)
        if request.model_spec.HasField("version"):
            wanted = request.model_spec.version.value
            if wanted not in available and wanted not in failures:
                raise not_found(
                    f"Could not find version {wanted} of model '{name}'."
                )
            reported = {wanted}
        elif request.model_spec.version_label:
            reported = {self.repository.find(request.model_spec).version}
        else:
            reported = set(available) | set(failures)
        response = get_model_status_pb2.GetModelStatusResponse()
        states = get_model_status_pb2.ModelVersionStatus
        for version in sorted(reported):
            status = response.model_version_status.add()
            status.version = version
            if version in available:
                status.state = states.AVAILABLE
                status.status.error_code = 0
            else:
                status.state = states.END
                status.status.error_code = failures[version].code
                status.status.error_message = failures[version].message
        return response


def _check_input_names(given, specs):
    given = set(given)
    missing = sorted(set(specs) - given)
    if missing:
        raise invalid_argument(
            f"Missing input(s) {missing}; the signature takes "
            f"{sorted(specs)}."
        )
    unknown = [shorten(name) for name in sorted(given - set(specs))]
    if unknown:
        raise invalid_argument(
            f"Unknown input(s) {unknown}; the signature takes "
            f"{sorted(specs)}."
        )


def _shape_text(shape):
    return [-1 if size is None else size for size in shape.as_list()]


def _fill_model_spec(model_spec, servable, signature_name):
    model_spec.name = servable.name
    model_spec.version.value = servable.version
    if signature_name:
        model_spec.signature_name = signature_name


def _guarded(method):
    """Turns any failure of an RPC handler into a status, never a crash."""

    def handler(self, request, context):
        try:
            return method(self, request)
        except Exception as error:  # The server must outlive any request.
            error = from_exception(error)
            if error.code == grpc.StatusCode.INTERNAL:
                log.exception("Internal error in %s", method.__name__)
            context.abort(error.code, error.message)

    handler.__name__ = method.__name__
    return handler


class _PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):

    def __init__(self, core):
        self._core = core

    @_guarded
    def Predict(self, request):
        return self._core.predict(request)

    @_guarded
    def GetModelMetadata(self, request):
        return self._core.model_metadata(request)


class _ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    # HandleReloadConfigRequest stays UNIMPLEMENTED: requests never name
    # paths.

    def __init__(self, core):
        self._core = core

    @_guarded
    def GetModelStatus(self, request):
        return self._core.model_status(request)


class LocalModelServer:
    """A TF Serving-compatible gRPC server (and optional REST server).

    Args:
        model_base_path: directory of numeric version subdirectories (TF
            Serving's `--model_base_path`). Give this and `model_name`, or
            `model_config_file`.
        model_name: the name clients use (`--model_name`).
        model_config_file: a text `ModelServerConfig` (`--model_config_file`)
            listing several models.
        port: gRPC port; 0 picks a free one (see `.port` after `start()`).
        rest_api_port: REST port; 0 disables REST unless `rest=True`, in
            which case 0 picks a free one.
        host: interface to bind. Defaults to loopback only.
        max_message_bytes: gRPC send/receive limit and largest request
            tensor.
        max_image_pixels: largest image (`height * width`) accepted.
        threads: gRPC worker threads.
        poll_seconds: how often to look for new versions (0 = never).
        rest: serve REST even when `rest_api_port` is 0 (on a free port).
        rest_api_timeout_in_ms: a REST connection that sends nothing for
            this long (idle between requests, or stalled within one) is
            closed.
        rest_api_num_threads: REST connections served at once, one thread
            each; more wait to be accepted. Defaults to 4 per CPU, as TF
            Serving's flag of that name.

    Example:

    ```python
    server = LocalModelServer("/models/lzu", model_name="lzu").start()
    with GrpcPredictionClient(f"127.0.0.1:{server.port}", "lzu") as client:
        outputs = client.predict(image)
    server.stop()
    ```
    """

    def __init__(self, model_base_path=None, model_name="lzu",
                 model_config_file=None, port=0, rest_api_port=0,
                 host="127.0.0.1", max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                 max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS, threads=8,
                 poll_seconds=0, rest=False,
                 rest_api_timeout_in_ms=DEFAULT_REST_API_TIMEOUT_IN_MS,
                 rest_api_num_threads=None):
        if (model_base_path is None) == (model_config_file is None):
            raise ValueError(
                "Pass exactly one of `model_base_path` (with `model_name`) "
                "and `model_config_file`."
            )
        if model_config_file is not None:
            configs = repository_lib.read_model_config_file(model_config_file)
        else:
            if not model_name:
                raise ValueError("`model_name` must be a non-empty string.")
            configs = [repository_lib.single_model_config(
                model_name, model_base_path)]
        if rest_api_num_threads is None:
            rest_api_num_threads = 4 * (os.cpu_count() or 1)
        for value, name in ((max_message_bytes, "max_message_bytes"),
                            (max_image_pixels, "max_image_pixels"),
                            (threads, "threads"),
                            (rest_api_timeout_in_ms, "rest_api_timeout_in_ms"),
                            (rest_api_num_threads, "rest_api_num_threads")):
            if int(value) < 1:
                raise ValueError(f"`{name}` must be positive, got {value}.")
        self.host = host
        self.port = int(port)
        self.rest_api_port = int(rest_api_port)
        self._rest = rest or self.rest_api_port != 0
        self._threads = int(threads)
        self._max_message_bytes = int(max_message_bytes)
        self._poll_seconds = float(poll_seconds)
        self._rest_timeout_seconds = int(rest_api_timeout_in_ms) / 1000.0
        self._rest_max_connections = int(rest_api_num_threads)
        self.repository = repository_lib.ModelRepository(configs)
        self.core = PredictionCore(self.repository, max_message_bytes,
                                   max_image_pixels)
        self._grpc_server = None
        self._rest_server = None
        self._stopped = threading.Event()
        self._poll_thread = None

    @property
    def target(self):
        """`host:port` of the gRPC endpoint, for clients."""
        return f"{self.host}:{self.port}"

    @property
    def rest_url(self):
        """Base URL of the REST endpoint (None when REST is off)."""
        if self._rest_server is None:
            return None
        return f"http://{self.host}:{self.rest_api_port}"

    def start(self):
        """Binds the ports and starts serving; returns `self`."""
        options = [
            ("grpc.max_receive_message_length", self._max_message_bytes),
            ("grpc.max_send_message_length", self._max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._threads,
                                       thread_name_prefix="lzu-grpc"),
            options=options,
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _PredictionServicer(self.core), server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            _ModelServicer(self.core), server
        )
        bound = server.add_insecure_port(f"{_bracket(self.host)}:{self.port}")
        if bound == 0:
            raise OSError(f"Could not bind gRPC port {self.target}.")
        self.port = bound
        server.start()
        self._grpc_server = server
        if self._rest:
            from keras_lzu.serving import rest_server

            self._rest_server = rest_server.start_rest_server(
                self.core, self.host, self.rest_api_port,
                self._max_message_bytes, self._rest_timeout_seconds,
                self._rest_max_connections,
            )
            self.rest_api_port = self._rest_server.server_address[1]
        if self._poll_seconds > 0:
            self._poll_thread = threading.Thread(
                target=self._poll, name="lzu-poll", daemon=True
            )
            self._poll_thread.start()
        log.info("Serving %s on gRPC %s%s", self.repository.model_names,
                 self.target,
                 f", REST {self.rest_url}" if self._rest_server else "")
        return self

    def stop(self, grace=5.0):
        """Stops accepting requests, lets running ones finish for `grace`
        seconds, then closes both servers."""
        self._stopped.set()
        if self._rest_server is not None:
            self._rest_server.shutdown()
            self._rest_server.server_close()
            self._rest_server = None
        if self._grpc_server is not None:
            self._grpc_server.stop(grace).wait()
            self._grpc_server = None

    def wait(self):
        """Blocks until `stop()` (e.g. from a signal handler)."""
        self._stopped.wait()

    def serve_forever(self, grace=5.0):
        """Starts (unless started), then stops gracefully on SIGTERM or
        SIGINT: running requests get `grace` seconds to finish."""
        if self._grpc_server is None:
            self.start()

        def on_signal(signum, frame):
            log.info("Signal %d: stopping (grace %.1fs)", signum, grace)
            threading.Thread(target=self.stop, args=(grace,)).start()

        previous = {sig: signal.signal(sig, on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.wait()
            while self._grpc_server is not None:
                self._stopped.wait(0.1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _poll(self):
        while not self._stopped.wait(self._poll_seconds):
            try:
                self.repository.refresh()
            except Exception:  # Keep serving what is loaded.
                log.exception("Refreshing model versions failed")


def _bracket(host):
    return f"[{host}]" if ":" in host and not host.startswith("[") else host

