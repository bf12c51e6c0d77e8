"""Issue 14 A–D against the real server over loopback: tensors that declare more than they carry, the per-request
row limit, gRPC cancellation and deadlines, a base path missing for a moment, and retried version loads."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import serving_toy_models
from serving_toy_models import copy_version
from serving.server import status
from serving.server.batching import BatchScheduler
from serving.client import ServingClient, tensor_proto
from serving.server.limits import CancelCheck, check_request_rows
from serving.server import ModelServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _wait(predicate, timeout=60.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def _declared(dtype, dims, **values) -> tensor_pb2.TensorProto:
    """A TensorProto with the given dims and only the values given (nothing padded)."""
    proto = tensor_pb2.TensorProto(dtype=dtype)
    for d in dims:
        proto.tensor_shape.dim.add(size=d)
    for field, vals in values.items():
        getattr(proto, field).extend(vals)
    return proto


def _request(tensor, signature="serving_default", name="toy", alias="text") -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    request.inputs[alias].CopyFrom(tensor)
    return request


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _state_of(client, version):
    return {s["version"]: s["state"] for s in client.get_model_status()}.get(version)


def _state_or_none(client, version):
    """As `_state_of`, but None while the model has no version at all: a poll that falls between a version's
    `rm` and the `rename` of its replacement unloads it, and GetModelStatus then answers NOT_FOUND, as TF
    Serving's does."""
    try:
        return _state_of(client, version)
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return None


# === A: a tiny proto must never expand to a huge allocation ===

@pytest.mark.slow
def test_tiny_proto_declaring_250m_strings_is_refused_before_allocation(tmp_path, toy_version_dir):
    """The issue's reproduction, on scripts/serve.py as a separate process (so its RSS can be read): a ~40-byte
    DT_STRING proto declaring dims [250000000] with one value drove the server to 24 GB and the OOM killer."""
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    port_file = tmp_path / "ports"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, os.path.join(REPO, "scripts", "serve.py"), "--model_name=toy",
                               f"--model_base_path={base}", "--port=0", "--rest_api_port=0",
                               f"--port_file={port_file}", "--file_system_poll_wait_seconds=0",
                               "--grpc_max_message_bytes=4194304"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: port_file.exists() or server.poll() is not None, timeout=180)
        assert server.poll() is None, "server did not start"
        grpc_port = port_file.read_text().split()[0]
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert stub.Predict(_request(tensor_proto(["banana"])), timeout=60).outputs["labels"].string_val == \
            [b"negative"]
        rss_before = _rss_bytes(server.pid)

        huge = _request(_declared(types_pb2.DT_STRING, [250_000_000], string_val=[b"a"]))
        assert len(huge.SerializeToString()) < 64
        for hostile in (huge, _request(_declared(types_pb2.DT_FLOAT, [250_000_000], float_val=[1.0]),
                                       signature="numeric", alias="x")):
            start = time.monotonic()
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(hostile, timeout=30)
            assert time.monotonic() - start < 10.0  # refused at once (the bound leaves room for a loaded machine);
            # an expansion that is fast enough to pass it (float zeros) shows in the RSS check below
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "250000000 rows, more than this server's limit of 1024 rows per request" in info.value.details()
        # No values at all for 20000 rows: refused too (it used to run a 20k-row inference).
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(_request(_declared(types_pb2.DT_STRING, [20000])), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        assert _rss_bytes(server.pid) - rss_before < 200 * 1024 * 1024
        assert server.poll() is None
        assert stub.Predict(_request(tensor_proto(["xyz"])), timeout=60).outputs["labels"].string_val == \
            [b"positive"]
        channel.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def test_declared_elements_must_be_carried_even_without_a_row_limit(tmp_path, toy_version_dir):
    """With the row limit off, the element check alone still refuses the expansion; TF's padding of a few values
    to the declared shape (what tf.make_tensor_proto(scalar, shape=...) sends) stays accepted when small."""
    import tensorflow as tf

    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=-1, max_request_rows=0) as server:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc_address))
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(_request(_declared(types_pb2.DT_STRING, [250_000_000], string_val=[b"a"])), timeout=30)
        assert time.monotonic() - start < 10.0  # refused at once; 250M Python strings take minutes to build
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details().startswith("tensor parsing error: text: shape [250000000] declares 250000000 "
                                               "elements but the tensor carries 1")
        for bad, words in ((_declared(types_pb2.DT_STRING, [20000]), "carries no values"),
                           (_declared(types_pb2.DT_STRING, [2 ** 40, 2 ** 40], string_val=[b"a"]),
                            "more than 2^63-1 elements"),
                           (_declared(types_pb2.DT_STRING, [-5], string_val=[b"a"]), None)):
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(_request(bad), timeout=30)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert info.value.details().startswith("tensor parsing error: text")
            assert words is None or words in info.value.details()
        x = _declared(types_pb2.DT_FLOAT, [2, 4])
        x.tensor_content = b"\0" * 12  # 3 floats for 8
        with pytest.raises(grpc.RpcError, match="needs 32 bytes of tensor_content, got 12"):
            stub.Predict(_request(x, signature="numeric", alias="x"), timeout=30)
        # Padding as TF does it: one value for the whole shape.
        splat = stub.Predict(_request(tf.make_tensor_proto(1.0, shape=[3, 4]), signature="numeric", alias="x"),
                             timeout=30)
        y = tf.make_ndarray(splat.outputs["y"])
        np.testing.assert_allclose(y, np.ones((3, 4), np.float32) @ serving_toy_models.NUMERIC_W, rtol=1e-6)
        one = stub.Predict(_request(_declared(types_pb2.DT_STRING, [3], string_val=[b"banana"])), timeout=30)
        assert list(one.outputs["labels"].string_val) == [b"negative"] * 3


# === B: the per-request row limit ===

def test_row_limit_on_grpc_predict_classify_and_the_shared_check(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=-1, max_request_rows=8) as server:
        assert server.core.max_request_rows == 8
        client = ServingClient(server.grpc_address, "toy", retries=0)
        assert client.predict({"text": ["a"] * 8})["probabilities"].shape == (8, 3)
        with pytest.raises(grpc.RpcError) as info:
            client.predict({"text": ["a"] * 9})
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == ('Input "text" has 9 rows, more than this server\'s limit of 8 rows per '
                                        'request (--max_request_rows); send the rows in several requests')
        assert len(client.predict({"text": ["a"] * 20}, batch_size=8)["labels"]) == 20  # the client splits
        with pytest.raises(grpc.RpcError) as info:
            client.classify([{"text": "banana"}] * 9, signature_name="classify")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "The request has 9 rows, more than this server's limit of 8" in info.value.details()
    check_request_rows(5, 5, "text")
    check_request_rows(10 ** 9, 0)
    check_request_rows(10 ** 9, None)
    with pytest.raises(status.ServingError, match="Input \"ids\" has 6 rows"):
        check_request_rows(6, 5, "ids")


# === B: cancellation and deadlines stop the work ===

@pytest.mark.slow
def test_cancelled_and_deadline_exceeded_grpc_calls_stop_computing(tmp_path):
    """A 1024-row call runs in 64-row chunks: once the client's deadline passes, or it cancels, no further chunk
    runs (the model counts the rows it finished), and the next request is served at once."""
    base = str(tmp_path / "slow")
    serving_toy_models.write_slow_model(os.path.join(base, "1"))
    texts = ["abc"] * 1024
    with ModelServer(model_name="slow", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=-1) as server:
        channel = grpc.insecure_channel(server.grpc_address)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def rows_done():
            response = stub.Predict(_request(tensor_proto(["x"]), signature="progress", name="slow"), timeout=30)
            return response.outputs["rows"].int64_val[0]

        def settled():
            """Rows done once nothing more runs (the count stays the same over 2 s)."""
            last = rows_done()
            while True:
                time.sleep(2.0)
                now = rows_done()
                if now == last:
                    return now
                last = now

        stub.Predict(_request(tensor_proto(["abc"] * 64), name="slow"), timeout=120)  # warm
        start = time.monotonic()
        stub.Predict(_request(tensor_proto(["abc"] * 64), name="slow"), timeout=120)
        chunk_seconds = time.monotonic() - start
        before = rows_done()
        deadline = max(0.3, chunk_seconds / 2)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(_request(tensor_proto(texts), name="slow"), timeout=deadline)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        at_deadline = rows_done()
        after_deadline = settled()
        # Once the deadline passed, the chunk under way finishes and on a loaded machine one more may start before
        # the server sees it (or before the count was read); the rest of the 16 chunks never run.
        assert after_deadline - at_deadline <= 3 * 64, (before, at_deadline, after_deadline, chunk_seconds)
        assert after_deadline - before < 1024, (before, at_deadline, after_deadline, chunk_seconds)

        future = stub.Predict.future(_request(tensor_proto(texts), name="slow"), timeout=120)
        started = time.monotonic()
        while rows_done() == after_deadline:  # cancel once the request runs (its first chunk finished)
            assert time.monotonic() - started < 60, "the 1024-row request never started"
            time.sleep(0.01)
        future.cancel()
        at_cancel = rows_done()
        with pytest.raises(grpc.FutureCancelledError):
            future.result()
        after_cancel = settled()
        # Cancelled while most of the 16 chunks were still to run; after it the chunk under way finishes and on a
        # loaded machine one more may start before the cancellation is seen (or before the count was read).
        assert at_cancel - after_deadline <= 4 * 64, (after_deadline, at_cancel, after_cancel)
        assert after_cancel - at_cancel <= 3 * 64, (after_deadline, at_cancel, after_cancel)

        start = time.monotonic()
        response = stub.Predict(_request(tensor_proto(["abc"] * 64), name="slow"), timeout=120)
        assert len(response.outputs["y"].float_val) == 64
        assert time.monotonic() - start < 3 * chunk_seconds + 2
        channel.close()


def test_a_cancelled_task_leaves_the_batching_queue():
    release = threading.Event()
    seen = []

    def run(inputs):
        seen.append(inputs["x"][:, 0].tolist())
        release.wait(30)
        return {"y": inputs["x"] * 2}

    scheduler = BatchScheduler(run, max_batch_size=4, batch_timeout_micros=0)
    first = threading.Thread(target=scheduler.submit, args=({"x": np.zeros((1, 2), np.float32)},))
    first.start()
    _wait(lambda: seen, timeout=10, interval=0.01)  # the only batch thread is busy with the first task
    gone = threading.Event()
    errors = []

    def second():
        try:
            scheduler.submit({"x": np.ones((1, 2), np.float32)}, cancel=CancelCheck(is_active=lambda: not gone.is_set()))
        except status.ServingError as e:
            errors.append(e)

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.2)
    gone.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and errors and errors[0].code == status.CANCELLED
    release.set()
    first.join(timeout=10)
    assert seen == [[0.0]]  # the cancelled task never ran
    deadline = CancelCheck(deadline=time.monotonic() - 1)
    with pytest.raises(status.ServingError) as info:
        scheduler.submit({"x": np.ones((1, 2), np.float32)}, cancel=deadline)
    assert info.value.code == status.DEADLINE_EXCEEDED
    scheduler.stop()


# === C: a base path missing for a moment ===

@pytest.mark.slow
def test_base_path_renamed_away_for_two_seconds_keeps_serving(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=0.1) as server:
        client = ServingClient(server.grpc_address, "toy", retries=0)
        errors, answers = [], []
        stop = threading.Event()

        def ask():
            while not stop.is_set():
                try:
                    answers.append(client.predict({"text": ["banana"]})["labels"][0])
                except grpc.RpcError as e:
                    errors.append(f"{e.code().name}: {e.details()}")
                time.sleep(0.02)

        thread = threading.Thread(target=ask, daemon=True)
        thread.start()
        try:
            time.sleep(0.5)
            os.rename(base, base + ".away")
            time.sleep(2.0)  # ~20 polls of a missing base path
            assert _state_of(client, 1) == "AVAILABLE"
            os.rename(base + ".away", base)
            time.sleep(0.5)
        finally:
            stop.set()
            thread.join(timeout=30)
        assert errors == [], errors[:3]
        assert len(answers) > 20 and set(answers) == {b"negative"}
        # An existing base path that no longer holds the version still unloads it (TF Serving does too).
        shutil.rmtree(os.path.join(base, "1"))
        _wait(lambda: _state_of(client, 1) == "END")


# === D: failed loads are retried ===

@pytest.mark.slow
def test_half_copied_version_is_loaded_once_its_files_are_complete(tmp_path, toy_version_dir, toy_version2_dir):
    """A version seen while half copied (saved_model.pb without its variables) fails to load; once the copy
    completes it is loaded without a restart, with TF Serving's default retry settings (a retry every minute)."""
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=0.2) as server:
        client = ServingClient(server.grpc_address, "toy", retries=0)
        half = os.path.join(base, "2")
        os.makedirs(half)
        shutil.copy(os.path.join(toy_version2_dir, "saved_model.pb"), half)  # not atomic: the copy is seen early
        _wait(lambda: server.manager.failed_loads("toy") == {2: 1})  # the load failed (variables missing)
        time.sleep(1.0)  # several polls since: none of them retried (the retry waits a minute)
        assert _state_of(client, 2) == "LOADING"  # a retry is pending (TF Serving reports LOADING meanwhile)
        assert server.manager.failed_loads("toy") == {2: 1}
        np.testing.assert_allclose(client.predict({"text": ["banana"]})["probabilities"],
                                   serving_toy_models.reference_probabilities(["banana"], 1), rtol=1e-5)
        for name in os.listdir(toy_version2_dir):
            src = os.path.join(toy_version2_dir, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(half, name))
        _wait(lambda: _state_of(client, 2) == "AVAILABLE", timeout=30)
        probabilities = client.predict({"text": ["banana"]})["probabilities"]
        np.testing.assert_allclose(probabilities, serving_toy_models.reference_probabilities(["banana"], 2),
                                   rtol=1e-5)


@pytest.mark.slow
def test_a_version_that_failed_for_good_is_loaded_again_when_replaced_by_rm_and_rename(tmp_path, toy_version_dir,
                                                                                       toy_version2_dir):
    """A broken version 2, then a good one put in its place within one poll interval (rm + rename), so the
    poll never sees version 2 missing: loaded at once, not after the next retry (TF Serving's default: 1 min)."""
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=0.2) as server:
        client = ServingClient(server.grpc_address, "toy", retries=0)
        broken = os.path.join(base, "2")
        os.makedirs(broken)
        with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
            f.write(b"not a saved model")
        _wait(lambda: server.manager.failed_loads("toy") == {2: 1})  # the load failed
        time.sleep(1.0)  # several polls: the next retry is a minute away
        assert _state_of(client, 2) != "AVAILABLE"
        # Replace it within one poll interval (the poll never sees it missing): rm + rename.
        tmp = os.path.join(base, ".tmp-2")
        shutil.copytree(toy_version2_dir, tmp)
        shutil.rmtree(broken)
        os.rename(tmp, broken)
        _wait(lambda: _state_of(client, 2) == "AVAILABLE", timeout=30)
        np.testing.assert_allclose(client.predict({"text": ["xyz"]})["probabilities"],
                                   serving_toy_models.reference_probabilities(["xyz"], 2), rtol=1e-5)


def test_failed_loads_are_retried_max_num_load_retries_times(tmp_path, toy_version_dir):
    """A load that fails for a reason outside the version's files (here its warmup, twice) is retried
    `load_retry_interval_micros` apart; the version is LOADING meanwhile and AVAILABLE after the retry that works.
    With fewer retries than failures it ends in END with the error."""
    for retries, final in ((2, "AVAILABLE"), (1, "END")):
        base = str(tmp_path / f"toy{retries}")
        copy_version(toy_version_dir, base, 1)
        server = ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                             file_system_poll_wait_seconds=-1, max_num_load_retries=retries,
                             load_retry_interval_micros=300_000)
        attempts = []

        def flaky_warmup(servable, real=server.manager.warmup_fn):
            attempts.append(time.monotonic())
            if len(attempts) <= 2:
                raise status.ServingError(status.UNAVAILABLE, f"warmup backend down (attempt {len(attempts)})")
            real(servable)

        server.manager.warmup_fn = flaky_warmup
        with server:
            client = ServingClient(server.grpc_address, "toy", retries=0)
            assert _state_of(client, 1) == "LOADING"
            _wait(lambda: _state_of(client, 1) == final, timeout=30)
            assert len(attempts) == retries + 1
            assert all(b - a >= 0.25 for a, b in zip(attempts, attempts[1:]))
            if final == "END":
                status_entry = client.get_model_status()[0]
                assert "warmup backend down (attempt 2)" in status_entry["error_message"]
                # No retries left; the version is loaded again only when its files change: rm + rename.
                server.file_system_poll_wait_seconds = 0.2
                server.manager.start_polling(0.2)
                time.sleep(0.6)
                assert _state_of(client, 1) == "END" and len(attempts) == 2
                shutil.copytree(toy_version_dir, os.path.join(base, ".tmp-1"))
                shutil.rmtree(os.path.join(base, "1"))
                os.rename(os.path.join(base, ".tmp-1"), os.path.join(base, "1"))
                _wait(lambda: _state_or_none(client, 1) == "AVAILABLE", timeout=30)
                assert len(attempts) == 3
            else:
                assert client.predict({"text": ["banana"]})["labels"][0] == b"negative"
