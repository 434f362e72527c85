"""The REST front end's edges: idle and stalled connections, the bound on
connections, hostile bodies and paths."""

import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from keras_lzu.serving import LocalModelServer
from keras_lzu.serving import RestPredictionClient

pytestmark = pytest.mark.tensorflow_only

TIMEOUT_SECONDS = 1.0
MAX_CONNECTIONS = 2


@pytest.fixture(scope="module")
def rest_server(export_root):
    server = LocalModelServer(
        str(export_root / "detector"), "detector", rest=True,
        rest_api_timeout_in_ms=int(TIMEOUT_SECONDS * 1000),
        rest_api_num_threads=MAX_CONNECTIONS,
    ).start()
    yield server
    server.stop(grace=1.0)


def _address(server):
    return server.host, server.rest_api_port


def _http_error(url, body=None):
    request = urllib.request.Request(
        url, data=body, method="GET" if body is None else "POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    return info.value.code, info.value.read()


def test_idle_connection_is_closed_after_the_timeout(rest_server):
    with socket.create_connection(_address(rest_server), timeout=10) as sock:
        began = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - began < TIMEOUT_SECONDS + 3


def test_stalled_request_body_is_answered_and_closed(rest_server):
    with socket.create_connection(_address(rest_server), timeout=10) as sock:
        sock.sendall(b"POST /v1/models/detector:predict HTTP/1.1\r\n"
                     b"Host: x\r\nContent-Length: 100\r\n\r\n{\"inputs\"")
        began = time.monotonic()
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        assert time.monotonic() - began < TIMEOUT_SECONDS + 3
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"did not arrive" in reply


def test_connections_over_the_bound_wait_without_a_thread(rest_server):
    # Every connection is served in turn (accepted, then closed when idle),
    # and never more than MAX_CONNECTIONS hold a thread at once. Watching
    # until all are closed, rather than for a fixed time, keeps the test
    # independent of how fast a loaded machine accepts them.
    before = threading.active_count()
    pending = [socket.create_connection(_address(rest_server))
               for _ in range(MAX_CONNECTIONS + 4)]
    most_threads = 0
    deadline = time.monotonic() + 60
    try:
        while pending:
            assert time.monotonic() < deadline, (
                f"{len(pending)} connections were never served")
            most_threads = max(most_threads,
                               threading.active_count() - before)
            readable, _, _ = select.select(pending, [], [], 0.02)
            for sock in readable:
                if not sock.recv(4096):
                    pending.remove(sock)
                    sock.close()
    finally:
        for sock in pending:
            sock.close()
    assert 1 <= most_threads <= MAX_CONNECTIONS
    client = RestPredictionClient(rest_server.rest_url, "detector",
                                  retries=0, timeout=10)
    assert client.get_model_status()[0]["state"] == "AVAILABLE"


def test_deeply_nested_json_is_a_bad_request(rest_server):
    depth = 100_000
    body = b"[" * depth + b"]" * depth
    status, reply = _http_error(
        f"{rest_server.rest_url}/v1/models/detector:predict", body)
    assert status == 400
    assert "nested too deeply" in json.loads(reply)["error"]


def test_long_model_name_is_echoed_cut_short(rest_server):
    name = "m" * 60_000
    status, reply = _http_error(f"{rest_server.rest_url}/v1/models/{name}")
    assert status == 404
    message = json.loads(reply)["error"]
    assert "m" * 100 + "... (60000 characters)" in message
    assert len(reply) < 1000


def test_long_signature_name_is_echoed_cut_short(rest_server):
    body = json.dumps({"signature_name": "s" * 1_000_000,
                       "inputs": []}).encode()
    status, reply = _http_error(
        f"{rest_server.rest_url}/v1/models/detector:predict", body)
    assert status == 404
    assert len(reply) < 1000
