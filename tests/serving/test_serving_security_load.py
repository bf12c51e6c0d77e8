"""Batching, size limits, TLS, loopback binding, no-pickle, the bounded load test and the command-line scripts."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest

import serving_toy_models
from serving_toy_models import copy_version
from serving.server import config as serving_config
from serving.server import status
from serving.server.batching import BatchScheduler
from serving.client import RestClient, ServingClient
from serving.server import ModelServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# === Batching ===

def test_batch_scheduler_merges_pads_and_splits():
    seen = []

    def run(inputs):
        seen.append(inputs["x"].shape[0])
        return {"y": inputs["x"] * 2, "rows": np.arange(inputs["x"].shape[0])}

    scheduler = BatchScheduler(run, max_batch_size=8, batch_timeout_micros=200_000, allowed_batch_sizes=[4, 8])
    results = {}

    def submit(i, n):
        results[i] = scheduler.submit({"x": np.full((n, 3), i, np.float32)})

    threads = [threading.Thread(target=submit, args=(i, n)) for i, n in enumerate([1, 2, 2])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [8] or sum(seen) >= 5 and all(s in (4, 8) for s in seen)  # merged, padded to allowed sizes
    for i, n in enumerate([1, 2, 2]):
        np.testing.assert_array_equal(results[i]["y"], np.full((n, 3), 2 * i, np.float32))
    with pytest.raises(status.ServingError, match="Task size 9 is larger than maximum input batch size 8"):
        scheduler.submit({"x": np.zeros((9, 3), np.float32)})
    with pytest.raises(status.ServingError, match="must have equal 0th-dimension size"):
        scheduler.submit({"x": np.zeros((2, 3)), "z": np.zeros((3, 3))})
    with pytest.raises(status.ServingError, match="must have at least one dimension"):
        scheduler.submit({"x": np.float32(1.0)})
    scheduler.stop()


@pytest.mark.slow
def test_server_batching_limits_and_results(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    params = serving_config.batching_parameters(max_batch_size=4, batch_timeout_micros=20_000,
                                                allowed_batch_sizes=[2, 4])
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=0, enable_batching=True,
                     batching_parameters=params, file_system_poll_wait_seconds=-1) as server:
        client = ServingClient(server.grpc_address, "toy", retries=0)
        texts = ["banana", "xyz", "aaa"]
        outputs = {}

        def call(i):
            outputs[i] = client.predict({"text": texts[: i + 1]})["probabilities"]

        threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(3):
            np.testing.assert_allclose(outputs[i], serving_toy_models.reference_probabilities(texts[: i + 1]),
                                       rtol=1e-5)
        with pytest.raises(grpc.RpcError) as info:
            client.predict({"text": ["a"] * 5})
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == "Task size 5 is larger than maximum input batch size 4"
        # The client helper splits long inputs below the limit.
        long = client.predict({"text": ["abc"] * 10}, batch_size=4)["probabilities"]
        assert long.shape == (10, 3)
        with pytest.raises(Exception, match="Task size 5 is larger than maximum input batch size 4"):
            RestClient(server.rest_url, "toy", retries=0).predict({"text": ["a"] * 5})


# === Limits and safe defaults ===

def test_oversized_messages_are_refused_and_server_keeps_serving(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=0, file_system_poll_wait_seconds=-1,
                     grpc_max_message_bytes=1 << 20, rest_max_body_bytes=1 << 20) as server:
        assert server.host == "127.0.0.1"  # loopback unless told otherwise
        client = ServingClient(server.grpc_address, "toy", retries=0, max_message_bytes=64 << 20)
        with pytest.raises(grpc.RpcError) as info:
            client.predict({"text": ["a" * (2 << 20)]})
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # 8 MiB: far beyond the socket buffers, so a server that closes without reading the body resets the
        # connection and the client sees a broken pipe instead of the 413 (what CI once hit with 2 MiB)
        body = json.dumps({"instances": ["a" * (8 << 20)]}).encode()
        with pytest.raises(urllib.error.HTTPError) as http_info:
            urllib.request.urlopen(urllib.request.Request(server.rest_url + "/v1/models/toy:predict", data=body))
        assert http_info.value.code == 413
        assert client.predict({"text": ["banana"]})["labels"][0] == b"negative"


def test_no_unsafe_deserialization_in_serving_code():
    pattern = re.compile(r"\b(import pickle|pickle\.loads?|cPickle|marshal\.loads|torch\.load|yaml\.load\(|eval\()")
    for folder in ("serving", "scripts"):
        for name in os.listdir(os.path.join(REPO, folder)):
            if name.endswith(".py"):
                text = open(os.path.join(REPO, folder, name), encoding="utf-8").read()
                assert not pattern.search(text), f"{folder}/{name} uses unsafe deserialization"


def _self_signed(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command-line tool is needed to make a test certificate (platform limit)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert.read_bytes(), key.read_bytes()


@pytest.mark.slow
def test_tls_on_grpc_and_rest(tmp_path, toy_version_dir):
    cert, key = _self_signed(tmp_path)
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=0, ssl_cert=cert, ssl_key=key,
                     file_system_poll_wait_seconds=-1) as server:
        assert server.rest_url.startswith("https://")
        secure = ServingClient(server.grpc_address, "toy", root_certificates=cert, retries=0)
        assert secure.classify_text(["banana"])[0]["label"] == "negative"
        assert RestClient(server.rest_url, "toy", root_certificates=cert).classify_text(["xyz"])[0]["label"] == \
            "positive"
        with pytest.raises(grpc.RpcError) as info:  # plaintext to a TLS port fails
            ServingClient(server.grpc_address, "toy", retries=0, timeout=5).predict({"text": ["a"]})
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(urllib.error.URLError):  # an unknown certificate is rejected by a verifying client
            urllib.request.urlopen(server.rest_url + "/v1/models/toy", timeout=5)


# === Load ===

def run_load(address: str, model: str, clients: int, seconds: float, texts_per_request: int = 4,
             on_progress=None, expected=None) -> dict:
    """`clients` threads sending Predict calls for `seconds`; returns latencies (s), errors and throughput.

    `expected`: callable(version, texts) -> probabilities or None; an answer whose probabilities differ from
    those of the version its model_spec names counts as an error."""
    latencies, errors, versions = [], [], set()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(i):
        client = ServingClient(address, model, retries=0, timeout=30)
        texts = [f"client {i} says banana {j}" for j in range(texts_per_request)]
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                request_outputs = client._prediction.Predict(_predict_request(model, texts), timeout=30)
                elapsed = time.perf_counter() - start
                version = request_outputs.model_spec.version.value
                if expected is not None:
                    got = np.array(request_outputs.outputs["probabilities"].float_val).reshape(-1, 3)
                    if not np.allclose(got, expected(version, texts), rtol=1e-5):
                        with lock:
                            errors.append(f"answer of version {version} is not version {version}'s: {got[0]}")
                with lock:
                    latencies.append(elapsed)
                    versions.add(version)
            except grpc.RpcError as e:
                with lock:
                    errors.append(f"{e.code().name}: {e.details()}")
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    if on_progress is not None:
        on_progress()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    lat = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "versions": versions,
            "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
            "throughput_rps": len(latencies) / elapsed}


def _predict_request(model, texts):
    from tensorflow_serving.apis import predict_pb2

    from serving.client import tensor_proto
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["text"].CopyFrom(tensor_proto(texts))
    return request


@pytest.mark.slow
@pytest.mark.parametrize("batching", [False, True], ids=["no_batching", "batching"])
def test_bounded_load_with_new_version_mid_run(batching, tmp_path, toy_version_dir, toy_version2_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    params = serving_config.batching_parameters(max_batch_size=32, batch_timeout_micros=2000) if batching else None
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None, enable_batching=batching,
                     batching_parameters=params, file_system_poll_wait_seconds=0.3) as server:
        def drop_new_version():
            time.sleep(1.5)
            copy_version(toy_version2_dir, base, 2)  # temporary name, then rename; answers differently

        def expected(version, texts):
            return serving_toy_models.reference_probabilities(texts, variant=version)

        result = run_load(server.grpc_address, "toy", clients=4, seconds=5, on_progress=drop_new_version,
                          expected=expected)
    # Every answer is wholly one version's (with batching, a batch never mixes versions either).
    assert result["errors"] == [], result["errors"][:3]
    assert result["requests"] > 20 and result["versions"] == {1, 2}
    print(f"load batching={batching}: {result['requests']} requests, p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms, {result['throughput_rps']:.0f} req/s")


def test_a_replaced_version_is_unloaded_only_after_the_requests_holding_it(tmp_path, toy_version_dir,
                                                                            toy_version2_dir):
    """The race CI once hit under load (a batched request on version 1 failed with "Servable is being
    unloaded" when version 2 arrived): a request that resolved to version 1 keeps it in service until it ends;
    new requests already go to version 2."""
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    params = serving_config.batching_parameters(max_batch_size=8, batch_timeout_micros=1000)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None, enable_batching=True,
                     batching_parameters=params, file_system_poll_wait_seconds=-1) as server:
        request = _predict_request("toy", ["banana"])
        with server.manager.serving(request.model_spec) as held:
            assert held.version == 1
            copy_version(toy_version2_dir, base, 2)  # answers differently from version 1
            poll = threading.Thread(target=server.manager.poll)
            poll.start()
            deadline = time.monotonic() + 60
            while server.core.predict(request).model_spec.version.value != 2:  # v2 loaded and preferred
                assert time.monotonic() < deadline, "version 2 never became available"
                time.sleep(0.05)
            poll.join(timeout=1.0)
            assert poll.is_alive()  # the unload of version 1 waits for this request
            response = server.core.predict_on(held, request)  # the held version still runs, batched
            assert response.model_spec.version.value == 1
            _assert_probabilities_of(response, 1)
        poll.join(timeout=30)
        assert not poll.is_alive()
        response = server.core.predict(request)
        assert response.model_spec.version.value == 2
        _assert_probabilities_of(response, 2)


def _assert_probabilities_of(response, version):
    """The answer is the named version's (the toy versions 1 and 2 differ), not the other's."""
    got = np.array(response.outputs["probabilities"].float_val).reshape(-1, 3)
    np.testing.assert_allclose(got, serving_toy_models.reference_probabilities(["banana"], version), rtol=1e-5)
    assert not np.allclose(got, serving_toy_models.reference_probabilities(["banana"], 3 - version), rtol=1e-3)


# === Scripts ===

@pytest.mark.slow
def test_serve_and_predict_client_scripts(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    port_file = tmp_path / "ports"
    import socket
    with socket.socket() as sock:  # --rest_api_port=0 disables REST (TF Serving's meaning): pick a free port
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, os.path.join(REPO, "scripts", "serve.py"), "--model_name=toy",
                               f"--model_base_path={base}", "--port=0", f"--rest_api_port={free_port}",
                               f"--port_file={port_file}", "--file_system_poll_wait_seconds=0"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists():
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        grpc_port, rest_port = port_file.read_text().split()
        for target in (f"--server=127.0.0.1:{grpc_port}", f"--rest_url=http://127.0.0.1:{rest_port}"):
            out = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "predict_client.py"), target,
                                  "--model_name=toy", "--text=banana", "--text=xyz"], env=env, capture_output=True,
                                 text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            lines = [json.loads(line) for line in out.stdout.splitlines()]
            assert [x["label"] for x in lines] == ["negative", "positive"]
            assert set(lines[0]["probabilities"]) == set(serving_toy_models.LABELS)
        bad = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "predict_client.py"),
                              f"--server=127.0.0.1:{grpc_port}", "--model_name=nope", "--text=a"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 1 and "NOT_FOUND: Servable not found for request: Latest(nope)" in bad.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
