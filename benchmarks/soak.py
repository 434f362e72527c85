"""Soak run: `lzu serve` on loopback under mixed traffic while versions arrive.

Starts `python -m keras_lzu.cli serve` on a model directory holding one good
version, then for `--seconds` runs `--clients` threads (two in three on gRPC,
the rest on REST) sending good requests and, with probability `--bad`,
malformed or hostile ones, while a dropper puts new versions into the model
directory every `--drop-every` seconds: truncated (`saved_model.pb` cut in
half), half-copied (`saved_model.pb` first, the rest seconds later), copied
file by file, renamed into place, with truncated variables, and the newest
good version removed. A probe asks for a prediction every 0.1 s, and idle
REST connections are left open for the server to close.

Reports requests answered, wrong answers (a gRPC answer is compared with the
in-process prediction of the version it names, a REST answer with those of
every good version), errors by code, the longest stretch without a servable
model, and the server's RSS over time. Goal: no wrong answers, no failed
good request, no stretch without a model, flat memory. Not a test.

    python -m benchmarks.soak --seconds 180
"""

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "lzu"
IMAGE_SIZE = (48, 64)
MAX_IMAGE_PIXELS = 256 * 256
PROBE_SECONDS = 0.1
MEMORY_SECONDS = 2.0
REST_TIMEOUT_MS = 5000
DROPS = ("truncated", "half-copied", "copied", "truncated-variables",
         "removed", "renamed")


def stage_models(staging, count):
    """Exports `count` stand-in detectors with different weights.

    Returns:
        `{source: path}` of the SavedModel version directories.
    """
    sys.path.insert(0, os.path.join(ROOT, "tests", "serving"))
    import fake_models

    from keras_lzu import saved_model_export

    model = fake_models.FakeDetector()
    original = [weight.numpy() for weight in model.weights]
    sources = {}
    for source in range(count):
        for weight, value in zip(model.weights, original):
            weight.assign(value * (1.0 + 0.15 * source))
        sources[source] = saved_model_export.export(
            model, staging, version=source + 1
        )
    return sources


def make_inputs(rng, count):
    """Returns `count` uint8 images and their PNG and JPEG files."""
    from PIL import Image

    images = [rng.integers(0, 256, IMAGE_SIZE + (3,), dtype=np.uint8)
              for _ in range(count)]
    encoded = {}
    for fmt in ("PNG", "JPEG"):
        files = []
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format=fmt)
            files.append(buffer.getvalue())
        encoded[fmt] = files
    return images, encoded["PNG"], encoded["JPEG"]


def expected_outputs(sources, images, pngs):
    """In-process predictions: `{source: {"pixels": [...], "encoded":
    [...]}}`, one dict of outputs per image."""
    import tensorflow as tf

    expected = {}
    for source, path in sources.items():
        loaded = tf.saved_model.load(path)
        pixels = loaded.signatures["serving_default"]
        encoded = loaded.signatures["predict_encoded"]
        expected[source] = {
            "pixels": [_numpy(pixels(images=tf.constant(image[None])))
                       for image in images],
            "encoded": [_numpy(encoded(image_bytes=tf.constant([data])))
                        for data in pngs],
        }
    return expected


def _numpy(outputs):
    return {name: value.numpy() for name, value in outputs.items()}


def outputs_match(actual, expected):
    if set(actual) != set(expected):
        return False
    for name, value in expected.items():
        got = np.asarray(actual[name])
        if got.shape != value.shape:
            return False
        if value.dtype.kind == "f":
            if not np.allclose(got, value, rtol=1e-4, atol=1e-3):
                return False
        elif not np.array_equal(got, value):
            return False
    return True


class Tally:
    """Counters shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.good_ok = 0
        self.wrong = []
        self.good_failed = {}
        self.bad = {}
        self.unexpected = {}

    def add(self, counts, key):
        with self.lock:
            counts[key] = counts.get(key, 0) + 1


class Dropper:
    """Puts new versions into `base` on a schedule; knows which staged
    model each good version holds."""

    def __init__(self, base, sources, pause_seconds):
        self.base = base
        self.sources = sources
        self.pause_seconds = pause_seconds
        self.next_version = 2
        self.next_source = 1
        self.good = {1: 0}  # Version -> source, removed ones included.
        self.on_disk = [1]  # Good versions still in `base`.
        self.dropped = []
        self.lock = threading.Lock()
        shutil.copytree(sources[0], os.path.join(base, "1"))

    def source_of(self, version):
        with self.lock:
            return self.good.get(version)

    def drop(self, kind):
        if kind == "removed":
            if len(self.on_disk) < 2:
                return
            newest = self.on_disk.pop()
            shutil.rmtree(os.path.join(self.base, str(newest)))
            self.dropped.append(f"removed {newest}")
            return
        version = self.next_version
        self.next_version += 1
        source = self.next_source % len(self.sources)
        self.next_source += 1
        source_dir = self.sources[source]
        target = os.path.join(self.base, str(version))
        self.dropped.append(f"{kind} {version}")
        if kind in ("renamed", "half-copied", "copied"):
            with self.lock:
                self.good[version] = source
            self.on_disk.append(version)
        if kind == "renamed":
            staging = os.path.join(self.base, f".incoming-{version}")
            shutil.copytree(source_dir, staging)
            os.replace(staging, target)
        elif kind == "half-copied":
            os.makedirs(target)
            shutil.copy(os.path.join(source_dir, "saved_model.pb"), target)
            time.sleep(self.pause_seconds)
            for entry in os.listdir(source_dir):
                path = os.path.join(source_dir, entry)
                if os.path.isdir(path):
                    shutil.copytree(path, os.path.join(target, entry))
                elif entry != "saved_model.pb":
                    shutil.copy(path, target)
        elif kind == "copied":
            shutil.copytree(source_dir, target)
        else:
            staging = os.path.join(self.base, f".incoming-{version}")
            shutil.copytree(source_dir, staging)
            damaged = (os.path.join(staging, "saved_model.pb")
                       if kind == "truncated" else os.path.join(
                           staging, "variables",
                           "variables.data-00000-of-00001"))
            with open(damaged, "rb") as f:
                data = f.read()
            with open(damaged, "wb") as f:
                f.write(data[:len(data) // 2])
            os.replace(staging, target)


class Server:
    """`lzu serve` in a child process."""

    def __init__(self, base, log_path):
        self.grpc_port, self.rest_port = _free_port(), _free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                      if p])
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "keras_lzu.cli", "serve",
             "--model_name", MODEL, "--model_base_path", base,
             "--port", str(self.grpc_port),
             "--rest_api_port", str(self.rest_port),
             "--max_image_pixels", str(MAX_IMAGE_PIXELS),
             "--file_system_poll_wait_seconds", "1",
             "--rest_api_timeout_in_ms", str(REST_TIMEOUT_MS)],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.process.stdout.readline()
        if "on gRPC" not in line:
            self.stop()
            raise RuntimeError(f"lzu serve did not start: {line!r}; see "
                               f"{log_path}")
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.rest_url = f"http://127.0.0.1:{self.rest_port}"

    def rss_mb(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def grpc_predict(stub, arrays, signature="serving_default", name=MODEL,
                 version=None):
    """Returns `(version, outputs)` of a Predict call."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for key, value in arrays.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    response = stub.Predict(request, timeout=60)
    return response.model_spec.version.value, {
        key: tf.make_ndarray(value) for key, value in response.outputs.items()
    }


def rest_post(url, body):
    """Returns `(HTTP status, parsed reply)`."""
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class Client:
    """One client thread's requests (gRPC or REST), good and bad."""

    def __init__(self, index, server, inputs, expected, dropper, tally,
                 bad_fraction):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.rng = np.random.default_rng(1000 + index)
        self.rest = index % 3 == 2
        self.server = server
        self.images, self.pngs, self.jpegs = inputs
        self.expected = expected
        self.dropper = dropper
        self.tally = tally
        self.bad_fraction = bad_fraction
        self.channel = grpc.insecure_channel(server.target, options=[
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
            ("grpc.max_receive_message_length", 16 * 1024 * 1024)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(
            self.channel)

    def run(self, deadline):
        while time.monotonic() < deadline:
            if self.rng.random() < self.bad_fraction:
                self._bad()
            else:
                self._good()
        self.channel.close()

    def _good(self):
        import grpc

        index = int(self.rng.integers(len(self.images)))
        image = self.images[index]
        if self.rest:
            url = f"{self.server.rest_url}/v1/models/{MODEL}:predict"
            body = json.dumps({"inputs": image[None].tolist()}).encode()
            status, reply = rest_post(url, body)
            if status != 200:
                self.tally.add(self.tally.good_failed, f"HTTP {status}")
                return
            outputs = {k: np.asarray(v) for k, v in reply["outputs"].items()}
            right = any(outputs_match(outputs, per_source["pixels"][index])
                        for per_source in self.expected.values())
            what = "REST"
        else:
            encoded = self.rng.random() < 0.5
            try:
                if encoded:
                    version, outputs = grpc_predict(
                        self.stub, {"image_bytes": np.array(
                            [self.pngs[index]], dtype=object)},
                        signature="predict_encoded")
                else:
                    version, outputs = grpc_predict(
                        self.stub, {"images": image[None]})
            except grpc.RpcError as error:
                self.tally.add(self.tally.good_failed, error.code().name)
                return
            source = self.dropper.source_of(version)
            key = "encoded" if encoded else "pixels"
            right = source is not None and outputs_match(
                outputs, self.expected[source][key][index])
            what = f"gRPC version {version}"
        with self.tally.lock:
            if right:
                self.tally.good_ok += 1
            else:
                self.tally.wrong.append(what)

    def _bad(self):
        import grpc

        if self.rest:
            kind, body, url_name, want = BAD_REST[
                int(self.rng.integers(len(BAD_REST)))]
            url = f"{self.server.rest_url}/v1/models/{url_name}:predict"
            status, _ = rest_post(url, body)
            got = f"HTTP {status}"
            want = f"HTTP {want}"
        else:
            kind, make, want = BAD_GRPC[int(self.rng.integers(len(BAD_GRPC)))]
            arguments = make(self)
            try:
                grpc_predict(self.stub, **arguments)
                got = "OK"
            except grpc.RpcError as error:
                got = error.code().name
        if got == want:
            self.tally.add(self.tally.bad, got)
        else:
            self.tally.add(self.tally.unexpected, f"{kind}: {got}")


BAD_GRPC = [
    ("float pixels", lambda c: {"arrays": {
        "images": np.zeros((1, 8, 8, 3), np.float32)}}, "INVALID_ARGUMENT"),
    ("empty batch", lambda c: {"arrays": {
        "images": np.zeros((0, 8, 8, 3), np.uint8)}}, "INVALID_ARGUMENT"),
    ("truncated JPEG", lambda c: {
        "arrays": {"image_bytes": np.array(
            [c.jpegs[0][:len(c.jpegs[0]) // 2]], dtype=object)},
        "signature": "predict_encoded"}, "INVALID_ARGUMENT"),
    ("garbage bytes", lambda c: {
        "arrays": {"image_bytes": np.array([c.rng.bytes(64)], dtype=object)},
        "signature": "predict_encoded"}, "INVALID_ARGUMENT"),
    ("too many pixels", lambda c: {"arrays": {
        "images": np.zeros((1, 300, 300, 3), np.uint8)}},
     "INVALID_ARGUMENT"),
    ("unknown model", lambda c: {"arrays": {
        "images": c.images[0][None]}, "name": "nope"}, "NOT_FOUND"),
    ("1 MB model name", lambda c: {"arrays": {
        "images": c.images[0][None]}, "name": "n" * 1_000_000},
     "NOT_FOUND"),
    ("unknown signature", lambda c: {"arrays": {
        "images": c.images[0][None]}, "signature": "nope"}, "NOT_FOUND"),
    ("unknown version", lambda c: {"arrays": {
        "images": c.images[0][None]}, "version": 999_999}, "NOT_FOUND"),
]
BAD_REST = [
    ("malformed JSON", b"{not json", MODEL, 400),
    ("100k-deep JSON", b"[" * 100_000 + b"]" * 100_000, MODEL, 400),
    ("wrong shape", b'{"inputs": [[1, 2, 3]]}', MODEL, 400),
    ("unknown model", b'{"inputs": [[[[1, 2, 3]]]]}', "nope", 404),
]


def probe(server, image, deadline, record):
    """Asks for a prediction every `PROBE_SECONDS`; records
    `(time, served version or None)`."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(server.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        while time.monotonic() < deadline:
            try:
                version, _ = grpc_predict(stub, {"images": image[None]})
            except grpc.RpcError:
                version = None
            record.append((time.monotonic(), version))
            time.sleep(PROBE_SECONDS)


def longest_outage(record):
    """Longest time from a failed probe to the next successful one."""
    longest, since = 0.0, None
    for moment, version in record:
        if version is None and since is None:
            since = moment
        elif version is not None and since is not None:
            longest = max(longest, moment - since)
            since = None
    if since is not None:
        longest = max(longest, record[-1][0] - since)
    return longest


def served_sequence(record):
    sequence = []
    for _, version in record:
        if version is not None and (not sequence or sequence[-1] != version):
            sequence.append(version)
    return sequence


def run(args, work):
    base = os.path.join(work, "models", MODEL)
    os.makedirs(base)
    rng = np.random.default_rng(0)
    sources = stage_models(os.path.join(work, "staging"), args.models)
    inputs = make_inputs(rng, 6)
    expected = expected_outputs(sources, inputs[0], inputs[1])
    dropper = Dropper(base, sources, args.copy_pause)
    log_path = os.path.join(work, "server.log")
    server = Server(base, log_path)
    tally = Tally()
    memory, probes, idle = [], [], []
    began = time.monotonic()
    deadline = began + args.seconds
    threads = [threading.Thread(
        target=Client(i, server, inputs, expected, dropper, tally,
                      args.bad).run, args=(deadline,))
        for i in range(args.clients)]
    threads.append(threading.Thread(
        target=probe, args=(server, inputs[0][0], deadline, probes)))
    for thread in threads:
        thread.start()
    next_drop = began + args.drop_every
    drops = 0
    try:
        while time.monotonic() < deadline:
            memory.append((time.monotonic() - began, server.rss_mb()))
            if time.monotonic() >= next_drop:
                dropper.drop(DROPS[drops % len(DROPS)])
                drops += 1
                next_drop += args.drop_every
                idle.append(socket.create_connection(
                    ("127.0.0.1", server.rest_port)))
            time.sleep(MEMORY_SECONDS)
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        closed = sum(_closed_by_server(sock) for sock in idle)
    finally:
        for sock in idle:
            sock.close()
        server.stop()
    with open(log_path) as f:
        load_failures = sum("did not load" in line for line in f)
    return {
        "elapsed": elapsed, "tally": tally, "memory": memory,
        "probes": probes, "dropped": dropper.dropped, "idle": len(idle),
        "idle_closed": closed, "load_failures": load_failures,
    }


def _closed_by_server(sock):
    sock.settimeout(REST_TIMEOUT_MS / 1000.0 + 5)
    try:
        return sock.recv(1) == b""
    except OSError:
        return False


def format_table(args, result):
    tally = result["tally"]
    good_failed = sum(tally.good_failed.values())
    bad = sum(tally.bad.values())
    unexpected = sum(tally.unexpected.values())
    answered = (tally.good_ok + len(tally.wrong) + good_failed + bad
                + unexpected)
    memory = [rss for _, rss in result["memory"]]
    every_30, mark = [], 0.0
    for moment, rss in result["memory"]:
        if moment >= mark:
            every_30.append(f"{rss:.0f}")
            mark += 30.0
    rest_clients = sum(1 for i in range(args.clients) if i % 3 == 2)

    def counts(table):
        return ", ".join(f"{k} {v}" for k, v in sorted(table.items())) or "0"

    rows = [
        ("duration (s)", f"{result['elapsed']:.0f}"),
        ("clients", f"{args.clients} ({args.clients - rest_clients} gRPC, "
                    f"{rest_clients} REST), bad fraction {args.bad}, plus "
                    f"a probe every {PROBE_SECONDS} s"),
        ("versions dropped", ", ".join(result["dropped"])),
        ("requests answered", f"{answered} ({answered / result['elapsed']:.1f}"
                              "/s)"),
        ("good requests right", tally.good_ok),
        ("wrong answers", counts({what: tally.wrong.count(what)
                                  for what in tally.wrong})),
        ("good requests failed", counts(tally.good_failed)),
        ("bad requests, expected errors", counts(tally.bad)),
        ("bad requests, other answers", counts(tally.unexpected)),
        ("longest stretch without a servable model (s)",
         f"{longest_outage(result['probes']):.1f} "
         f"({len(result['probes'])} probes)"),
        ("versions served (probe, in order)",
         " ".join(map(str, served_sequence(result["probes"])))),
        ("load failures logged", result["load_failures"]),
        ("idle REST connections closed by the server",
         f"{result['idle_closed']} of {result['idle']}"),
        ("server RSS (MB) first / min / max / last",
         f"{memory[0]:.0f} / {min(memory):.0f} / {max(memory):.0f} / "
         f"{memory[-1]:.0f}"),
        ("server RSS (MB) every 30 s", " ".join(every_30)),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--bad", type=float, default=0.4,
                        help="fraction of requests that are malformed")
    parser.add_argument("--drop-every", type=float, default=15.0,
                        help="seconds between new versions")
    parser.add_argument("--copy-pause", type=float, default=3.0,
                        help="seconds a half-copied version stays half "
                        "copied")
    parser.add_argument("--models", type=int, default=3,
                        help="distinct good models the versions cycle "
                        "through")
    parser.add_argument("--markdown", help="append the section to this file")
    args = parser.parse_args(argv)

    from benchmarks import machine

    began = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        result = run(args, work)
    command = " ".join(["python -m benchmarks.soak"] + [
        a for a in (argv if argv is not None else sys.argv[1:])])
    text = (f"## Serving soak\n\n{machine.describe()}\n\n```\n"
            f"{format_table(args, result)}\n```\n\n"
            f"*`{command}`, {time.monotonic() - began:.0f} s*\n")
    machine.publish(text, args.markdown)
    tally = result["tally"]
    healthy = (not tally.wrong and not tally.good_failed
               and not tally.unexpected
               and longest_outage(result["probes"]) == 0.0)
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
