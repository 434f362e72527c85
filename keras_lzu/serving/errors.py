"""Errors with gRPC status codes, shared by the local server's front ends."""

import grpc

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
        message: what was wrong, for the client.
    """

    def __init__(self, code, message):
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


def from_exception(error):
    """Maps any exception from running a model to a `ServingError`."""
    if isinstance(error, ServingError):
        return error
    import tensorflow as tf

    if isinstance(error, tf.errors.OpError):
        code = _CODES_BY_NUMBER.get(error.error_code,
                                    grpc.StatusCode.INTERNAL)
        return ServingError(code, _first_line(error.message))
    if isinstance(error, (ValueError, TypeError)):
        return invalid_argument(_first_line(str(error)))
    return ServingError(grpc.StatusCode.INTERNAL,
                        f"{type(error).__name__}: {_first_line(str(error))}")


def _first_line(text):
    # TF messages carry long graph stack traces after the useful part.
    lines = [line for line in str(text).splitlines() if line.strip()]
    useful = [line for line in lines if "assertion failed" in line]
    return (useful or lines or [""])[0].strip()[:2000]
