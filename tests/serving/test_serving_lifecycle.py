"""Version policies, labels, polling, warmup, config reload and the config-file writers (local server)."""

import os
import shutil
import time

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc, predict_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving_toy_models import copy_version
from serving.server import config as serving_config
from serving.client import ServingClient, tensor_proto
from serving.server import ModelServer


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


# === Config files ===

def test_models_config_round_trip_is_tf_serving_text_format(tmp_path):
    path = str(tmp_path / "models.config")
    serving_config.write_model_config(path, [
        {"name": "intent", "base_path": "/models/intent", "version_policy": {"specific": [1, 2]},
         "version_labels": {"stable": 1, "canary": 2}},
        {"name": "ner", "base_path": "/models/ner", "version_policy": {"latest": 3}},
        {"name": "emb", "base_path": "/models/emb", "version_policy": "all"}])
    text = open(path).read()
    assert text.startswith("model_config_list {\n  config {\n    name: \"intent\"")
    assert "model_platform: \"tensorflow\"" in text and "specific {" in text and "num_versions: 3" in text
    parsed = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())  # the official proto
    configs = parsed.model_config_list.config
    assert [c.name for c in configs] == ["intent", "ner", "emb"]
    assert dict(configs[0].version_labels) == {"stable": 1, "canary": 2}
    assert list(configs[0].model_version_policy.specific.versions) == [1, 2]
    assert configs[2].model_version_policy.WhichOneof("policy_choice") == "all"
    assert serving_config.read_model_config(path) == parsed
    assert not [n for n in os.listdir(tmp_path) if n != "models.config"]  # no temp files left behind
    with pytest.raises(serving_config.ConfigError, match="appears twice"):
        serving_config.write_model_config(path, [{"name": "a", "base_path": "/x"}, {"name": "a", "base_path": "/y"}])
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list {\n  config {\n    nme: \"x\"\n  }\n}\n")
    with pytest.raises(serving_config.ConfigError, match=r"bad.config: .*3:5"):
        serving_config.read_model_config(str(bad))


def test_batching_parameters_file(tmp_path):
    path = str(tmp_path / "batching.config")
    serving_config.write_batching_parameters(path, max_batch_size=8, batch_timeout_micros=2000,
                                             max_enqueued_batches=4, num_batch_threads=2,
                                             allowed_batch_sizes=[2, 4, 8], pad_variable_length_inputs=True)
    text = open(path).read()
    assert "max_batch_size {\n  value: 8\n}" in text and "allowed_batch_sizes: 4" in text
    params = serving_config.read_batching_parameters(path)
    assert params.batch_timeout_micros.value == 2000 and list(params.allowed_batch_sizes) == [2, 4, 8]
    assert params.pad_variable_length_inputs and params.num_batch_threads.value == 2
    with pytest.raises(serving_config.ConfigError, match="must equal max_batch_size"):
        serving_config.batching_parameters(max_batch_size=8, allowed_batch_sizes=[2, 4])
    with pytest.raises(serving_config.ConfigError, match="increasing order"):
        serving_config.batching_parameters(max_batch_size=8, allowed_batch_sizes=[4, 2, 8])


def test_config_files_get_the_permissions_open_gives(tmp_path):
    """A server running as another user (TF Serving's container, a service account) must be able to read the
    config files: they used to be written 0600 (mkstemp's mode) whatever the umask."""
    old = os.umask(0o022)
    try:
        serving_config.write_model_config(str(tmp_path / "models.config"), [{"name": "m", "base_path": "/m"}])
        serving_config.write_batching_parameters(str(tmp_path / "batching.config"), max_batch_size=4)
        os.umask(0o077)
        serving_config.write_model_config(str(tmp_path / "private.config"), [{"name": "p", "base_path": "/p"}])
    finally:
        os.umask(old)
    modes = {n: os.stat(tmp_path / n).st_mode & 0o777 for n in os.listdir(tmp_path)}
    assert modes == {"models.config": 0o644, "batching.config": 0o644, "private.config": 0o600}


def test_warmup_file_round_trip_and_limit(tmp_path):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["text"].CopyFrom(tensor_proto(["warm"]))
    path = serving_config.write_warmup_requests(str(tmp_path), [request] * 3)
    assert path == str(tmp_path / "assets.extra" / "tf_serving_warmup_requests")
    logs = serving_config.read_warmup_requests(str(tmp_path))
    assert len(logs) == 3 and logs[0].predict_log.request == request
    with pytest.raises(serving_config.ConfigError, match="at most 1000"):
        serving_config.write_warmup_requests(str(tmp_path), [request] * 1001)


# === Server lifecycle ===

def _predict_version(client):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = client.model_name
    request.inputs["text"].CopyFrom(tensor_proto(["abc"]))
    return client._prediction.Predict(request, timeout=30).model_spec.version.value


@pytest.mark.slow
def test_polling_picks_up_atomic_new_versions_and_unloads_old(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    # Failed loads are retried 5 times (TF Serving's default), here 0.1 s apart instead of a minute.
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=0.2, load_retry_interval_micros=100_000) as server:
        client = ServingClient(server.grpc_address, "toy")
        assert _predict_version(client) == 1
        # A half-written folder with a non-integer name is ignored; the rename makes it a version.
        partial = os.path.join(base, "2.tmp")
        shutil.copytree(toy_version_dir, partial)
        os.makedirs(os.path.join(base, "not_a_version"))
        time.sleep(0.6)
        assert _predict_version(client) == 1
        os.rename(partial, os.path.join(base, "2"))
        _wait(lambda: _predict_version(client) == 2)
        # latest{1}: version 1 was unloaded after 2 became available, and reports END.
        _wait(lambda: {s["version"]: s["state"] for s in client.get_model_status()} == {1: "END", 2: "AVAILABLE"})
        with pytest.raises(grpc.RpcError, match=r"Specific\(toy, 1\)"):
            client.predict({"text": ["a"]}, version=1)
        # Removing the served version unloads it: the next highest is not re-loaded by latest{1}? It is:
        # the policy aspires to the highest version on disk, which is 1 again once 2 is gone.
        shutil.rmtree(os.path.join(base, "2"))
        _wait(lambda: _predict_version(client) == 1)
        # A broken version folder fails to load (after its retries), is reported, and never takes over.
        os.makedirs(os.path.join(base, "3"))
        with open(os.path.join(base, "3", "saved_model.pb"), "wb") as f:
            f.write(b"not a saved model")
        _wait(lambda: any(s["version"] == 3 and s["state"] == "END" and s["error_code"] != 0
                          for s in client.get_model_status()))
        assert _predict_version(client) == 1


@pytest.mark.slow
def test_version_policies_labels_and_reload(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    for version in (1, 2, 3):
        copy_version(toy_version_dir, base, version)
    config = str(tmp_path / "models.config")
    serving_config.write_model_config(config, [{"name": "toy", "base_path": base, "version_policy": {"specific": [1, 3]},
                                                "version_labels": {"stable": 1, "canary": 3}}])
    with ModelServer(model_config_file=config, port=0, rest_api_port=0, file_system_poll_wait_seconds=-1) as server:
        client = ServingClient(server.grpc_address, "toy")
        assert sorted(s["version"] for s in client.get_model_status()) == [1, 3]
        assert _predict_version(client) == 3
        assert ServingClient(server.grpc_address, "toy", version_label="stable").get_model_metadata()["version"] == 1
        with pytest.raises(grpc.RpcError, match=r"Specific\(toy, 2\)"):
            client.predict({"text": ["a"]}, version=2)
        # HandleReloadConfigRequest: all versions, labels moved, a second model added.
        new = model_server_config_pb2.ModelServerConfig()
        new.model_config_list.config.add().CopyFrom(serving_config.model_config(
            "toy", base, version_policy={"all": True}, version_labels={"stable": 2}))
        new.model_config_list.config.add().CopyFrom(serving_config.model_config("other", base))
        stub = model_service_pb2_grpc.ModelServiceStub(client._channel)
        response = stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=new), timeout=60)
        assert response.status.error_code == 0
        assert sorted(s["version"] for s in client.get_model_status() if s["state"] == "AVAILABLE") == [1, 2, 3]
        assert ServingClient(server.grpc_address, "toy", version_label="stable").get_model_metadata()["version"] == 2
        with pytest.raises(grpc.RpcError, match="Unrecognized servable version label: canary"):
            ServingClient(server.grpc_address, "toy", version_label="canary").get_model_metadata()
        assert ServingClient(server.grpc_address, "other").get_model_metadata()["version"] == 3
        # A label on a version that is not loaded is refused, as TF Serving does.
        bad = model_server_config_pb2.ModelServerConfig()
        bad.model_config_list.config.add().CopyFrom(serving_config.model_config(
            "toy", base, version_labels={"stable": 1}))  # latest{1} loads only 3
        with pytest.raises(grpc.RpcError) as info:
            stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=bad), timeout=60)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert info.value.details() == ("Request to assign label to version 1 of model toy, which is not currently "
                                        "available for inference")


@pytest.mark.slow
def test_warmup_is_replayed_before_available(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    version_dir = copy_version(toy_version_dir, base, 1)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["text"].CopyFrom(tensor_proto(["warm", "up"]))
    serving_config.write_warmup_requests(version_dir, [request] * 3)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=-1) as server:
        client = ServingClient(server.grpc_address, "toy")
        # The first request anyone sends sees the 3 warmup calls already made.
        assert list(client.predict({"text": ["x"]}, signature_name="calls")["calls"]) == [3]
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=-1, enable_model_warmup=False) as server:
        assert list(ServingClient(server.grpc_address, "toy").predict(
            {"text": ["x"]}, signature_name="calls")["calls"]) == [0]
    # A warmup request that fails makes the load fail: the version is never served (no retries here; with
    # retries it stays LOADING until they are used up).
    bad = predict_pb2.PredictRequest()
    bad.model_spec.name = "toy"
    bad.inputs["nope"].CopyFrom(tensor_proto(["x"]))
    serving_config.write_warmup_requests(version_dir, [bad])
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=-1, max_num_load_retries=0) as server:
        status = ServingClient(server.grpc_address, "toy").get_model_status()
        assert status[0]["state"] == "END" and "Signature input alias: text" in status[0]["error_message"]
