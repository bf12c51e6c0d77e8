"""Bounded loopback soak of `scripts/serve.py` (issue 14): good traffic checked answer by answer, hostile and
oversized requests, cancellations, disconnects, idle and slowloris sockets and a version swap, all at once,
while the server's resident memory is sampled.

  python benchmarks/soak.py --clients=16 --seconds=60

What it does:
- Exports a small raw-text model twice (`--model=bert`: a random-init BERT-Tiny classifier, 2 layers x 128,
  exported with `serving.export` with its tokenizer in the graph; `--model=toy`: the toy classifier of
  tests/serving/serving_toy_models.py). Version 2 has another classification head (toy: another bias), so
  every answer shows which version computed it. Reference outputs of both versions come from loading the two
  SavedModels in this process.
- Starts `scripts/serve.py` as a subprocess on free 127.0.0.1 ports serving version 1, with
  --grpc_max_message_bytes=4194304 and the server's defaults otherwise (row limit 1024, REST body limit 64 MiB,
  idle timeout 30 s, 1000 REST connections).
- Runs `--clients` threads for `--seconds`, each picking an action at random (weights in ACTIONS): good gRPC
  Predict/Classify/GetModelStatus and REST predict (row and columnar form)/classify/status, every answer
  compared with both versions' references (it must equal exactly one version's, the one gRPC reports, and a
  client that has seen version 2 must never see version 1 again); and hostile ones: the 40-byte proto declaring
  250M strings, a numeric tensor declaring 250M rows, DT_STRING [20000] without values, over-row-limit gRPC,
  Classify and REST requests (1025 rows, 40k texts, a 13 MB REST body of 40k texts), a gRPC message over its
  4 MiB limit, garbage gRPC bytes, a 5,000-digit JSON integer, 100k-deep JSON, malformed JSON, duplicate
  Content-Length, a body declared over 64 MiB, 1000-row gRPC calls cancelled mid-flight or with 10-200 ms
  deadlines, REST clients disconnecting (FIN or RST) mid-request, and (with --tls) plain HTTP to the HTTPS port.
  Meanwhile one thread holds `--idle_sockets` idle connections and `--slow_sockets` slowloris ones (a request
  head or body dripped one byte a second) and reopens those the server closes; version 2 is copied in (copy to
  a temporary name, then rename) at `--swap_at` of the run.
- Samples the server's VmRSS, thread count and open descriptors every 0.5 s (/proc/PID).
- Afterwards: the server must still answer gRPC and REST, version 2 must be AVAILABLE, SIGTERM must stop it.

Writes benchmarks/results/soak.json (`--output`) and prints a summary. Exit status 1 when a good request failed
(any error, a wrong value, an answer from no or two versions, a version going backwards), the server died or
did not answer afterwards, version 2 never answered, a hostile request got an answer outside its expected set,
or the peak RSS passed the bound: baseline (after warm-up) + `--rss_margin_mb`. Every loop is bounded in time
(and counts); a watchdog ends the run if anything hangs.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "benchmarks"), os.path.join(REPO, "tests", "serving")]

from common import machine_info, write_json  # noqa: E402

MODEL = "soak"
LABELS = ["negative", "neutral", "positive"]
ATOL = 1e-4  # served vs reference probabilities; the two versions differ by far more (checked at build)
GOOD_TIMEOUT = 60.0  # seconds a good request may take (a loaded 2-core machine) before it counts as an error
SOCKET_TIMEOUT = 30.0
SLOW_SECONDS = 2.0  # good requests slower than this are listed (start time, seconds) in the results
MAX_ROWS = 1024  # the server's default --max_request_rows
LONG_ROWS = 1000  # rows of the requests that are cancelled or cut off: within the row limit and the batching
#                   scheduler's default max_batch_size (1000), so they are accepted and start running
GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
REST_MAX_BODY_BYTES = 64 * 1024 * 1024  # the server's default --rest_max_body_bytes
VOCAB = os.path.join(REPO, "tests", "testdata", "vocab", "uncased_vocab.txt")

TEXT_POOL = [
    "I still have not received my new card",
    "How do I top up with Apple Pay?",
    "my card payment was declined at the shop this morning",
    "What is the exchange rate for euros?",
    "Héllo, Wörld! naïve café",
    "좋은 영화였다 정말로",
    "banana bread and a cup of tea",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "I think someone stole my phone and is using my account " * 3,
    "x" * 40,
    "Can I cancel a transfer that I made by mistake yesterday afternoon?",
]
LONG_TEXT = ("the quick brown fox jumps over the lazy dog while my card payment was declined again and "
             "again at the shop ") * 2

# action: (weight, kind). Good actions are checked value by value; hostile ones have an expected outcome set.
ACTIONS = {
    "grpc_predict": (22, "good"),
    "grpc_classify": (10, "good"),
    "grpc_status": (2, "good"),
    "rest_predict": (18, "good"),
    "rest_classify": (8, "good"),
    "rest_status": (2, "good"),
    "grpc_declared_250m_strings": (2, "hostile"),
    "grpc_declared_250m_numbers": (2, "hostile"),
    "grpc_20000_strings_no_values": (2, "hostile"),
    "grpc_1025_rows": (2, "hostile"),
    "grpc_40k_texts": (1, "hostile"),
    "grpc_classify_1025_examples": (1, "hostile"),
    "grpc_over_message_limit": (1, "hostile"),
    "grpc_garbage_bytes": (1, "hostile"),
    "grpc_cancel_mid_flight": (2, "hostile"),
    "grpc_short_deadline": (2, "hostile"),
    "rest_1025_rows": (2, "hostile"),
    "rest_13mb_40k_texts": (1, "hostile"),
    "rest_5000_digit_integer": (2, "hostile"),
    "rest_deep_json": (1, "hostile"),
    "rest_malformed_json": (1, "hostile"),
    "rest_duplicate_content_length": (2, "hostile"),
    "rest_body_over_limit": (1, "hostile"),
    "rest_disconnect_mid_request": (3, "hostile"),
    "rest_plain_http_to_https": (1, "hostile"),  # only with --tls
}
# Outcomes a hostile action may get (gRPC status names, HTTP status codes, or what the socket saw).
# A cancel or a short deadline may lose the race to a fast answer: OK is fine there.
EXPECTED = {
    "grpc_declared_250m_strings": {"INVALID_ARGUMENT"},
    "grpc_declared_250m_numbers": {"INVALID_ARGUMENT"},
    "grpc_20000_strings_no_values": {"INVALID_ARGUMENT"},
    "grpc_1025_rows": {"INVALID_ARGUMENT"},
    "grpc_40k_texts": {"INVALID_ARGUMENT"},
    "grpc_classify_1025_examples": {"INVALID_ARGUMENT"},
    "grpc_over_message_limit": {"RESOURCE_EXHAUSTED"},
    "grpc_garbage_bytes": {"INTERNAL", "INVALID_ARGUMENT"},
    "grpc_cancel_mid_flight": {"CANCELLED", "OK"},
    "grpc_short_deadline": {"DEADLINE_EXCEEDED", "OK"},
    "rest_1025_rows": {"400"},
    "rest_13mb_40k_texts": {"400"},
    "rest_5000_digit_integer": {"400"},
    "rest_deep_json": {"400"},
    "rest_malformed_json": {"400"},
    "rest_duplicate_content_length": {"400 closed"},
    "rest_body_over_limit": {"413"},
    "rest_disconnect_mid_request": {"fin after full request", "rst after full request", "rst mid-body"},
    "rest_plain_http_to_https": {"closed", "reset", "tls alert"},
}
# Heavy hostile actions are also capped in number (per run, all clients together).
CAPS_PER_MINUTE = {"rest_13mb_40k_texts": 12, "grpc_40k_texts": 30}


# === Models and reference outputs ===

def build_versions(kind: str, work: str) -> tuple[str, str]:
    """Writes version 1 and version 2 (another head) of the model; returns the two version folders."""
    if kind == "toy":
        import serving_toy_models
        v1 = serving_toy_models.write_toy_classifier(os.path.join(work, "stage1", "1"), variant=1)
        v2 = serving_toy_models.write_toy_classifier(os.path.join(work, "stage2", "2"), variant=2)
        return v1, v2
    import keras
    import numpy as np

    from bert_tf import BertConfig, BertEncoder
    from bert_tf.tasks import BertClassifier
    from serving.export import export_saved_model

    keras.utils.set_random_seed(14)
    with open(VOCAB, encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    config = BertConfig.preset("tiny", vocab_size=vocab_size, hidden_dropout_prob=0.0,
                               attention_probs_dropout_prob=0.0, initializer_range=0.2)
    model = BertClassifier(BertEncoder.from_bert_config(config), num_classes=len(LABELS), pooling="mean",
                           dropout=0.0, label_names=LABELS)
    encoder_weights = {id(w) for w in model.encoder.weights}
    paths = []
    for version in (1, 2):
        # Each version's head is redrawn at unit scale (the default init gives near-uniform probabilities).
        rng = np.random.default_rng(100 + version)
        for weight in model.weights:
            if id(weight) not in encoder_weights:
                weight.assign(rng.normal(size=weight.shape).astype("float32"))
        paths.append(export_saved_model(model, task_type="classifier", vocab_file=VOCAB, do_lower_case=True,
                                        export_base=os.path.join(work, f"stage{version}"), model_name=MODEL,
                                        max_seq_length=64, label_names=LABELS, version=version,
                                        warmup_texts=["warm up"]))
    return paths[0], paths[1]


class References:
    """Both versions' outputs for the texts of TEXT_POOL, from the SavedModels loaded in this process.

    Texts on which the two versions answer alike (e.g. saturated toy probabilities), or on which a version has
    a near tie between two labels, are left out (`texts` is what the clients send).
    """

    def __init__(self, version_dirs: dict[int, str]):
        import numpy as np
        import tensorflow as tf

        from serving.client import make_example

        probabilities, labels, scores, classes = {}, {}, {}, {}
        serialized = [make_example({"text": t}).SerializeToString() for t in TEXT_POOL]
        for version, path in version_dirs.items():
            loaded = tf.saved_model.load(path)
            out = loaded.signatures["serving_default"](text=tf.constant(TEXT_POOL))
            probabilities[version] = out["probabilities"].numpy()
            labels[version] = [b.decode() for b in out["labels"].numpy()]
            classified = loaded.signatures["classify"](inputs=tf.constant(serialized))
            scores[version] = classified["scores"].numpy()
            classes[version] = [[c.decode() for c in row] for row in classified["classes"].numpy()]
            del loaded
        keep = np.abs(probabilities[1] - probabilities[2]).max(axis=1) >= 100 * ATOL
        for p in probabilities.values():
            top2 = np.sort(p, axis=1)[:, -2:]
            keep &= top2[:, 1] - top2[:, 0] >= 100 * ATOL
        rows = [i for i in range(len(TEXT_POOL)) if keep[i]]
        if len(rows) < 4:
            raise SystemExit(f"only {len(rows)} texts tell the two versions apart")
        self.texts = [TEXT_POOL[i] for i in rows]
        self.probabilities = {v: p[rows] for v, p in probabilities.items()}
        self.scores = {v: p[rows] for v, p in scores.items()}
        self.labels = {v: [x[i] for i in rows] for v, x in labels.items()}
        self.classes = {v: [x[i] for i in rows] for v, x in classes.items()}
        self.min_version_gap = float(np.abs(self.probabilities[1] - self.probabilities[2]).max(axis=1).min())

    def versions_matching(self, rows: list[int], probabilities, labels=None, scores_mode: bool = False,
                          classes=None) -> set[int]:
        """The versions whose reference equals the served rows (values and labels)."""
        import numpy as np
        matches = set()
        probabilities = np.asarray(probabilities, dtype=np.float64)
        for version in self.probabilities:
            ref = (self.scores if scores_mode else self.probabilities)[version][rows]
            if probabilities.shape != ref.shape or not np.allclose(probabilities, ref, rtol=0, atol=ATOL):
                continue
            if labels is not None and list(labels) != [self.labels[version][r] for r in rows]:
                continue
            if classes is not None and [list(c) for c in classes] != [self.classes[version][r] for r in rows]:
                continue
            matches.add(version)
        return matches


# === Server process ===

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(work: str) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        raise SystemExit("--tls needs the openssl command-line tool to make a test certificate")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=120)
    return cert, key


def read_proc(pid: int) -> tuple[int, int, int] | None:
    """(VmRSS bytes, threads, open descriptors) of a live process, None once it is gone."""
    try:
        rss = threads = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
                elif line.startswith("State:") and line.split()[1] in ("Z", "X"):
                    return None
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss, threads, fds
    except (OSError, ValueError):
        return None


def start_server(base: str, work: str, args, cert_key) -> tuple[subprocess.Popen, int, int, list[str], str]:
    port_file = os.path.join(work, "ports")
    log_path = os.path.join(work, "server.log")
    for attempt in range(3):  # the REST port is picked here: retry if someone took it meanwhile
        rest_port = free_port()
        command = [sys.executable, os.path.join(REPO, "scripts", "serve.py"), f"--model_name={MODEL}",
                   f"--model_base_path={base}", "--port=0", f"--rest_api_port={rest_port}",
                   f"--port_file={port_file}", "--file_system_poll_wait_seconds=1",
                   f"--grpc_max_message_bytes={GRPC_MAX_MESSAGE_BYTES}",
                   f"--rest_api_idle_timeout_seconds={args.rest_api_idle_timeout_seconds:g}"]
        if args.enable_batching:
            command.append("--enable_batching")
        if cert_key:
            command += [f"--ssl_cert={cert_key[0]}", f"--ssl_key={cert_key[1]}"]
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   TF_CPP_MIN_LOG_LEVEL="2")
        log = open(log_path, "ab")
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        log.close()
        deadline = time.monotonic() + 300
        while not os.path.exists(port_file) and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if os.path.exists(port_file):
            grpc_port = int(open(port_file).read().split()[0])
            return server, grpc_port, rest_port, command, log_path
        stop_server(server)
        print(f"server did not start (attempt {attempt + 1}); log tail:\n{tail(log_path)}", flush=True)
    raise SystemExit("the server did not start")


def stop_server(server: subprocess.Popen, grace: float = 30.0) -> tuple[int | None, float]:
    """SIGTERM, then SIGKILL after `grace` seconds; (exit code, seconds to exit)."""
    start = time.monotonic()
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
    return server.returncode, time.monotonic() - start


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# === Statistics ===

class Stats:
    def __init__(self, start: float, swap_event: threading.Event):
        self.lock = threading.Lock()
        self.start = start
        self.swap_event = swap_event
        self.outcomes = collections.defaultdict(collections.Counter)  # action -> outcome -> count
        self.latencies = collections.defaultdict(list)  # good action -> seconds
        self.good_errors = []  # (t, action, message), all of them
        self.versions = collections.Counter()  # version -> good answers
        self.slow = []  # (start s, seconds, action, version) of good requests over SLOW_SECONDS, the first 50
        self.first_answer = {}  # version -> seconds into the run
        self.last_answer = {}

    def now(self) -> float:
        return time.monotonic() - self.start

    def hostile(self, action: str, outcome: str) -> None:
        with self.lock:
            self.outcomes[action][outcome] += 1

    def good_ok(self, action: str, seconds: float, version: int | None) -> None:
        t = self.now()
        with self.lock:
            self.outcomes[action]["ok"] += 1
            self.latencies[action].append(seconds)
            if seconds > SLOW_SECONDS and len(self.slow) < 50:
                self.slow.append((round(t - seconds, 2), round(seconds, 2), action, version))
            if version is not None:
                self.versions[version] += 1
                self.first_answer.setdefault(version, t)
                self.last_answer[version] = t

    def good_error(self, action: str, message: str) -> None:
        t = self.now()
        with self.lock:
            self.outcomes[action]["error"] += 1
            self.good_errors.append((round(t, 2), action, message[:500]))


# === Clients ===

class Client:
    """One client thread's connections and its checks."""

    def __init__(self, index: int, args, grpc_port: int, rest_port: int, refs: References, payloads: dict,
                 stats: Stats, budget, cert: bytes | None):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.rng = random.Random(args.seed * 1000 + index)
        self.refs, self.payloads, self.stats, self.budget = refs, payloads, stats, budget
        self.rest_port = rest_port
        self.tls = cert is not None
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        if self.tls:
            options.append(("grpc.ssl_target_name_override", "localhost"))
            self.channel = grpc.secure_channel(f"127.0.0.1:{grpc_port}",
                                               grpc.ssl_channel_credentials(root_certificates=cert), options)
            self.ssl_context = ssl.create_default_context(cadata=cert.decode())
        else:
            self.channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options)
            self.ssl_context = None
        self.predict = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.raw_predict = self.channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
        self.raw_classify = self.channel.unary_unary("/tensorflow.serving.PredictionService/Classify")
        self.http = None
        self.last_version = 0
        actions = [a for a in ACTIONS if self.tls or a != "rest_plain_http_to_https"]
        self.actions = actions
        self.weights = [ACTIONS[a][0] for a in actions]

    def close(self) -> None:
        self.channel.close()
        if self.http is not None:
            self.http.close()

    def run(self, stop: threading.Event, max_actions: int) -> None:
        for _ in range(max_actions):
            if stop.is_set():
                return
            action = self.rng.choices(self.actions, self.weights)[0]
            if ACTIONS[action][1] == "hostile" and not self.budget(action):
                action = "grpc_predict"
            try:
                if ACTIONS[action][1] == "good":
                    self.good(action)
                else:
                    self.stats.hostile(action, getattr(self, action)())
            except Exception as e:  # a bug in the harness must not end the soak silently
                kind = ACTIONS[action][1]
                if kind == "good":
                    self.stats.good_error(action, f"harness: {type(e).__name__}: {e}")
                else:
                    self.stats.hostile(action, f"harness error {type(e).__name__}: {e}"[:120])

    # --- good requests ---
    def _texts(self) -> list[int]:
        return [self.rng.randrange(len(self.refs.texts)) for _ in range(self.rng.randint(1, 4))]

    def _check_version(self, action: str, matches: set[int], reported: int | None, what: str) -> int | None:
        """The answer's version, or None after recording an error."""
        if len(matches) != 1:
            self.stats.good_error(action, f"{what} matched versions {sorted(matches)} (reported {reported})")
            return None
        version = next(iter(matches))
        if reported is not None and reported != version:
            self.stats.good_error(action, f"{what} values of version {version} reported as version {reported}")
            return None
        if version == 2 and not self.stats.swap_event.is_set():
            self.stats.good_error(action, f"{what} version 2 answered before it was copied in")
            return None
        if version < self.last_version:
            self.stats.good_error(action, f"{what} version {version} after version {self.last_version}")
            return None
        self.last_version = version
        return version

    def good(self, action: str) -> None:
        import grpc
        start = time.perf_counter()
        try:
            version = getattr(self, action)()
        except grpc.RpcError as e:
            self.stats.good_error(action, f"{e.code().name}: {e.details()}")
            return
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as e:
            if self.http is not None:
                self.http.close()
                self.http = None
            self.stats.good_error(action, f"{type(e).__name__}: {e}")
            return
        if version is not False:
            self.stats.good_ok(action, time.perf_counter() - start, version)

    def grpc_predict(self):
        from tensorflow_serving.apis import predict_pb2

        from serving.client import from_tensor_proto, tensor_proto
        rows = self._texts()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["text"].CopyFrom(tensor_proto([self.refs.texts[r] for r in rows]))
        response = self.predict.Predict(request, timeout=GOOD_TIMEOUT)
        labels = [b.decode() for b in from_tensor_proto(response.outputs["labels"])]
        matches = self.refs.versions_matching(rows, from_tensor_proto(response.outputs["probabilities"]), labels)
        version = self._check_version("grpc_predict", matches, response.model_spec.version.value, "gRPC Predict")
        return False if version is None else version

    def grpc_classify(self):
        from tensorflow_serving.apis import classification_pb2

        from serving.client import make_example
        rows = self._texts()
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name = MODEL
        request.model_spec.signature_name = "classify"
        for r in rows:
            request.input.example_list.examples.append(make_example({"text": self.refs.texts[r]}))
        response = self.predict.Classify(request, timeout=GOOD_TIMEOUT)
        result = response.result.classifications
        scores = [[c.score for c in row.classes] for row in result]
        classes = [[c.label for c in row.classes] for row in result]
        matches = self.refs.versions_matching(rows, scores, scores_mode=True, classes=classes)
        version = self._check_version("grpc_classify", matches, response.model_spec.version.value, "gRPC Classify")
        return False if version is None else version

    def grpc_status(self):
        from tensorflow_serving.apis import get_model_status_pb2
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = MODEL
        response = self.model.GetModelStatus(request, timeout=GOOD_TIMEOUT)
        available = [s.version for s in response.model_version_status if s.state == 30]  # AVAILABLE
        if not available:
            self.stats.good_error("grpc_status", f"no AVAILABLE version: {response}")
            return False
        return None

    def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.http is None:
            if self.tls:
                self.http = http.client.HTTPSConnection("127.0.0.1", self.rest_port, timeout=GOOD_TIMEOUT,
                                                        context=self.ssl_context)
            else:
                self.http = http.client.HTTPConnection("127.0.0.1", self.rest_port, timeout=GOOD_TIMEOUT)
        method = "GET" if body is None else "POST"
        self.http.request(method, path, body, {"Content-Type": "application/json"} if body is not None else {})
        response = self.http.getresponse()
        data = response.read()
        if (response.getheader("Connection") or "").lower() == "close":
            self.http.close()
            self.http = None
        return response.status, data

    def rest_predict(self):
        rows = self._texts()
        texts = [self.refs.texts[r] for r in rows]
        columnar = self.rng.random() < 0.3
        body = {"inputs": {"text": texts}} if columnar else {"instances": texts}
        code, data = self._post(f"/v1/models/{MODEL}:predict", json.dumps(body).encode())
        if code != 200:
            self.stats.good_error("rest_predict", f"HTTP {code}: {data[:300]!r}")
            return False
        doc = json.loads(data)
        if columnar:
            probabilities, labels = doc["outputs"]["probabilities"], doc["outputs"]["labels"]
        else:
            probabilities = [p["probabilities"] for p in doc["predictions"]]
            labels = [p["labels"] for p in doc["predictions"]]
        matches = self.refs.versions_matching(rows, probabilities, labels)
        version = self._check_version("rest_predict", matches, None, "REST predict")
        return False if version is None else version

    def rest_classify(self):
        rows = self._texts()
        body = {"signature_name": "classify", "examples": [{"text": self.refs.texts[r]} for r in rows]}
        code, data = self._post(f"/v1/models/{MODEL}:classify", json.dumps(body).encode())
        if code != 200:
            self.stats.good_error("rest_classify", f"HTTP {code}: {data[:300]!r}")
            return False
        results = json.loads(data)["results"]
        scores = [[score for _, score in row] for row in results]
        classes = [[label for label, _ in row] for row in results]
        matches = self.refs.versions_matching(rows, scores, scores_mode=True, classes=classes)
        version = self._check_version("rest_classify", matches, None, "REST classify")
        return False if version is None else version

    def rest_status(self):
        code, data = self._post(f"/v1/models/{MODEL}", None)
        states = [v["state"] for v in json.loads(data).get("model_version_status", [])] if code == 200 else []
        if "AVAILABLE" not in states:
            self.stats.good_error("rest_status", f"HTTP {code}: {data[:300]!r}")
            return False
        return None

    # --- hostile gRPC ---
    def _raw(self, method, payload: bytes, timeout: float = SOCKET_TIMEOUT) -> str:
        import grpc
        try:
            method(payload, timeout=timeout)
            return "OK"
        except grpc.RpcError as e:
            return e.code().name

    def grpc_declared_250m_strings(self):
        return self._raw(self.raw_predict, self.payloads["declared_250m_strings"])

    def grpc_declared_250m_numbers(self):
        return self._raw(self.raw_predict, self.payloads["declared_250m_numbers"])

    def grpc_20000_strings_no_values(self):
        return self._raw(self.raw_predict, self.payloads["strings_20000_no_values"])

    def grpc_1025_rows(self):
        return self._raw(self.raw_predict, self.payloads["grpc_1025_rows"])

    def grpc_40k_texts(self):
        return self._raw(self.raw_predict, self.payloads["grpc_40k_texts"])

    def grpc_classify_1025_examples(self):
        return self._raw(self.raw_classify, self.payloads["classify_1025_examples"])

    def grpc_over_message_limit(self):
        return self._raw(self.raw_predict, self.payloads["over_message_limit"])

    def grpc_garbage_bytes(self):
        return self._raw(self.raw_predict, bytes(self.rng.randrange(256) for _ in range(64)))

    def grpc_cancel_mid_flight(self):
        import grpc
        future = self.raw_predict.future(self.payloads["grpc_long_rows"], timeout=SOCKET_TIMEOUT)
        time.sleep(self.rng.uniform(0.01, 0.2))
        future.cancel()
        try:
            future.result(timeout=SOCKET_TIMEOUT)
            return "OK"
        except grpc.FutureCancelledError:
            return "CANCELLED"
        except grpc.RpcError as e:
            return e.code().name

    def grpc_short_deadline(self):
        return self._raw(self.raw_predict, self.payloads["grpc_long_rows"], timeout=self.rng.uniform(0.01, 0.2))

    # --- hostile REST (raw sockets) ---
    def _connect(self, tls: bool | None = None) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.rest_port), timeout=SOCKET_TIMEOUT)
        if self.tls if tls is None else tls:
            sock = self.ssl_context.wrap_socket(sock, server_hostname="127.0.0.1")
        return sock

    def _exchange(self, data: bytes, check_closed: bool = False) -> str:
        try:
            with self._connect() as sock:
                sock.sendall(data)
                code, closed = read_status(sock, check_closed)
            return f"{code} closed" if check_closed and closed else str(code)
        except ConnectionResetError:
            return "reset"
        except BrokenPipeError:
            return "broken pipe"
        except socket.timeout:
            return "timeout"
        except ssl.SSLError as e:
            return f"ssl error {e.reason}"
        except ConnectionError as e:
            return f"closed ({e})"[:60]

    def _post_raw(self, body: bytes, extra_headers: bytes = b"", path: str = f"/v1/models/{MODEL}:predict") -> str:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n").encode() + extra_headers + b"\r\n"
        return self._exchange(head + body)

    def rest_1025_rows(self):
        return self._post_raw(self.payloads["rest_1025_rows"])

    def rest_13mb_40k_texts(self):
        return self._post_raw(self.payloads["rest_13mb_40k_texts"])

    def rest_5000_digit_integer(self):
        return self._post_raw(self.payloads["rest_5000_digit_integer"])

    def rest_deep_json(self):
        return self._post_raw(self.payloads["rest_deep_json"])

    def rest_malformed_json(self):
        return self._post_raw(b'{"instances": ["banana", ')

    def rest_duplicate_content_length(self):
        body = json.dumps({"instances": ["banana"]}).encode()
        smuggled = f"GET /v1/models/{MODEL} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        head = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
                f"Content-Length: 2\r\n\r\n").encode()
        return self._exchange(head + body + smuggled, check_closed=True)

    def rest_body_over_limit(self):
        """Declares a body over the 64 MiB limit, sends 64 KiB of it, reads the answer and goes."""
        head = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Length: {REST_MAX_BODY_BYTES + 1}\r\n\r\n").encode()
        return self._exchange(head + b"[" * 65536)

    def rest_disconnect_mid_request(self):
        """A 1000-row request, then FIN or RST right away or after a moment; or half a body, then RST."""
        body = self.payloads["rest_long_rows"]
        head = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        way = self.rng.choice(("fin", "rst", "half"))
        try:
            sock = self._connect()
            try:
                if way == "half":
                    sock.sendall(head + body[:len(body) // 2])
                else:
                    sock.sendall(head + body)
                time.sleep(self.rng.uniform(0.0, 0.15))
            finally:
                if way == "fin":
                    sock.close()
                else:
                    reset(sock)
        except OSError as e:
            return f"send failed {type(e).__name__}"
        return {"fin": "fin after full request", "rst": "rst after full request", "half": "rst mid-body"}[way]

    def rest_plain_http_to_https(self):
        try:
            with self._connect(tls=False) as sock:
                sock.sendall(f"GET /v1/models/{MODEL} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                data = b""
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                    if len(data) > 65536:
                        return "answered"
            if data.startswith(b"HTTP/"):
                return "answered in plain HTTP"
            return "tls alert" if data else "closed"
        except ConnectionResetError:
            return "reset"
        except socket.timeout:
            return "timeout"


def reset(sock: socket.socket) -> None:
    """Closes with an RST (SO_LINGER 0), as a killed client does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def read_status(sock: socket.socket, check_closed: bool) -> tuple[int, bool]:
    """Reads one HTTP response; (status, whether the server then closed the connection)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head ({len(data)} bytes)")
        data += chunk
        if len(data) > 1 << 20:
            raise ConnectionError("response head too large")
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    code = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    if not check_closed:
        return code, False
    sock.settimeout(5.0)
    try:
        return code, sock.recv(1) == b""
    except socket.timeout:
        return code, False
    except (ConnectionResetError, ssl.SSLError):
        return code, True


# === Idle and slowloris sockets ===

class SocketHolder:
    """Holds idle connections and slowloris ones (a request head, or a body, dripped one byte a second) open,
    notes how and when the server ends each, and opens a new one in its place (at most 4 per slot)."""

    def __init__(self, args, rest_port: int, ssl_context, stats: Stats):
        self.args, self.rest_port, self.ssl_context, self.stats = args, rest_port, ssl_context, stats
        self.selector = selectors.DefaultSelector()
        self.open = {}  # socket -> record
        self.opened = collections.Counter()
        self.ended = collections.defaultdict(collections.Counter)  # kind -> outcome -> count
        self.lifetimes = collections.defaultdict(list)  # kind -> seconds until the server ended it
        self.open_failures = collections.Counter()

    def _targets(self) -> dict[str, int]:
        slow = self.args.slow_sockets
        return {"idle": self.args.idle_sockets, "head_drip": (slow + 1) // 2, "body_drip": slow // 2}

    def _open(self, kind: str) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.rest_port), timeout=5)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname="127.0.0.1")
        except OSError as e:
            self.open_failures[type(e).__name__] += 1
            return
        body = json.dumps({"instances": ["banana"] * 20}).encode()
        if kind == "head_drip":
            drip = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Content-Length: {len(body)}\r\nX-Pad: " + "a" * 200).encode()
        elif kind == "body_drip":
            sock.sendall((f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n").encode())
            drip = body[:-1]  # never complete: the request must not run
        else:
            drip = b""
        # Non-blocking from here: a TLS socket is readable after the handshake (TLS 1.3 session tickets) with no
        # application data, and a blocking recv there would stall this loop.
        sock.setblocking(False)
        record = {"kind": kind, "opened": time.monotonic(), "drip": drip, "pos": 0, "next": time.monotonic() + 1,
                  "data": b""}
        self.open[sock] = record
        self.selector.register(sock, selectors.EVENT_READ)
        self.opened[kind] += 1

    def _end(self, sock: socket.socket, outcome: str) -> None:
        record = self.open.pop(sock)
        self.selector.unregister(sock)
        sock.close()
        # An answer read before the close or reset is the outcome (a reset after it only means a byte of ours was
        # still unread when the server closed).
        if record["data"].startswith(b"HTTP/1.1 "):
            outcome = record["data"][9:12].decode("latin-1", "replace")
        self.ended[record["kind"]][outcome] += 1
        self.lifetimes[record["kind"]].append(time.monotonic() - record["opened"])

    def _end_after_send_error(self, sock: socket.socket, error: OSError) -> None:
        """The server may have answered (408) and closed while a drip byte was in flight: its reset fails our send,
        but the answer it sent first is still in our receive buffer, so read it before ending (see `_end`)."""
        try:
            while chunk := sock.recv(65536):
                self.open[sock]["data"] += chunk
        except OSError:
            pass
        self._end(sock, "reset" if isinstance(error, ConnectionResetError) else type(error).__name__)

    def run(self, stop: threading.Event) -> None:
        targets = self._targets()
        max_opens = {kind: 4 * n for kind, n in targets.items()}
        while not stop.is_set():
            now = time.monotonic()
            counts = collections.Counter(r["kind"] for r in self.open.values())
            opened_now = 0
            for kind, target in targets.items():
                while counts[kind] < target and self.opened[kind] < max_opens[kind] and opened_now < 20:
                    self._open(kind)
                    counts[kind] += 1
                    opened_now += 1
            for sock, record in list(self.open.items()):
                if record["drip"] and record["next"] <= now and record["pos"] < len(record["drip"]):
                    try:
                        if sock.send(record["drip"][record["pos"]:record["pos"] + 1]) == 1:
                            record["pos"] += 1
                            record["next"] = now + 1.0
                    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        pass
                    except OSError as e:
                        self._end_after_send_error(sock, e)
            for key, _ in self.selector.select(timeout=0.1):
                sock = key.fileobj
                if sock not in self.open:
                    continue
                try:
                    chunk = sock.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError, socket.timeout):
                    continue
                except ConnectionResetError:
                    self._end(sock, "reset")
                    continue
                except OSError as e:
                    self._end(sock, type(e).__name__)
                    continue
                if chunk:
                    self.open[sock]["data"] += chunk
                else:
                    self._end(sock, "closed")
        for sock in list(self.open):
            record = self.open.pop(sock)
            self.ended[record["kind"]]["still open at the end"] += 1
            self.selector.unregister(sock)
            sock.close()

    def report(self) -> dict:
        out = {}
        for kind, target in self._targets().items():
            lifetimes = sorted(self.lifetimes[kind])
            out[kind] = {"held_at_once": target, "opened": self.opened[kind], "ended": dict(self.ended[kind]),
                         "seconds_until_server_ended_min": round(lifetimes[0], 1) if lifetimes else None,
                         "seconds_until_server_ended_max": round(lifetimes[-1], 1) if lifetimes else None}
        out["open_failures"] = dict(self.open_failures)
        return out


# === Hostile payloads (serialized once) ===

def build_payloads(kind: str) -> dict:
    from tensorflow.core.framework import tensor_pb2, types_pb2
    from tensorflow_serving.apis import classification_pb2, predict_pb2

    from serving.client import make_example, tensor_proto

    def declared(dtype, dims, **values):
        proto = tensor_pb2.TensorProto(dtype=dtype)
        for d in dims:
            proto.tensor_shape.dim.add(size=d)
        for field, vals in values.items():
            getattr(proto, field).extend(vals)
        return proto

    def predict(inputs: dict, signature: str = "serving_default") -> bytes:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.model_spec.signature_name = signature
        for alias, tensor in inputs.items():
            request.inputs[alias].CopyFrom(tensor)
        return request.SerializeToString()

    if kind == "toy":
        numbers = predict({"x": declared(types_pb2.DT_FLOAT, [250_000_000, 4], float_val=[1.0])}, "numeric")
    else:
        numbers = predict({name: declared(types_pb2.DT_INT32, [250_000_000, 64], int_val=[1])
                           for name in ("token_ids", "segment_ids", "padding_mask")}, "serve_token_ids")
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = MODEL
    classify.model_spec.signature_name = "classify"
    for i in range(MAX_ROWS + 1):
        classify.input.example_list.examples.append(make_example({"text": f"text {i}"}))
    texts_40k = [f"client text number {i} " + "banana " * 44 for i in range(40_000)]  # ~13 MB of JSON
    payloads = {
        "declared_250m_strings": predict({"text": declared(types_pb2.DT_STRING, [250_000_000], string_val=[b"a"])}),
        "declared_250m_numbers": numbers,
        "strings_20000_no_values": predict({"text": declared(types_pb2.DT_STRING, [20_000])}),
        "grpc_1025_rows": predict({"text": tensor_proto(["banana"] * (MAX_ROWS + 1))}),
        "grpc_40k_texts": predict({"text": tensor_proto([f"text {i}" for i in range(40_000)])}),
        "classify_1025_examples": classify.SerializeToString(),
        "over_message_limit": predict({"text": tensor_proto(["a" * (GRPC_MAX_MESSAGE_BYTES + (1 << 20))])}),
        "grpc_long_rows": predict({"text": tensor_proto([f"{i} {LONG_TEXT}" for i in range(LONG_ROWS)])}),
        "rest_1025_rows": json.dumps({"instances": ["banana"] * (MAX_ROWS + 1)}).encode(),
        "rest_13mb_40k_texts": json.dumps({"instances": texts_40k}).encode(),
        "rest_5000_digit_integer": b'{"instances": [' + b"9" * 5000 + b"]}",
        "rest_deep_json": b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "rest_long_rows": json.dumps({"instances": [f"{i} {LONG_TEXT}" for i in range(LONG_ROWS)]}).encode(),
    }
    assert len(payloads["declared_250m_strings"]) < 64
    return payloads


# === The run ===

def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def final_checks(args, grpc_port: int, rest_port: int, refs: References, payloads, cert) -> dict:
    """After the load: one good request of each kind must still be answered, by version 2."""
    stats = Stats(time.monotonic(), threading.Event())
    stats.swap_event.set()
    client = Client(10_000, args, grpc_port, rest_port, refs, payloads, stats, lambda a: True, cert)
    try:
        for action in ("grpc_predict", "grpc_classify", "grpc_status", "rest_predict", "rest_classify",
                       "rest_status"):
            client.good(action)
    finally:
        client.close()
    return {"answered": sum(c["ok"] for c in stats.outcomes.values()),
            "errors": [e[1:] for e in stats.good_errors], "versions": dict(stats.versions)}


def wait_for_version(grpc_port: int, cert: bytes | None, version: int, timeout: float) -> float | None:
    """Seconds until `version` is AVAILABLE (polled every 0.5 s, at most `timeout`), None if it never was."""
    from serving.client import ServingClient
    start = time.monotonic()
    kwargs = dict(root_certificates=cert, ssl_target_name_override="localhost") if cert else {}
    with ServingClient(f"127.0.0.1:{grpc_port}", MODEL, retries=0, timeout=10, **kwargs) as client:
        while time.monotonic() - start < timeout:
            try:
                if any(s["version"] == version and s["state"] == "AVAILABLE" for s in client.get_model_status()):
                    return round(time.monotonic() - start, 1)
            except Exception:  # noqa: BLE001 - a failed poll is retried until the timeout
                pass
            time.sleep(0.5)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--model", choices=("bert", "toy"), default="bert")
    parser.add_argument("--swap_at", type=float, default=0.5, help="fraction of the run at which version 2 is "
                        "copied in")
    parser.add_argument("--idle_sockets", type=int, default=200)
    parser.add_argument("--slow_sockets", type=int, default=50)
    parser.add_argument("--rest_api_idle_timeout_seconds", type=float, default=30,
                        help="passed to the server (its default: 30)")
    parser.add_argument("--enable_batching", action="store_true", help="serve with --enable_batching")
    parser.add_argument("--tls", action="store_true", help="serve with a self-signed certificate (also sends "
                        "plain HTTP to the HTTPS port)")
    parser.add_argument("--rss_margin_mb", type=float, default=500,
                        help="the bound: peak RSS <= baseline RSS (after warm-up) + this. 500 MB: the largest "
                        "growth measured without batching (+375 MB, TLS on) x 1.3, rounded up; with "
                        "--enable_batching a 1000-row batch's activations need more (see docs/RESULTS.md, Soak)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=os.path.join(REPO, "benchmarks", "results", "soak.json"))
    parser.add_argument("--keep_work_dir", action="store_true")
    args = parser.parse_args()
    if args.clients < 1 or not 0 < args.seconds <= 3600 or not 0 < args.swap_at < 1:
        parser.error("need --clients >= 1, 0 < --seconds <= 3600 and 0 < --swap_at < 1")

    info = machine_info()
    work = tempfile.mkdtemp(prefix="bert_tf_soak_")
    server = None
    timings = {}
    try:
        t0 = time.monotonic()
        v1_dir, v2_dir = build_versions(args.model, work)
        refs = References({1: v1_dir, 2: v2_dir})
        payloads = build_payloads(args.model)
        timings["build_seconds"] = round(time.monotonic() - t0, 1)
        print(f"built {args.model} versions 1 and 2 in {timings['build_seconds']} s (smallest difference between "
              f"their probabilities over the text pool: {refs.min_version_gap:.3f})", flush=True)
        base = os.path.join(work, "models", MODEL)
        os.makedirs(base)
        shutil.copytree(v1_dir, os.path.join(base, "1"))
        cert_key = self_signed_cert(work) if args.tls else None
        cert = open(cert_key[0], "rb").read() if cert_key else None

        t0 = time.monotonic()
        server, grpc_port, rest_port, command, log_path = start_server(base, work, args, cert_key)
        timings["server_start_seconds"] = round(time.monotonic() - t0, 1)
        print(f"server pid {server.pid} up in {timings['server_start_seconds']} s: gRPC 127.0.0.1:{grpc_port}, "
              f"REST 127.0.0.1:{rest_port}", flush=True)

        # Warm-up: every good kind once, checked; then the baseline RSS.
        warm = final_checks(args, grpc_port, rest_port, refs, payloads, cert)
        if warm["errors"] or warm["versions"] != {1: 4}:
            raise SystemExit(f"warm-up failed: {warm}")
        time.sleep(1.0)
        baseline_samples = []
        for _ in range(5):
            baseline_samples.append(read_proc(server.pid))
            time.sleep(0.2)
        if any(s is None for s in baseline_samples):
            raise SystemExit("the server died during warm-up")
        baseline_rss = sorted(s[0] for s in baseline_samples)[2]
        baseline_threads = max(s[1] for s in baseline_samples)
        baseline_fds = max(s[2] for s in baseline_samples)
        print(f"baseline RSS {baseline_rss / 2**20:.0f} MB, {baseline_threads} threads, {baseline_fds} fds; "
              f"soak: {args.clients} clients x {args.seconds:g} s", flush=True)

        # The load.
        stop = threading.Event()
        swap_event = threading.Event()
        start = time.monotonic()
        stats = Stats(start, swap_event)
        samples = []  # (seconds, rss bytes, threads, fds)
        died = {}

        def sample():
            while not stop.is_set():
                s = read_proc(server.pid)
                if s is None or server.poll() is not None:
                    died["at"] = round(time.monotonic() - start, 1)
                    stop.set()
                    return
                samples.append((round(time.monotonic() - start, 2),) + s)
                stop.wait(0.5)

        caps_lock = threading.Lock()
        used = collections.Counter()
        caps = {a: max(1, int(n * args.seconds / 60)) for a, n in CAPS_PER_MINUTE.items()}

        def budget(action: str) -> bool:
            if action not in caps:
                return True
            with caps_lock:
                if used[action] >= caps[action]:
                    return False
                used[action] += 1
                return True

        swap = {}

        def swap_version():
            if stop.wait(args.seconds * args.swap_at):
                return
            swap["at"] = round(time.monotonic() - start, 2)
            swap_event.set()  # before the rename: an answer from version 2 is possible from here on
            tmp = os.path.join(base, ".tmp-2")
            shutil.copytree(v2_dir, tmp)
            os.rename(tmp, os.path.join(base, "2"))
            swap["renamed_at"] = round(time.monotonic() - start, 2)

        ssl_context = ssl.create_default_context(cadata=cert.decode()) if cert else None
        holder = SocketHolder(args, rest_port, ssl_context, stats)
        clients = [Client(i, args, grpc_port, rest_port, refs, payloads, stats, budget, cert)
                   for i in range(args.clients)]
        threads = [threading.Thread(target=sample, daemon=True, name="rss"),
                   threading.Thread(target=swap_version, daemon=True, name="swap"),
                   threading.Thread(target=holder.run, args=(stop,), daemon=True, name="sockets")]
        threads += [threading.Thread(target=c.run, args=(stop, 1_000_000), daemon=True, name=f"client{i}")
                    for i, c in enumerate(clients)]

        def watchdog():
            print("WATCHDOG: the soak overran its time budget; killing the server", flush=True)
            server.kill()
            os._exit(3)

        dog = threading.Timer(args.seconds + 600, watchdog)
        dog.daemon = True
        dog.start()
        for t in threads:
            t.start()
        stop.wait(args.seconds)
        stop.set()
        ended = time.monotonic()
        for t in threads:
            t.join(timeout=max(1.0, ended + GOOD_TIMEOUT + SOCKET_TIMEOUT + 10 - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        for c in clients:
            c.close()
        load_seconds = round(time.monotonic() - start, 1)
        print(f"load phase over after {load_seconds} s{f'; threads still running: {stuck}' if stuck else ''}",
              flush=True)

        # After the load: still up, still answering (version 2), memory after settling, clean shutdown.
        alive = server.poll() is None and "at" not in died
        after = {}
        if alive:
            time.sleep(3.0)
            waited = wait_for_version(grpc_port, cert, 2, timeout=120)
            after = final_checks(args, grpc_port, rest_port, refs, payloads, cert)
            after["waited_for_version_2_s"] = waited
            settled = read_proc(server.pid)
            alive = settled is not None and server.poll() is None
        else:
            settled = None
        dog.cancel()
        exit_code, shutdown_seconds = stop_server(server)
        with open(log_path, encoding="utf-8", errors="replace") as f:
            log_lines = f.read().splitlines()
        tracebacks = [i for i, line in enumerate(log_lines) if line.startswith("Traceback")]
        error_lines = [line for line in log_lines if re.match(r"E\d{4} |ERROR", line)][:10]

        # Report.
        good_actions = [a for a, (_, k) in ACTIONS.items() if k == "good"]
        good_total = sum(stats.outcomes[a]["ok"] + stats.outcomes[a]["error"] for a in good_actions)
        good_errors = len(stats.good_errors)
        all_latencies = [x for a in good_actions for x in stats.latencies[a]]
        rss_values = [s[1] for s in samples]
        peak_rss = max(rss_values + [baseline_rss] + ([settled[0]] if settled else []))
        bound = baseline_rss + args.rss_margin_mb * 2 ** 20
        hostile = {}
        unexpected = {}
        for action, (_, kind) in ACTIONS.items():
            if kind != "hostile":
                continue
            outcomes = dict(stats.outcomes[action])
            bad = {o: n for o, n in outcomes.items() if o not in EXPECTED[action]}
            hostile[action] = {"count": sum(outcomes.values()), "outcomes": outcomes,
                               "expected": sorted(EXPECTED[action])}
            if bad:
                unexpected[action] = bad
        if not args.tls:
            hostile["rest_plain_http_to_https"]["skipped"] = "TLS off (run with --tls)"

        failures = []
        if good_errors:
            failures.append(f"{good_errors} good requests failed")
        if not alive:
            failures.append(f"the server died (at {died.get('at')} s; exit code {server.returncode})")
        if after.get("errors"):
            failures.append(f"after the load, good requests failed: {after['errors'][:3]}")
        if alive and after.get("versions") != {2: 4}:
            failures.append(f"after the load, answers came from versions {after.get('versions')} (want 2 only)")
        if 2 not in stats.versions:
            failures.append("version 2 never answered during the soak")
        if unexpected:
            failures.append(f"hostile requests with unexpected outcomes: {unexpected}")
        if peak_rss > bound:
            failures.append(f"peak RSS {peak_rss / 2**20:.0f} MB over the bound {bound / 2**20:.0f} MB")
        if stuck:
            failures.append(f"client threads did not stop: {stuck}")

        def mb(x):
            return None if x is None else round(x / 2 ** 20, 1)

        by_kind = {}
        for a in good_actions:
            lat = stats.latencies[a]
            by_kind[a] = {"ok": stats.outcomes[a]["ok"], "errors": stats.outcomes[a]["error"],
                          "p50_ms": None if not lat else round(percentile(lat, 50) * 1000, 1),
                          "p99_ms": None if not lat else round(percentile(lat, 99) * 1000, 1),
                          "max_ms": None if not lat else round(max(lat) * 1000, 1)}
        result = {
            "command": "python benchmarks/soak.py " + " ".join(sys.argv[1:]),
            "config": {k: v for k, v in vars(args).items() if k != "output"},
            "server_command": " ".join(os.path.relpath(c, REPO) if c.startswith(REPO) else c
                                       for c in command[1:]).replace(work, "$WORK"),
            "machine": info,
            "timings": {**timings, "load_seconds": load_seconds, "shutdown_seconds": round(shutdown_seconds, 1)},
            "model": {"kind": args.model, "text_pool": len(refs.texts),
                      "min_probability_difference_between_versions": round(refs.min_version_gap, 4)},
            "good": {"requests": good_total, "errors": good_errors, "error_samples": stats.good_errors[:20],
                     "requests_per_second": round(good_total / args.seconds, 1),
                     "p50_ms": None if not all_latencies else round(percentile(all_latencies, 50) * 1000, 1),
                     "p99_ms": None if not all_latencies else round(percentile(all_latencies, 99) * 1000, 1),
                     "max_ms": None if not all_latencies else round(max(all_latencies) * 1000, 1),
                     "answers_by_version": {str(v): n for v, n in sorted(stats.versions.items())},
                     f"slower_than_{SLOW_SECONDS:g}_s": stats.slow,
                     "by_kind": by_kind},
            "swap": {"copied_in_at_s": swap.get("at"), "renamed_at_s": swap.get("renamed_at"),
                     "first_version_2_answer_s": None if 2 not in stats.first_answer else
                     round(stats.first_answer[2], 2),
                     "last_version_1_answer_s": None if 1 not in stats.last_answer else
                     round(stats.last_answer[1], 2),
                     "version_2_answering_after_rename_s": None if 2 not in stats.first_answer or
                     "renamed_at" not in swap else round(stats.first_answer[2] - swap["renamed_at"], 2)},
            "hostile": {"requests": sum(h["count"] for h in hostile.values()), "unexpected": unexpected,
                        "by_kind": hostile},
            "sockets": holder.report(),
            "rss": {"baseline_mb": mb(baseline_rss), "peak_mb": mb(peak_rss),
                    "peak_growth_mb": mb(peak_rss - baseline_rss),
                    "end_of_load_mb": mb(rss_values[-1]) if rss_values else None,
                    "after_settling_mb": mb(settled[0]) if settled else None,
                    "margin_mb": args.rss_margin_mb, "bound_mb": mb(bound), "within_bound": peak_rss <= bound,
                    "samples": len(samples)},
            "threads": {"baseline": baseline_threads, "peak": max([s[2] for s in samples] + [baseline_threads])},
            "fds": {"baseline": baseline_fds, "peak": max([s[3] for s in samples] + [baseline_fds])},
            "server": {"alive_at_end": alive, "died_at_s": died.get("at"), "after_load": after,
                       "exit_code_after_sigterm": exit_code, "log_lines": len(log_lines),
                       "log_tracebacks": len(tracebacks), "log_error_lines": error_lines,
                       "log_first_traceback": "\n".join(log_lines[tracebacks[0]:tracebacks[0] + 30])
                       if tracebacks else None},
            "rss_timeline_mb": [[s[0], mb(s[1]), s[2], s[3]] for s in samples],
            "failures": failures,
            "passed": not failures,
        }
        write_json(args.output, result)

        print(f"\nSOAK {args.clients} clients x {args.seconds:g} s, model {args.model}, batching "
              f"{'on' if args.enable_batching else 'off'}, TLS {'on' if args.tls else 'off'}, "
              f"{os.cpu_count()} CPUs, load average at start {info['load_average_at_start'][0]:.1f}")
        print(f"good requests: {good_total} ({good_total / args.seconds:.0f}/s), errors {good_errors}; "
              f"p50 {result['good']['p50_ms']} ms, p99 {result['good']['p99_ms']} ms, "
              f"max {result['good']['max_ms']} ms; answers by version {result['good']['answers_by_version']}")
        for a, row in by_kind.items():
            print(f"  {a:14} ok {row['ok']:6} errors {row['errors']:3} p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms")
        print(f"swap: copied in at {swap.get('at')} s, first v2 answer {result['swap']['first_version_2_answer_s']}"
              f" s, last v1 answer {result['swap']['last_version_1_answer_s']} s")
        print(f"hostile requests: {result['hostile']['requests']}")
        for a, h in hostile.items():
            print(f"  {a:30} {h['count']:5}  {h.get('skipped') or h['outcomes']}")
        for kind, row in result["sockets"].items():
            print(f"  sockets {kind:10} {row}")
        print(f"RSS: baseline {mb(baseline_rss)} MB, peak {mb(peak_rss)} MB (+{mb(peak_rss - baseline_rss)} MB), "
              f"end of load {result['rss']['end_of_load_mb']} MB, after settling {result['rss']['after_settling_mb']}"
              f" MB; bound {mb(bound)} MB (baseline + {args.rss_margin_mb:g} MB): "
              f"{'within' if peak_rss <= bound else 'EXCEEDED'}")
        print(f"threads: baseline {baseline_threads}, peak {result['threads']['peak']}; fds: baseline "
              f"{baseline_fds}, peak {result['fds']['peak']}")
        print(f"server: alive at end {alive}, after-load checks {after.get('answered')}/6 answered, exit code "
              f"after SIGTERM {exit_code} in {shutdown_seconds:.1f} s, log {len(log_lines)} lines, "
              f"{len(tracebacks)} tracebacks")
        print(f"wrote {os.path.relpath(args.output, REPO) if args.output.startswith(REPO) else args.output}")
        print("PASSED" if not failures else "FAILED: " + "; ".join(failures), flush=True)
        return 0 if not failures else 1
    finally:
        if server is not None and server.poll() is None:
            stop_server(server, grace=10)
        if args.keep_work_dir:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
