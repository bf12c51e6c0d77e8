"""What benchmarks/soak.py found (issue 14): concurrent first calls of a signature, garbage gRPC bytes.

1. A signature's first call runs alone. TensorFlow instantiates and optimizes a loaded signature's function graph on its first call, and concurrent
first calls each do that work at once: right after a version swap in the soak, 16 classify requests that met
the new version's never-called `classify` signature together took 15-18 s each and the server's RSS rose by
~500 MB until they ended (one first call alone: 0.7 s and +37 MB). The servable now lets a signature's first
call run alone and the calls that arrive meanwhile wait for it.

2. A gRPC request whose bytes do not parse logged a 5-line DecodeError traceback each (the soak's 97 garbage
requests: 97 tracebacks); now one INFO line each, and the client still gets INTERNAL.
"""

import logging
import threading
import time

import grpc
import numpy as np

from serving.server.servable import Servable
from serving.server import ModelServer
from serving_toy_models import copy_version, reference_probabilities


def test_concurrent_first_calls_of_a_signature_wait_for_the_first(toy_version_dir):
    servable = Servable("toy", 1, toy_version_dir)
    real = servable._functions["serving_default"]
    events, lock = [], threading.Lock()

    def recording(**feeds):
        with lock:
            events.append("start")
        time.sleep(0.3)  # long enough for the other threads to arrive while the first call runs
        try:
            return real(**feeds)
        finally:
            with lock:
                events.append("end")

    servable._functions["serving_default"] = recording
    texts = np.array([b"banana", b"xyz"], dtype=object)
    barrier = threading.Barrier(6)
    results, errors = [], []

    def call():
        barrier.wait()
        try:
            results.append(servable.run("serving_default", {"text": texts}))
        except Exception as e:  # noqa: BLE001 - recorded and asserted below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 6
    assert events[:2] == ["start", "end"], events  # nothing else started while the first call ran
    assert events.count("start") == 6
    # After the first call, calls run concurrently again: the last five overlapped.
    assert events[2:7] == ["start"] * 5, events
    for result in results:
        np.testing.assert_allclose(result["probabilities"], reference_probabilities(["banana", "xyz"]), rtol=1e-5)

    # Another signature has its own first call; a failing first call still counts as the first.
    servable._functions["echo"] = lambda **feeds: (_ for _ in ()).throw(ValueError("boom"))
    for _ in range(2):
        try:
            servable.run("echo", {"text": texts})
        except Exception:  # noqa: BLE001 - the failure is the point
            pass
    assert servable._called == {"serving_default", "echo"}


def test_unparsable_grpc_request_logs_one_line_without_traceback(tmp_path, toy_version_dir, caplog, capfd):
    caplog.set_level(logging.INFO)
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=-1) as server:
        with grpc.insecure_channel(server.grpc_address) as channel:
            predict = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
            for garbage in (b"\xff" * 64, b"\x0a\x05abc"):
                try:
                    predict(garbage, timeout=30)
                    raise AssertionError("garbage was answered")
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.INTERNAL
    records = [r for r in caplog.records if r.name == "grpc._common"]
    assert len(records) == 2, [r.getMessage() for r in records]
    for record in records:
        assert record.exc_info is None and record.levelno == logging.INFO
        assert record.getMessage().startswith("gRPC request could not be parsed: DecodeError: ")
        assert "\n" not in record.getMessage()
    assert "Traceback" not in capfd.readouterr().err
