"""REST verbs are case-sensitive, as in TF Serving (issue 13): its path pattern is case-insensitive, but the
handler compares the verb with `==` (http_rest_api_handler.cc), so `POST /v1/models/m:PREDICT` is 400
"Malformed request: POST /v1/models/m:PREDICT" (bert_tf answered 200) and `GET .../METADATA` answers the
model's status, not its metadata. The rest of the path stays case-insensitive."""

import json
import urllib.error
import urllib.request

import pytest

BODY = json.dumps({"instances": ["banana"]}).encode()


def _call(url, method, path, body=None):
    request = urllib.request.Request(url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("verb", ["PREDICT", "Predict", "CLASSIFY", "Regress"])
def test_verb_in_other_case_is_malformed(contract_target, verb):
    path = f"/v1/models/toy:{verb}"
    code, answer = _call(contract_target[1], "POST", path, BODY)
    assert (code, answer) == (400, {"error": f"Malformed request: POST {path}"})


def test_path_outside_the_verb_is_case_insensitive(contract_target):
    code, answer = _call(contract_target[1], "POST", "/V1/MODELS/toy:predict", BODY)
    assert code == 200 and len(answer["predictions"]) == 1


def test_metadata_subresource_is_case_sensitive(contract_target):
    code, answer = _call(contract_target[1], "GET", "/v1/models/toy/metadata")
    assert code == 200 and "metadata" in answer
    code, answer = _call(contract_target[1], "GET", "/v1/models/toy/METADATA")
    assert code == 200 and "model_version_status" in answer and "metadata" not in answer
