"""`RestPredictionClient`: TF Serving's REST API with only the standard
library (`urllib`)."""

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

from keras_lzu.serving import rest_json
from keras_lzu.serving import signatures


class RestError(RuntimeError):
    """A REST call failed; `status` is the HTTP status (None if the server
    could not be reached), `message` the server's `"error"` text."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class RestPredictionClient:
    """Calls a model served by TF Serving (or `lzu serve`) over REST.

    Args:
        base_url: e.g. `"http://127.0.0.1:8501"`.
        model_name: the served model's name.
        version: an int to pin a version; None for the latest.
        signature_name: signature used by `predict()`.
        timeout: seconds per HTTP request.
        retries: retries when the server cannot be reached or answers 503.
        backoff: seconds before the first retry; doubled after each.

    Example:

    ```python
    client = RestPredictionClient("http://127.0.0.1:8501", "lzu")
    detections = client.predict(image)  # uint8 (H, W, 3)
    ```
    """

    def __init__(self, base_url="http://127.0.0.1:8501", model_name="lzu",
                 version=None, signature_name="serving_default", timeout=30.0,
                 retries=3, backoff=0.2):
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"`base_url` must look like 'http://host:port', got "
                f"{base_url!r}."
            )
        if not model_name or not isinstance(model_name, str):
            raise ValueError(
                f"`model_name` must be a non-empty string, got {model_name!r}."
            )
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.version = version
        self.signature_name = signature_name
        self.timeout = timeout
        self.retries = int(retries)
        self.backoff = float(backoff)
        self._output_dtypes = {}

    @property
    def model_url(self):
        url = f"{self.base_url}/v1/models/{urllib.parse.quote(self.model_name)}"
        if self.version is not None:
            url += f"/versions/{int(self.version)}"
        return url

    def predict(self, images, signature_name=None):
        """Runs the model on uint8 images; see
        `GrpcPredictionClient.predict`."""
        batch, single = signatures.image_batch(images)
        outputs = self.predict_tensors({"images": batch}, signature_name)
        return signatures.unbatch(outputs, single)

    def predict_encoded(self, image_bytes, signature_name="predict_encoded"):
        """Runs the model on JPEG / PNG files (sent as `{"b64": ...}`)."""
        batch, single = signatures.encoded_batch(image_bytes)
        outputs = self.predict_tensors({"image_bytes": batch}, signature_name)
        return signatures.unbatch(outputs, single)

    def predict_tensors(self, inputs, signature_name=None):
        """Sends named arrays in the columnar (`"inputs"`) format.

        Returns:
            `{output name: np.ndarray}` with the signature's output dtypes.
        """
        signature_name = signature_name or self.signature_name
        body = {
            "signature_name": signature_name,
            "inputs": {name: rest_json.encode_value(value)
                       for name, value in inputs.items()},
        }
        reply = self._request(f"{self.model_url}:predict", body)
        dtypes = self._dtypes(signature_name)
        outputs = reply["outputs"]
        if not isinstance(outputs, dict) or set(outputs) != set(dtypes):
            (name,) = dtypes
            outputs = {name: outputs}
        return {name: _to_array(value, dtypes.get(name))
                for name, value in outputs.items()}

    def get_model_metadata(self):
        """Returns `{"name", "version", "signatures"}` like the gRPC
        client."""
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        reply = self._request(f"{self.model_url}/metadata")
        signature_map = json_format.ParseDict(
            reply["metadata"]["signature_def"],
            get_model_metadata_pb2.SignatureDefMap(),
            ignore_unknown_fields=True,
        )
        spec = reply.get("model_spec", {})
        return {
            "name": spec.get("name", self.model_name),
            "version": int(spec.get("version", 0)),
            "signatures": signatures.summarize_signatures(signature_map),
        }

    def get_model_status(self):
        """Returns `[{"version", "state", "error_code", "error_message"}]`."""
        reply = self._request(self.model_url)
        return [
            {
                "version": int(status["version"]),
                "state": status["state"],
                "error_code": status.get("status", {}).get("error_code"),
                "error_message": status.get("status", {}).get(
                    "error_message", ""),
            }
            for status in reply["model_version_status"]
        ]

    def _dtypes(self, signature_name):
        if signature_name not in self._output_dtypes:
            metadata = self.get_model_metadata()["signatures"]
            if signature_name not in metadata:
                raise RestError(404, f"No signature '{signature_name}'.")
            self._output_dtypes[signature_name] = {
                name: info["dtype"]
                for name, info in metadata[signature_name]["outputs"].items()
            }
        return self._output_dtypes[signature_name]

    def _request(self, url, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        delay = self.backoff
        attempt = 0
        while True:
            request = urllib.request.Request(
                url, data=data, method="GET" if data is None else "POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request,
                                            timeout=self.timeout) as reply:
                    return json.loads(reply.read())
            except urllib.error.HTTPError as error:
                message = _error_message(error)
                if error.code != 503 or attempt == self.retries:
                    raise RestError(error.code, message) from None
            except (urllib.error.URLError, ConnectionError) as error:
                if attempt == self.retries:
                    raise RestError(None, str(error)) from None
            attempt += 1
            time.sleep(delay)
            delay *= 2


def _error_message(error):
    try:
        return json.loads(error.read()).get("error", error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)


def _to_array(value, dtype):
    if dtype == "string":
        return np.array(_strings(value), dtype=object)
    return np.asarray(value, dtype=dtype)


def _strings(value):
    if isinstance(value, list):
        return [_strings(item) for item in value]
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    return value.encode("utf-8")
