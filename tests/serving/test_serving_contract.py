"""Good requests: TF Serving's wire formats over gRPC (official stubs and ovmsclient) and REST, and the helpers.

The target is BERT_TF_SERVING_GRPC / BERT_TF_SERVING_REST when set (see conftest.py), else the local server.
"""

import base64
import json
import urllib.request

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, inference_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)

import serving_toy_models
from serving.client import RestClient, ServingClient, make_example, tensor_proto

TEXTS = ["banana bread", "xyz", "a quick brown fox", ""]


@pytest.fixture(scope="module")
def channel(contract_target):
    channel = grpc.insecure_channel(contract_target[0])
    yield channel
    channel.close()


def _rest(url, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=30) as response:
        assert response.headers["Content-Type"] == "application/json"
        return json.loads(response.read())


def test_grpc_predict_outputs_and_model_spec(channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["text"].CopyFrom(tensor_proto(TEXTS))
    response = stub.Predict(request, timeout=30)
    assert response.model_spec.name == "toy" and response.model_spec.signature_name == "serving_default"
    assert response.model_spec.HasField("version") and response.model_spec.version.value == 2  # latest
    import tensorflow as tf
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    expected = serving_toy_models.reference_probabilities(TEXTS)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5)
    names = np.array(serving_toy_models.LABELS)[expected.argmax(-1)]
    assert [b.decode() for b in response.outputs["labels"].string_val] == list(names)
    assert list(tf.make_ndarray(response.outputs["label_ids"])) == list(expected.argmax(-1))

    request.output_filter.append("labels")
    request.model_spec.version_label = "stable"
    response = stub.Predict(request, timeout=30)
    assert set(response.outputs) == {"labels"} and response.model_spec.version.value == 1


def test_rest_row_and_columnar_formats(contract_target):
    url = contract_target[1]
    expected = serving_toy_models.reference_probabilities(TEXTS)
    rows = _rest(url, "/v1/models/toy:predict", {"instances": TEXTS})["predictions"]
    assert [sorted(r) for r in rows] == [["label_ids", "labels", "probabilities"]] * len(TEXTS)
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected, rtol=1e-6)
    columns = _rest(url, "/v1/models/toy/versions/1:predict", {"inputs": {"text": TEXTS}})["outputs"]
    assert columns["labels"] == [serving_toy_models.LABELS[i] for i in expected.argmax(-1)]
    # One output: unwrapped, in both formats.
    x = [[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, -1.0, 2.0]]
    y = (np.array(x, np.float32) @ serving_toy_models.NUMERIC_W).tolist()
    row = _rest(url, "/v1/models/toy/labels/canary:predict", {"signature_name": "numeric", "instances": x})
    np.testing.assert_allclose(row["predictions"], y, rtol=1e-6)
    col = _rest(url, "/v1/models/toy:predict", {"signature_name": "numeric", "inputs": x})
    np.testing.assert_allclose(col["outputs"], y, rtol=1e-6)
    # Several named inputs in row format: a list of objects.
    pair = _rest(url, "/v1/models/toy:predict", {"signature_name": "pair",
                                                   "instances": [{"text": "ab", "text_b": "a"}]})
    np.testing.assert_allclose(pair["predictions"][0], serving_toy_models.reference_probabilities(["ab a"])[0],
                               rtol=1e-6)


def test_rest_b64_in_and_bytes_outputs_out(contract_target):
    raw = b"\x00\xffa\x80"
    answer = _rest(contract_target[1], "/v1/models/toy:predict",
                   {"signature_name": "echo", "instances": [{"b64": base64.b64encode(raw).decode()}, "plain"]})
    predictions = answer["predictions"]
    assert predictions[0]["text_bytes"] == {"b64": base64.b64encode(raw).decode()}
    assert predictions[1]["text_bytes"] == {"b64": base64.b64encode(b"plain").decode()}
    assert [p["length"] for p in predictions] == [4, 5]


def test_float_printing_matches_tf_serving(contract_target):
    answer = _rest(contract_target[1], "/v1/models/toy:predict",
                   {"signature_name": "numeric", "instances": [[7.0, 0.0, 0.0, 0.0]]})
    body = urllib.request.urlopen(urllib.request.Request(
        contract_target[1] + "/v1/models/toy:predict",
        data=b'{"signature_name": "numeric", "instances": [[7.0, 0.0, 0.0, 0.0]]}'), timeout=30).read().decode()
    assert "[0.0,1.0]" in body.replace(" ", "").replace("\n", "")  # whole floats keep ".0", as TF Serving prints
    assert answer["predictions"] == [[0.0, 1.0]]


def test_classify_regress_multi_inference_grpc_and_rest(channel, contract_target):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    client = ServingClient(contract_target[0], "toy")
    expected = serving_toy_models.reference_probabilities(["banana", "xyz"])
    classes = client.classify([{"text": "banana"}, {"text": "xyz"}], signature_name="classify")
    assert [[label for label, _ in row] for row in classes] == [list(serving_toy_models.LABELS)] * 2
    np.testing.assert_allclose([[s for _, s in row] for row in classes], expected, rtol=1e-5)
    # Context features apply to every example (features in the example win).
    with_context = client.classify([{}, {"text": "xyz"}], signature_name="classify", context={"text": "banana"})
    np.testing.assert_allclose([[s for _, s in row] for row in with_context], expected, rtol=1e-5)
    np.testing.assert_allclose(client.regress([{"text": "abcd"}, {"text": ""}], signature_name="regress"),
                               [0.4, 0.0], rtol=1e-6)

    rest = _rest(contract_target[1], "/v1/models/toy:classify",
                 {"signature_name": "classify", "examples": [{"text": "banana"}, {"text": "xyz"}]})
    assert [[c[0] for c in row] for row in rest["results"]] == [list(serving_toy_models.LABELS)] * 2
    np.testing.assert_allclose([[c[1] for c in row] for row in rest["results"]], expected, rtol=1e-6)
    regress = _rest(contract_target[1], "/v1/models/toy:regress",
                    {"signature_name": "regress", "context": {"text": "abcdefghij"}, "examples": [{}, {"text": "ab"}]})
    np.testing.assert_allclose(regress["results"], [1.0, 0.2], rtol=1e-6)

    def multi(*tasks):
        request = inference_pb2.MultiInferenceRequest()
        for signature, method in tasks:
            task = request.tasks.add(method_name=method)
            task.model_spec.name = "toy"
            task.model_spec.signature_name = signature
        request.input.example_list.examples.extend([make_example({"text": "banana"}), make_example({"text": "xy"})])
        return stub.MultiInference(request, timeout=30)

    classify = ("classify", "tensorflow/serving/classify")
    regress = ("regress", "tensorflow/serving/regress")
    # TF 2 gives each signature its own input tensor, and TF Serving runs all tasks on one fed tensor.
    with pytest.raises(grpc.RpcError) as info:
        multi(classify, regress)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "Input tensor must be the same for all Signatures."
    response = multi(classify)
    assert response.results[0].model_spec.signature_name == "classify"
    assert response.results[0].model_spec.version.value == 2
    np.testing.assert_allclose([[c.score for c in cl.classes] for cl in
                                response.results[0].classification_result.classifications],
                               serving_toy_models.reference_probabilities(["banana", "xy"]), rtol=1e-5)
    response = multi(regress)
    np.testing.assert_allclose([r.value for r in response.results[0].regression_result.regressions], [0.6, 0.2],
                               rtol=1e-6)


def test_metadata_and_status_grpc_and_rest(channel, contract_target):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    response = stub.GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "toy" and response.model_spec.version.value == 2
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    default = signature_map.signature_def["serving_default"]
    assert set(default.inputs) == {"text"} and set(default.outputs) == {"probabilities", "label_ids", "labels"}
    assert signature_map.signature_def["classify"].method_name == "tensorflow/serving/classify"

    rest = _rest(contract_target[1], "/v1/models/toy/versions/1/metadata")
    assert rest["model_spec"] == {"name": "toy", "signature_name": "", "version": "1"}
    assert rest["metadata"]["signature_def"]["signature_def"]["numeric"]["inputs"]["x"]["dtype"] == "DT_FLOAT"

    model_stub = model_service_pb2_grpc.ModelServiceStub(channel)
    status = model_stub.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "toy"}),
                                       timeout=30)
    assert sorted(s.version for s in status.model_version_status) == [1, 2]
    assert {s.state for s in status.model_version_status} == {get_model_status_pb2.ModelVersionStatus.AVAILABLE}
    rest_status = _rest(contract_target[1], "/v1/models/toy/versions/2")
    assert rest_status == {"model_version_status": [{"version": "2", "state": "AVAILABLE",
                                                     "status": {"error_code": "OK", "error_message": ""}}]}


def test_ovmsclient_as_independent_grpc_client(contract_target):
    import ovmsclient
    client = ovmsclient.make_grpc_client(contract_target[0])
    # ovmsclient always asks for serving_default (it has no signature argument).
    texts = client.predict({"text": np.array([b"banana", b"xyz"])}, "toy", model_version=1)
    np.testing.assert_allclose(texts["probabilities"], serving_toy_models.reference_probabilities(["banana", "xyz"]),
                               rtol=1e-5)
    status = client.get_model_status("toy", model_version=1)
    assert status[1]["state"] == "AVAILABLE"
    metadata = client.get_model_metadata("toy", model_version=2)
    assert metadata["model_version"] == 2 and "text" in metadata["inputs"]
    with pytest.raises(ovmsclient.ModelNotFoundError):  # its default version 0 is "present": NOT_FOUND
        client.predict({"text": np.array([b"a"])}, "toy")


@pytest.mark.parametrize("kind", ["grpc", "rest"])
def test_client_helpers(kind, contract_target):
    client = ServingClient(contract_target[0], "toy") if kind == "grpc" else RestClient(contract_target[1], "toy")
    texts = ["좋은 영화였다", "a dull film", "banana", "xyz", "aaaa"]
    expected = serving_toy_models.reference_probabilities(texts)
    outputs = client.predict({"text": texts}, batch_size=2)  # three requests, concatenated
    np.testing.assert_allclose(outputs["probabilities"], expected, rtol=1e-5)
    assert outputs["labels"].dtype == object and outputs["labels"].shape == (5,)
    results = client.classify_text(texts, batch_size=3)
    assert [r["label"] for r in results] == [serving_toy_models.LABELS[i] for i in expected.argmax(-1)]
    assert list(results[0]["probabilities"]) == list(serving_toy_models.LABELS)
    np.testing.assert_allclose([list(r["probabilities"].values()) for r in results], expected, rtol=1e-5)
    pair = client.classify_text(["ab"], text_b=["a"], signature_name="pair")
    np.testing.assert_allclose(list(pair[0]["probabilities"].values()),
                               serving_toy_models.reference_probabilities(["ab a"])[0], rtol=1e-5)
    np.testing.assert_allclose(client.regress([{"text": "abc"}] * 3, signature_name="regress", batch_size=2),
                               [0.3] * 3, rtol=1e-6)
    assert client.get_model_metadata(version_label="stable")["version"] == 1
    assert [s["state"] for s in client.get_model_status()] == ["AVAILABLE", "AVAILABLE"]
    assert client.predict({"x": np.ones((1, 4), np.float32)}, signature_name="numeric", version=1)[
        "y"].shape == (1, 2)  # REST drops a lone output's name; RestClient restores it from the metadata


def _failing_classify(client):
    """`client` as against a model whose classify call fails: each transport's own error (the signature is
    missing), which classify_text must take as "no label names from the model"."""
    classify = client.classify
    client.classify = lambda examples, signature_name=None, **kwargs: classify(examples, "no_such_signature", **kwargs)
    return client


@pytest.mark.parametrize("classify_works", [True, False], ids=["classify_signature", "classify_fails"])
def test_classify_text_is_the_same_over_grpc_and_rest(contract_target, classify_works):
    """One classify_text (serving.client.text_helpers) for both transports: same labels, same probability keys
    and values, also when the model's classify signature cannot name the labels (then the predicted labels
    name their classes and the others keep their index; the `pair` signature predicts no labels at all)."""
    texts, pairs = ["a quick brown fox jumps", "", "a quick brown fox"], ["xyz", "", "q"]
    answers = {}
    for kind in ("grpc", "rest"):
        client = ServingClient(contract_target[0], "toy") if kind == "grpc" else RestClient(contract_target[1], "toy")
        if not classify_works:
            _failing_classify(client)
        answers[kind] = (client.classify_text(texts, batch_size=2),
                         client.classify_text(texts, text_b=pairs, signature_name="pair"))
    assert answers["grpc"] == answers["rest"]
    single, pair = answers["grpc"]
    expected = serving_toy_models.reference_probabilities(texts)
    predicted = [serving_toy_models.LABELS[i] for i in expected.argmax(-1)]
    assert predicted == ["negative", "positive", "negative"]  # "neutral" is predicted for none of them
    names = list(serving_toy_models.LABELS) if classify_works else ["negative", "1", "positive"]
    assert [r["label"] for r in single] == predicted and all(list(r["probabilities"]) == names for r in single)
    np.testing.assert_allclose([list(r["probabilities"].values()) for r in single], expected, rtol=1e-5)
    pair_expected = serving_toy_models.reference_probabilities([f"{a} {b}" for a, b in zip(texts, pairs)])
    pair_names = list(serving_toy_models.LABELS) if classify_works else ["0", "1", "2"]
    assert [r["label"] for r in pair] == [pair_names[i] for i in pair_expected.argmax(-1)]
    np.testing.assert_allclose([list(r["probabilities"].values()) for r in pair], pair_expected, rtol=1e-5)
