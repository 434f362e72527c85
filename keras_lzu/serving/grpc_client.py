"""`GrpcPredictionClient`: TF Serving's gRPC API from Python.

Works against `tensorflow_model_server` and `lzu serve` alike.
"""

import time

import grpc
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from keras_lzu.serving import signatures
from keras_lzu.serving import streams

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class GrpcPredictionClient:
    """Calls a model served by TF Serving (or `lzu serve`) over gRPC.

    Args:
        target: `"host:port"` of the gRPC endpoint.
        model_name: the served model's name.
        version: an int to pin a version; None for the latest.
        signature_name: signature used by `predict()`.
        timeout: deadline of each call in seconds.
        max_message_bytes: gRPC send and receive limit. gRPC's default of
            4 MB is below one 1920x1200 RGB image (6.9 MB); keep the
            server's limit (TF Serving: unlimited; `lzu serve
            --max_message_bytes`) at least as large.
        retries: how many times a call failing with `UNAVAILABLE` (server
            starting, restarting or unreachable) is retried.
        backoff: seconds before the first retry; doubled after each.
        version_label: a version label (TF Serving `version_labels`) instead
            of `version`.

    Example:

    ```python
    with GrpcPredictionClient("127.0.0.1:8500", model_name="lzu") as client:
        detections = client.predict(image)  # uint8 (H, W, 3)
        boxes = detections["boxes"][: detections["num_detections"]]
    ```
    """

    def __init__(self, target="127.0.0.1:8500", model_name="lzu",
                 version=None, signature_name="serving_default",
                 timeout=30.0, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES,
                 retries=3, backoff=0.2, version_label=None):
        if not model_name or not isinstance(model_name, str):
            raise ValueError(
                f"`model_name` must be a non-empty string, got {model_name!r}."
            )
        if version is not None and version_label is not None:
            raise ValueError("Pass at most one of `version` and "
                             "`version_label`.")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"`timeout` must be positive, got {timeout}.")
        if int(retries) < 0 or backoff < 0:
            raise ValueError(
                f"`retries` and `backoff` must be >= 0, got {retries}, "
                f"{backoff}."
            )
        self.target = target
        self.model_name = model_name
        self.version = version
        self.version_label = version_label
        self.signature_name = signature_name
        self.timeout = timeout
        self.retries = int(retries)
        self.backoff = float(backoff)
        # Reconnect quickly after a refused connection so that retries see a
        # server that has just come up (gRPC's own backoff starts at 1 s).
        reconnect_ms = max(int(backoff * 1000), 100)
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", int(max_message_bytes)),
            ("grpc.max_receive_message_length", int(max_message_bytes)),
            ("grpc.initial_reconnect_backoff_ms", reconnect_ms),
            ("grpc.min_reconnect_backoff_ms", reconnect_ms),
            ("grpc.max_reconnect_backoff_ms", max(reconnect_ms, 2000)),
        ])
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(
            self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def predict(self, images, signature_name=None, output_filter=None):
        """Runs the model on uint8 images.

        Args:
            images: uint8 `(H, W, 3)`, `(B, H, W, 3)`, or a list of same-size
                `(H, W, 3)` arrays.
            signature_name: overrides the client's `signature_name`.
            output_filter: names of outputs to return (all by default).

        Returns:
            `{output name: np.ndarray}`; without the batch axis when a single
            `(H, W, 3)` image was given.
        """
        batch, single = signatures.image_batch(images)
        outputs = self.predict_tensors(
            {"images": batch}, signature_name, output_filter
        )
        return signatures.unbatch(outputs, single)

    def predict_encoded(self, image_bytes, signature_name="predict_encoded",
                        output_filter=None):
        """Runs the model on JPEG / PNG files (the `predict_encoded`
        signature of `keras_lzu.export`).

        Args:
            image_bytes: the bytes of one file, or a list of them.
            signature_name: signature taking `image_bytes`.
            output_filter: names of outputs to return (all by default).

        Returns:
            `{output name: np.ndarray}`, each image's outputs in its own
            frame; without the batch axis when one `bytes` was given.
        """
        batch, single = signatures.encoded_batch(image_bytes)
        outputs = self.predict_tensors(
            {"image_bytes": batch}, signature_name, output_filter
        )
        return signatures.unbatch(outputs, single)

    def predict_stream(self, frames, score_threshold=0.5,
                       max_prior_boxes=100,
                       signature_name=streams.SERVING_WITH_BOXES):
        """Runs a detector with box saliency over a sequence of frames,
        sending each frame with the previous frame's detections as
        `prior_boxes` (the `serving_with_boxes` signature of
        `keras_lzu.export`); the server keeps no state.

        Args:
            frames: an iterable of uint8 `(H, W, 3)` frames (or `(B, H, W,
                3)` batches, one image per independent stream), all of one
                shape.
            score_threshold: detections scoring below it are not carried.
            max_prior_boxes: rows of `prior_boxes` sent with each frame.
            signature_name: the signature taking `images` and
                `prior_boxes`.

        Yields:
            Each frame's response, as `predict` returns it.

        Example:

        ```python
        for detections in client.predict_stream(video_frames):
            boxes = detections["boxes"][: detections["num_detections"]]
        ```
        """
        stream = streams.DetectionStream(
            self, score_threshold, max_prior_boxes, signature_name
        )
        for frame in frames:
            yield stream.predict(frame)

    def predict_tensors(self, inputs, signature_name=None, output_filter=None):
        """Sends named arrays to any signature.

        Args:
            inputs: `{input name: array}`.
            signature_name: defaults to the client's `signature_name`.
            output_filter: names of outputs to return (all by default).

        Returns:
            `{output name: np.ndarray}`.
        """
        import tensorflow as tf

        request = predict_pb2.PredictRequest()
        self._fill_model_spec(request.model_spec)
        request.model_spec.signature_name = (
            signature_name or self.signature_name
        )
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        request.output_filter.extend(output_filter or [])
        response = self._call(self._prediction.Predict, request)
        return {name: tf.make_ndarray(proto)
                for name, proto in response.outputs.items()}

    def get_model_metadata(self):
        """Returns the served version and its signatures.

        Returns:
            `{"name": str, "version": int, "signatures": {...}}`, signatures
            as `signatures.summarize_signatures` describes.
        """
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._fill_model_spec(request.model_spec)
        request.metadata_field.append("signature_def")
        response = self._call(self._prediction.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return {
            "name": response.model_spec.name,
            "version": response.model_spec.version.value,
            "signatures": signatures.summarize_signatures(signature_map),
        }

    def get_lzu_metadata(self):
        """Returns the exported model's `lzu_metadata` (the `metadata`
        signature of `keras_lzu.export`) as a dict."""
        import json

        outputs = self.predict_tensors({}, signature_name="metadata")
        return json.loads(outputs["lzu_metadata_json"].item())

    def get_model_status(self):
        """Returns `[{"version": int, "state": "AVAILABLE", "error_code":
        "OK", "error_message": str}, ...]` for the model's versions."""
        request = get_model_status_pb2.GetModelStatusRequest()
        self._fill_model_spec(request.model_spec)
        response = self._call(self._models.GetModelStatus, request)
        state_name = get_model_status_pb2.ModelVersionStatus.State.Name
        code_names = get_model_status_pb2.ModelVersionStatus.DESCRIPTOR \
            .fields_by_name["status"].message_type \
            .fields_by_name["error_code"].enum_type.values_by_number
        return [
            {
                "version": status.version,
                "state": state_name(status.state),
                "error_code": code_names[status.status.error_code].name,
                "error_message": status.status.error_message,
            }
            for status in response.model_version_status
        ]

    def close(self):
        """Closes the channel."""
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _fill_model_spec(self, model_spec):
        model_spec.name = self.model_name
        if self.version is not None:
            model_spec.version.value = int(self.version)
        elif self.version_label is not None:
            model_spec.version_label = self.version_label

    def _call(self, method, request):
        delay = self.backoff
        attempt = 0
        while True:
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as error:
                if (error.code() != grpc.StatusCode.UNAVAILABLE
                        or attempt == self.retries):
                    raise
            attempt += 1
            time.sleep(delay)
            delay *= 2

