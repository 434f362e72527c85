"""Errors with gRPC status codes, shared by the local server's front ends."""

import grpc

# An error's text travels in a gRPC trailer (16 KB hard limit, after
# percent-encoding) and REST bodies: long texts are cut to this many bytes.
MAX_MESSAGE_BYTES = 2000
# Names, labels and paths from a request are echoed in errors up to this
# many characters.
MAX_ECHOED_CHARS = 100

# TensorFlow's error codes are numbered like gRPC's status codes.
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}

# REST status for each gRPC code, as TF Serving's HTTP front end maps them.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class ServingError(Exception):
    """A request failure carrying the gRPC status code to report.

    Args:
        code: a `grpc.StatusCode`.
        message: what was wrong, for the client; cut to
            `MAX_MESSAGE_BYTES` of UTF-8.
    """

    def __init__(self, code, message):
        message = _cut(str(message))
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self):
        return HTTP_STATUS.get(self.code, 500)


def invalid_argument(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def shorten(text):
    """Returns `text` for echoing in an error: its first `MAX_ECHOED_CHARS`
    characters and its length when it is longer."""
    text = str(text)
    if len(text) <= MAX_ECHOED_CHARS:
        return text
    return f"{text[:MAX_ECHOED_CHARS]}... ({len(text)} characters)"


def describe(error):
    """Returns the line of an exception's message that says what was wrong.

    TensorFlow's errors from a `tf.function` open with "Graph execution
    error:" and node and stack lines; the message proper is the line before
    the `[[{{node ...}}]]` line. Failed assertions are preferred otherwise.
    """
    lines = [line.strip() for line in str(getattr(error, "message", error))
             .splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("[[") and index > 0:
            return lines[index - 1]
    useful = [line for line in lines if "assertion failed" in line]
    return (useful or lines or [""])[0]


def from_exception(error):
    """Maps any exception from running a model to a `ServingError`."""
    if isinstance(error, ServingError):
        return error
    import tensorflow as tf

    if isinstance(error, tf.errors.OpError):
        code = _CODES_BY_NUMBER.get(error.error_code,
                                    grpc.StatusCode.INTERNAL)
        return ServingError(code, describe(error))
    if isinstance(error, (ValueError, TypeError)):
        return invalid_argument(describe(error))
    return ServingError(grpc.StatusCode.INTERNAL,
                        f"{type(error).__name__}: {describe(error)}")


def _cut(message):
    data = message.encode("utf-8")
    if len(data) <= MAX_MESSAGE_BYTES:
        return message
    kept = data[:MAX_MESSAGE_BYTES].decode("utf-8", errors="ignore")
    return f"{kept}... (cut from {len(data)} bytes)"
