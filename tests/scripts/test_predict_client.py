"""scripts/predict_client.py --top_k (issue 13): the K most likely labels (default 5), most likely first (it
printed every label's probability, alphabetically: 77 for Banking77). A stand-in REST endpoint answers
TF Serving's predict and classify for a 7-label classifier."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LABELS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape"]
PROBABILITIES = [0.05, 0.30, 0.02, 0.25, 0.08, 0.20, 0.10]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith(":classify"):
            answer = {"results": [[[label, 0.0] for label in LABELS] for _ in body["examples"]]}
        else:
            rows = len(body["instances"]) if "instances" in body else len(body["inputs"]["text"])
            answer = {"outputs": {"probabilities": [PROBABILITIES] * rows, "labels": ["banana"] * rows,
                                  "label_ids": [1] * rows}}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def rest_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _client(rest_url, *args):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "predict_client.py"),
                           f"--rest_url={rest_url}", "--model_name=fruit", "--text=a yellow one", *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    return json.loads(line)


def test_top_5_most_likely_first_by_default(rest_url):
    result = _client(rest_url)
    assert result["text"] == "a yellow one" and result["label"] == "banana"
    assert list(result["probabilities"]) == ["banana", "date", "fig", "grape", "elder"]
    assert result["probabilities"]["banana"] == pytest.approx(0.30)


@pytest.mark.parametrize("k, expected", [(2, ["banana", "date"]),
                                         (0, ["banana", "date", "fig", "grape", "elder", "apple", "cherry"])])
def test_top_k_flag(rest_url, k, expected):
    assert list(_client(rest_url, f"--top_k={k}")["probabilities"]) == expected
