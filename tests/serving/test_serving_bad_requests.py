"""Malformed requests get TF Serving's status code and message over gRPC and REST, and the server keeps serving.

Table-driven: each row is one malformed request with the code/message TF Serving gives (its C++ sources:
predict_util.cc, tensorflow/cc/saved_model/util.cc, server_core.cc, json_tensor.cc, classifier.cc, ...).
Messages marked `ours` are where TF Serving has no fixed wording (shape errors come from inside the graph);
there only the code is part of the contract. After every row, a good request must still succeed.
"""

import json
import re
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     inference_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from serving.client import tensor_proto

MODEL = "toy"
DOC = "JSON Value: "


def _predict(signature="", **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    if signature:
        request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto) else tensor_proto(value))
    return request


def _with(request, fn):
    fn(request)
    return request


def _bad_tensor():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    proto.tensor_shape.dim.add(size=2)
    proto.string_val.extend([b"a", b"b", b"c"])
    return proto


def _classify(signature="classify", examples=({"text": "banana"},)):
    from serving.client import make_example
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    request.input.example_list.examples.extend(make_example(e) for e in examples)
    return request


def _regress(signature="regress"):
    from serving.client import make_example
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    request.input.example_list.examples.append(make_example({"text": "abc"}))
    return request


def _multi(method):
    from serving.client import make_example
    request = inference_pb2.MultiInferenceRequest()
    task = request.tasks.add()
    task.model_spec.name = MODEL
    task.model_spec.signature_name = "classify"
    task.method_name = method
    request.input.example_list.examples.append(make_example({"text": "abc"}))
    return request


INVALID, NOT_FOUND, FAILED, UNIMPL = "INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "UNIMPLEMENTED"

# (id, gRPC (method, request) or None, gRPC code, gRPC message,
#  REST (method, path, body) or None, HTTP status, REST message). Messages: exact text, or re:... regexes.
CASES = [
    ("no_model_spec", ("Predict", predict_pb2.PredictRequest()), INVALID, "Missing ModelSpec", None, None, None),
    ("empty_model_name", ("Predict", _with(predict_pb2.PredictRequest(), lambda r: r.model_spec.SetInParent())),
     INVALID, "ModelSpec has no name specified.",
     ("POST", "/v1/models/:predict", b'{"instances": ["a"]}'), 400, "Malformed request: POST /v1/models/:predict"),
    ("unknown_model", ("Predict", _with(_predict(text=["a"]), lambda r: setattr(r.model_spec, "name", "nope"))),
     NOT_FOUND, "Servable not found for request: Latest(nope)",
     ("POST", "/v1/models/nope:predict", b'{"instances": ["a"]}'), 404,
     "Servable not found for request: Latest(nope)"),
    ("unknown_version", ("Predict", _with(_predict(text=["a"]), lambda r: r.model_spec.version.__setattr__("value", 7))),
     NOT_FOUND, "Servable not found for request: Specific(toy, 7)",
     ("POST", "/v1/models/toy/versions/7:predict", b'{"instances": ["a"]}'), 404,
     "Servable not found for request: Specific(toy, 7)"),
    ("version_zero_ovms_default", ("Predict", _with(_predict(text=["a"]),
                                                    lambda r: r.model_spec.version.__setattr__("value", 0))),
     NOT_FOUND, "Servable not found for request: Specific(toy, 0)", None, None, None),
    ("unknown_label", ("Predict", _with(_predict(text=["a"]), lambda r: setattr(r.model_spec, "version_label", "gold"))),
     INVALID, "Unrecognized servable version label: gold",
     ("POST", "/v1/models/toy/labels/gold:predict", b'{"instances": ["a"]}'), 400,
     "Unrecognized servable version label: gold"),
    ("unknown_signature", ("Predict", _predict("nosig", text=["a"])), FAILED, 'Serving signature key "nosig" not found.',
     ("POST", "/v1/models/toy:predict", b'{"signature_name": "nosig", "instances": ["a"]}'), 400,
     'Serving signature name: "nosig" not found in signature def'),
    ("extra_input", ("Predict", _predict(text=["a"], bogus=["b"])), INVALID,
     "input size does not match signature: 2!=1 len({bogus,text}) != len({text}). Sent extra: {bogus}. "
     "Missing but required: {}.",
     ("POST", "/v1/models/toy:predict", b'{"instances": [{"text": "a", "bogus": "b"}]}'), 400,
     "Failed to process element: 0 key: bogus of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not "
     "have named input: bogus"),
    ("missing_input", ("Predict", _predict("pair", text=["a"])), INVALID,
     "input size does not match signature: 1!=2 len({text}) != len({text,text_b}). Sent extra: {}. "
     "Missing but required: {text_b}.",
     ("POST", "/v1/models/toy:predict", b'{"signature_name": "pair", "inputs": {"text": ["a"]}}'), 400,
     "Missing named input: text_b in 'inputs' object."),
    ("unknown_input_name", ("Predict", _predict(txt=["a"])), INVALID,
     r"re:Signature input alias: text\(feed name: \S+\) not found in request and no default value provided\. "
     r"Inputs expected to be in the request \{txt\}, or default input alias set: $",
     ("POST", "/v1/models/toy:predict", b'{"instances": [{"txt": "a"}]}'), 400,
     "Failed to process element: 0 key: txt of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not "
     "have named input: txt"),
    ("wrong_dtype_text", ("Predict", _predict(text=np.array([1.5], np.float32))), INVALID,
     "Expects arg[0] to be string but float is provided",
     ("POST", "/v1/models/toy:predict", b'{"instances": [1.5]}'), 400,
     "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: JSON Value: 1.5 Type: Number is "
     "not of expected type: string"),
    ("wrong_dtype_numeric", ("Predict", _predict("numeric", x=np.ones((1, 4), np.int32))), INVALID,
     "Expects arg[0] to be float but int32 is provided",
     ("POST", "/v1/models/toy:predict", b'{"signature_name": "numeric", "inputs": [["a", "b", "c", "d"]]}'), 400,
     'JSON Value: "a" Type: String is not of expected type: float'),
    ("wrong_shape", ("Predict", _predict("numeric", x=np.ones((2, 3), np.float32))), INVALID,
     'ours:Input "x" has shape [2,3] but the signature "numeric" expects [?,4]',
     ("POST", "/v1/models/toy:predict", b'{"signature_name": "numeric", "inputs": [[1.0, 2.0, 3.0]]}'), 400,
     'ours:Input "x" has shape [1,3] but the signature "numeric" expects [?,4]'),
    ("wrong_rank", ("Predict", _predict(text=[["a"], ["b"]])), INVALID,
     'ours:Input "text" has shape [2,1] but the signature "serving_default" expects [?]',
     ("POST", "/v1/models/toy:predict", b'{"inputs": {"text": [["a"]]}}'), 400,
     'ours:Input "text" has shape [1,1] but the signature "serving_default" expects [?]'),
    ("ragged_rows", None, None, None,
     ("POST", "/v1/models/toy:predict", b'{"signature_name": "numeric", "instances": [[1, 2, 3, 4], [1, 2, 3]]}'),
     400, "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 4 but "
          "got: 3"),
    ("lossy_float", None, None, None,
     ("POST", "/v1/models/toy:predict", b'{"signature_name": "numeric", "instances": [[16777217, 1, 2, 3]]}'), 400,
     "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: Cannot convert JSON value: "
     "16777217 to float without loss of precision."),
    ("tensor_parse_error", ("Predict", _predict(text=_bad_tensor())), INVALID, "tensor parsing error: text",
     None, None, None),
    ("bad_output_filter", ("Predict", _with(_predict(text=["a"]), lambda r: r.output_filter.append("nope"))), INVALID,
     "output tensor alias not found in signature: nope Outputs expected to be in the set "
     "{label_ids,labels,probabilities}.", None, None, None),
    ("duplicate_output_filter", ("Predict", _with(_predict(text=["a"]), lambda r: r.output_filter.extend(
        ["labels", "labels"]))), INVALID, "duplicate output tensor alias: labels", None, None, None),
    ("empty_instances", None, None, None, ("POST", "/v1/models/toy:predict", b'{"instances": []}'), 400,
     'JSON Value: {\n    "instances": []\n} No values in \'instances\' array'),
    ("not_json", None, None, None, ("POST", "/v1/models/toy:predict", b"{not json"), 400,
     "JSON Parse error: Missing a name for object member. at offset: 1"),
    ("integer_of_5000_digits", None, None, None,  # rapidjson: past uint64 the digits go to a double, which overflows
     ("POST", "/v1/models/toy:predict", b'{"instances": [' + b"1" * 5000 + b']}'), 400,
     "JSON Parse error: Number too big to be stored in double. at offset: 15"),
    ("exponent_overflow", None, None, None,  # Python's json reads -1e400 as -inf; rapidjson refuses it
     ("POST", "/v1/models/toy:predict", b'{"signature_name": "numeric", "instances": [[1.0, 2.0, 3.0, -1e400]]}'),
     400, "JSON Parse error: Number too big to be stored in double. at offset: 60"),
    ("integer_of_400_digits", None, None, None,  # within Python's int limit, past a double's range
     ("POST", "/v1/models/toy:predict", b'{"instances": ["a", 2' + b"0" * 399 + b']}'), 400,
     "JSON Parse error: Number too big to be stored in double. at offset: 20"),
    ("empty_body", None, None, None, ("POST", "/v1/models/toy:predict", b""), 400,
     "JSON Parse error: The document is empty"),
    ("json_not_object", None, None, None, ("POST", "/v1/models/toy:predict", b"[1, 2]"), 400,
     "JSON Value: [\n    1,\n    2\n] Is not object"),
    ("missing_inputs_key", None, None, None, ("POST", "/v1/models/toy:predict", b'{"text": ["a"]}'), 400,
     "Missing 'inputs' or 'instances' key"),
    ("both_keys", None, None, None,
     ("POST", "/v1/models/toy:predict", b'{"inputs": ["a"], "instances": ["a"]}'), 400,
     r"re:^JSON Value: \{.*\} Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist $"),
    ("instances_not_list", None, None, None, ("POST", "/v1/models/toy:predict", b'{"instances": "a"}'), 400,
     r"re:^JSON Value: \{.*\} Excepting 'instances' to be an list/array$"),
    ("signature_not_string", None, None, None,
     ("POST", "/v1/models/toy:predict", b'{"signature_name": 5, "instances": ["a"]}'), 400,
     r"re:^JSON Value: \{.*\} not formatted correctly\. 'signature_name' key must be a string value\.$"),
    ("bad_b64", None, None, None, ("POST", "/v1/models/toy:predict", b'{"instances": [{"b64": "!!!"}]}'), 400,
     "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: Unable to base64 decode"),
    ("plain_list_for_two_inputs", None, None, None,
     ("POST", "/v1/models/toy:predict", b'{"signature_name": "pair", "instances": ["a", "b"]}'), 400,
     "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
     "tensorinfo_map"),
    ("non_numeric_version_path", None, None, None,
     ("POST", "/v1/models/toy/versions/abc:predict", b'{"instances": ["a"]}'), 400,
     "Malformed request: POST /v1/models/toy/versions/abc:predict"),
    ("unknown_verb", None, None, None, ("POST", "/v1/models/toy:explain", b'{"instances": ["a"]}'), 400,
     "Malformed request: POST /v1/models/toy:explain"),
    ("metadata_without_field", ("GetModelMetadata", get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": MODEL})), INVALID, "GetModelMetadataRequest must specify at least one metadata_field",
     None, None, None),
    ("metadata_unknown_field", ("GetModelMetadata", get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": MODEL}, metadata_field=["weights"])), INVALID, "Metadata field weights is not supported",
     ("GET", "/v1/models/nope/metadata", None), 404, "Servable not found for request: Latest(nope)"),
    ("status_unknown_model", ("GetModelStatus", get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "nope"})),
     NOT_FOUND, "Could not find any versions of model nope", ("GET", "/v1/models/nope", None), 404,
     "Could not find any versions of model nope"),
    ("status_unknown_version", ("GetModelStatus", get_model_status_pb2.GetModelStatusRequest(
        model_spec={"name": MODEL, "version": {"value": 9}})), NOT_FOUND, "Could not find version 9 of model toy",
     ("GET", "/v1/models/toy/versions/9", None), 404, "Could not find version 9 of model toy"),
    ("status_missing_spec", ("GetModelStatus", get_model_status_pb2.GetModelStatusRequest()), INVALID,
     "Missing ModelSpec", ("GET", "/v1/models", None), 400, "Missing model name in request."),
    ("classify_on_predict_signature", ("Classify", _classify("serving_default")), INVALID,
     "Expected one or two output Tensors, found 3",
     ("POST", "/v1/models/toy:classify", b'{"examples": [{"text": "a"}]}'), 400,
     "Expected one or two output Tensors, found 3"),
    ("classify_unknown_signature", ("Classify", _classify("nosig")), INVALID,
     "No signature was found with the name: nosig",
     ("POST", "/v1/models/toy:classify", b'{"signature_name": "nosig", "examples": [{"text": "a"}]}'), 400,
     "No signature was found with the name: nosig"),
    ("classify_empty_input", ("Classify", _classify(examples=())), INVALID, "Input is empty.",
     ("POST", "/v1/models/toy:classify", b'{"signature_name": "classify", "examples": []}'), 400,
     r"re:^JSON Value: \{.*\} 'examples' value is an empty array$"),
    ("classify_without_examples", None, None, None,
     ("POST", "/v1/models/toy:classify", b'{"signature_name": "classify"}'), 400,
     r"re:^JSON Value: \{.*\} When method is classify, key 'examples' is expected and was not found$"),
    ("classify_bad_feature", None, None, None,
     ("POST", "/v1/models/toy:classify", b'{"signature_name": "classify", "examples": [{"text": [[1]]}]}'), 400,
     "Feature: text has element with unexpected JSON type: Array"),
    ("regress_on_classify_signature", ("Regress", _regress("classify")), INVALID, "Expected one output Tensor.",
     ("POST", "/v1/models/toy:regress", b'{"signature_name": "classify", "examples": [{"text": "a"}]}'), 400,
     "Expected one output Tensor."),
    ("multi_inference_bad_method", ("MultiInference", _multi("tensorflow/serving/explain")), UNIMPL,
     "Unsupported signature method_name: tensorflow/serving/explain", None, None, None),
]


@pytest.fixture(scope="module")
def stubs(contract_target):
    channel = grpc.insecure_channel(contract_target[0], options=[("grpc.max_send_message_length", 64 << 20),
                                                                  ("grpc.max_receive_message_length", 64 << 20)])
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel), contract_target[1])
    channel.close()


def rest(url, method, path, body):
    request = urllib.request.Request(url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _matches(expected: str, actual: str) -> bool:
    if expected.startswith("re:"):
        return re.search(expected[3:], actual, re.S) is not None
    if expected.startswith("ours:"):
        return expected[5:] == actual
    return expected == actual


def assert_still_serving(stubs):
    prediction, _, url = stubs
    response = prediction.Predict(_predict(text=["banana", "xyz"]), timeout=30)
    assert list(response.outputs["labels"].string_val) == [b"negative", b"positive"]
    status, body = rest(url, "POST", "/v1/models/toy:predict", b'{"instances": ["banana"]}')
    assert status == 200 and body["predictions"][0]["labels"] == "negative"


def test_at_least_thirty_malformed_requests():
    grpc_rows = sum(1 for c in CASES if c[1] is not None)
    rest_rows = sum(1 for c in CASES if c[4] is not None)
    assert len(CASES) >= 30 and grpc_rows >= 20 and rest_rows >= 25


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request(case, stubs):
    name, grpc_call, code, message, rest_call, http_status, rest_message = case
    prediction, model, url = stubs
    if grpc_call is not None:
        method, request = grpc_call
        service = model if method == "GetModelStatus" else prediction
        with pytest.raises(grpc.RpcError) as info:
            getattr(service, method)(request, timeout=30)
        assert info.value.code().name == code, info.value.details()
        assert _matches(message, info.value.details()), info.value.details()
    if rest_call is not None:
        status, body = rest(url, *rest_call)
        assert status == http_status, body
        assert set(body) == {"error"} and _matches(rest_message, body["error"]), body
    assert_still_serving(stubs)


GOOD_EDGE_CASES = [
    ("empty_batch", [], 0),
    ("empty_strings", ["", ""], 2),
    ("invalid_utf8", [b"\xff\xfe\x80a", b"ok"], 2),
    ("one_megabyte_text", ["a" * (1 << 20)], 1),
]


@pytest.mark.parametrize("texts,rows", [c[1:] for c in GOOD_EDGE_CASES], ids=[c[0] for c in GOOD_EDGE_CASES])
def test_edge_inputs_are_served(texts, rows, stubs):
    import serving_toy_models
    prediction, _, url = stubs
    request = _predict(text=np.array(texts, dtype=object) if texts else np.zeros([0], dtype=object))
    response = prediction.Predict(request, timeout=60)
    probabilities = np.array(response.outputs["probabilities"].float_val, np.float32).reshape(rows, 3)
    if rows:
        np.testing.assert_allclose(probabilities, serving_toy_models.reference_probabilities(texts), rtol=1e-5)
    body = json.dumps({"inputs": {"text": [t if isinstance(t, str) else "x" for t in texts]}}).encode()
    if any(isinstance(t, bytes) for t in texts):  # raw non-UTF-8 bytes inside the JSON string
        body = b'{"inputs": {"text": ["\xff\xfe\x80a", "ok"]}}'
    status, answer = rest(url, "POST", "/v1/models/toy:predict", body)
    if rows == 0:  # TF Serving refuses an empty row list but runs an empty columnar tensor
        assert status == 200 and answer["outputs"]["probabilities"] == []
    else:
        assert status == 200, answer
        np.testing.assert_allclose(np.array(answer["outputs"]["probabilities"], np.float32),
                                   serving_toy_models.reference_probabilities(texts), rtol=1e-5)
    assert_still_serving(stubs)


def test_grpc_messages_over_1024_chars_are_truncated(stubs):
    prediction, _, _ = stubs
    request = _predict(text=["a"])
    request.output_filter.append("x" * 3000)
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(request, timeout=30)
    details = info.value.details()
    assert details.endswith("...TRUNCATED") and len(details) == 1024 + len("...TRUNCATED")
    assert details.startswith("output tensor alias not found in signature: xxx")
    assert_still_serving(stubs)
