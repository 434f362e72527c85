"""TF Serving's REST API over `http.server`, for `LocalModelServer`.

Paths, as TF Serving's:

- `GET  /v1/models/NAME[/versions/N | /labels/L]`: model status.
- `GET  /v1/models/NAME[/versions/N | /labels/L]/metadata`: signatures.
- `POST /v1/models/NAME[/versions/N | /labels/L]:predict`: inference.

Errors are `{"error": "..."}` with a 4xx / 5xx status. Each connection has
its own thread; at most `max_connections` are served at once (more wait to
be accepted), and one that sends nothing for `timeout_seconds` is closed.
"""

import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler
from http.server import HTTPServer

import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_pb2

from keras_lzu.serving import rest_json
from keras_lzu.serving.errors import from_exception
from keras_lzu.serving.errors import invalid_argument
from keras_lzu.serving.errors import not_found
from keras_lzu.serving.errors import shorten

_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<action>/metadata|:predict)?$"
)
log = logging.getLogger(__name__)


def start_rest_server(core, host, port, max_body_bytes, timeout_seconds,
                      max_connections):
    """Starts the REST front end of `core` in a daemon thread.

    Args:
        core: the `PredictionCore` answering requests.
        host, port: where to listen (port 0 picks a free one).
        max_body_bytes: largest request body.
        timeout_seconds: a connection that sends nothing for this long
            (idle between requests, or stalled within one) is closed, and
            an answer not sent within this long is cut off.
        max_connections: connections served at once; more wait to be
            accepted until one closes.

    Returns:
        The `HTTPServer` (its `server_address[1]` is the port).
    """
    handler = type("LzuRestHandler", (_Handler,), {
        "core": core, "max_body_bytes": int(max_body_bytes),
        "timeout": float(timeout_seconds),
    })
    server = _BoundedHTTPServer((host, int(port)), handler,
                                int(max_connections))
    threading.Thread(target=server.serve_forever, name="lzu-rest",
                     daemon=True).start()
    return server


class _BoundedHTTPServer(HTTPServer):
    """A thread per connection, at most `max_connections` at once."""

    request_queue_size = 64

    def __init__(self, address, handler, max_connections):
        super().__init__(address, handler)
        self._free_slots = threading.BoundedSemaphore(max_connections)
        self._closing = threading.Event()

    @property
    def connection_thread_name(self):
        return f"lzu-rest-{self.server_address[1]}-connection"

    def process_request(self, request, client_address):
        # Waiting here stops accepting: further connections queue in the
        # listen backlog, holding no thread.
        while not self._free_slots.acquire(timeout=0.2):
            if self._closing.is_set():
                self.shutdown_request(request)
                return
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address),
            name=self.connection_thread_name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # No thread to be had: drop this connection.
            self._free_slots.release()
            self.shutdown_request(request)
            log.warning("REST: could not start a connection thread")

    def _serve_connection(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:  # A failed connection must not stop the server.
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._free_slots.release()

    def handle_error(self, request, client_address):
        # A client that hangs up or stalls mid-answer is not a server error.
        log.debug("REST connection from %s ended with an error",
                  client_address[0], exc_info=True)

    def shutdown(self):
        self._closing.set()
        super().shutdown()


class _Handler(BaseHTTPRequestHandler):
    core = None
    max_body_bytes = 0
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self._answer("GET")

    def do_POST(self):
        self._answer("POST")

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def _answer(self, method):
        try:
            body = self._read_body() if method == "POST" else None
            status, payload = 200, self._route(method, body)
        except Exception as error:  # Every failure becomes a JSON error.
            error = from_exception(error)
            status, payload = error.http_status, {"error": error.message}
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > self.max_body_bytes:
            self.close_connection = True
            raise invalid_argument(
                f"Request body of {length} bytes is invalid or over the "
                f"limit of {self.max_body_bytes} bytes."
            )
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise invalid_argument(
                f"The request body did not arrive within {self.timeout} s."
            ) from None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise invalid_argument(f"Malformed JSON request: {error}") from None
        except RecursionError:
            raise invalid_argument(
                "Malformed JSON request: nested too deeply."
            ) from None

    def _route(self, method, body):
        match = _PATH.match(self.path.split("?", 1)[0])
        if match is None:
            raise not_found(
                f"Malformed request: {method} {shorten(self.path)}")
        model_spec = model_pb2.ModelSpec(name=match["name"])
        if match["version"] is not None:
            model_spec.version.value = int(match["version"])
        if match["label"] is not None:
            model_spec.version_label = match["label"]
        action = match["action"]
        if method == "GET" and action is None:
            request = get_model_status_pb2.GetModelStatusRequest(
                model_spec=model_spec)
            return _to_dict(self.core.model_status(request))
        if method == "GET" and action == "/metadata":
            return self._metadata(model_spec)
        if method == "POST" and action == ":predict":
            return self._predict(model_spec, body)
        raise not_found(
            f"Malformed request: {method} {shorten(self.path)}")

    def _metadata(self, model_spec):
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=model_spec, metadata_field=["signature_def"])
        response = self.core.model_metadata(request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return {
            "model_spec": _to_dict(response.model_spec),
            "metadata": {"signature_def": _to_dict(signature_map)},
        }

    def _predict(self, model_spec, body):
        if isinstance(body, dict) and body.get("signature_name"):
            if not isinstance(body["signature_name"], str):
                raise invalid_argument("'signature_name' must be a string.")
            model_spec.signature_name = body["signature_name"]
        servable, signature_name = self.core.signature(model_spec)
        specs = servable.input_specs(signature_name)
        dtypes = {name: object if spec.dtype.name == "string"
                  else np.dtype(spec.dtype.as_numpy_dtype)
                  for name, spec in specs.items()}
        arrays, row_format = rest_json.decode_request(body, dtypes)
        outputs = self.core.run(servable, signature_name, arrays)
        return rest_json.encode_response(outputs, row_format)


def _to_dict(message):
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
    )

