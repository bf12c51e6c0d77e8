"""Classify, Regress and MultiInference on tf.Examples, step for step as TF Serving's classifier.cc,
regressor.cc and multi_inference.cc: the serialized-examples input tensor, the signature checks, and the
results built from the signature's outputs. `ServingCore` (serving.server.core) runs them.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from google.protobuf import text_format
from tensorflow_serving.apis import classification_pb2, regression_pb2

from serving.server import status
from serving.server.limits import check_request_rows

CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"
CLASSIFY_INPUTS = "inputs"
CLASSIFY_OUTPUT_CLASSES = "classes"
CLASSIFY_OUTPUT_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"


def _debug_string(message) -> str:
    return text_format.MessageToString(message)


def examples_tensor(input_proto, max_rows: int | None) -> np.ndarray:
    """InputToSerializedExampleTensor: serialized Examples (context bytes prepended), or "Input is empty."."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples, context = input_proto.example_list.examples, b""
    elif kind == "example_list_with_context":
        examples = input_proto.example_list_with_context.examples
        context = input_proto.example_list_with_context.context.SerializeToString()
    else:
        examples, context = [], b""
    check_request_rows(len(examples), max_rows)
    serialized = [context + e.SerializeToString() for e in examples]
    if not serialized:
        raise status.invalid_argument("Input is empty.")
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array


def _check_method_name_and_input(signature, method_name: str, kind: str, check_method_name: bool) -> None:
    if check_method_name and signature.method_name != method_name:
        raise status.invalid_argument(f"Expected {kind} signature method_name to be "
                                      f"{method_name}. Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise status.invalid_argument("Expected one input Tensor.")


def check_classification_signature(signature, check_method_name: bool = False) -> None:
    """PreProcessClassification: one input `inputs`, one or two outputs among `classes` and `scores`."""
    _check_method_name_and_input(signature, CLASSIFY_METHOD_NAME, "classification", check_method_name)
    if len(signature.outputs) not in (1, 2):
        raise status.invalid_argument(
            f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if CLASSIFY_INPUTS not in signature.inputs:
        raise status.invalid_argument(
            f"No classification inputs found in SignatureDef: {_debug_string(signature)}")
    if CLASSIFY_OUTPUT_CLASSES not in signature.outputs and CLASSIFY_OUTPUT_SCORES not in signature.outputs:
        raise status.invalid_argument(
            f"Expected classification signature outputs to contain at least one of \"classes\" or "
            f"\"scores\". Signature was: {_debug_string(signature)}")


def check_regression_signature(signature, check_method_name: bool = False) -> None:
    """PreProcessRegression: one input `inputs`, one output `outputs`."""
    _check_method_name_and_input(signature, REGRESS_METHOD_NAME, "regression", check_method_name)
    if len(signature.outputs) != 1:
        raise status.invalid_argument("Expected one output Tensor.")
    if REGRESS_INPUTS not in signature.inputs:
        raise status.invalid_argument(
            f"No regression inputs found in SignatureDef: {_debug_string(signature)}")
    if REGRESS_OUTPUTS not in signature.outputs:
        raise status.invalid_argument(
            f"No regression outputs found in SignatureDef: {_debug_string(signature)}")


def classification_result(outputs, num_examples: int, result: classification_pb2.ClassificationResult):
    classes = outputs.get(CLASSIFY_OUTPUT_CLASSES)
    scores = outputs.get(CLASSIFY_OUTPUT_SCORES)
    for name, tensor, kind in (("classes", classes, "O"), ("scores", scores, "f")):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise status.invalid_argument(
                f"Expected Tensor shape: [batch_size num_classes] but got "
                f"[{','.join(str(d) for d in tensor.shape)}]")
        if kind == "O" and tensor.dtype != object:
            raise status.invalid_argument(f"Expected classes Tensor of DT_STRING. Got: {tensor.dtype}")
        if kind == "f" and tensor.dtype != np.float32:
            raise status.invalid_argument(f"Expected scores Tensor of DT_FLOAT. Got: {tensor.dtype}")
        if tensor.shape[0] != num_examples:
            raise status.invalid_argument(
                f"Expected {name} output batch size of {num_examples}. Got: {tensor.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise status.invalid_argument(f"Tensors class and score should match in dim_size(1). Got "
                                      f"{classes.shape[1]} vs. {scores.shape[1]}")
    num_classes = (classes if classes is not None else scores).shape[1]
    for i in range(num_examples):
        classifications = result.classifications.add()
        for c in range(num_classes):
            cls = classifications.classes.add()
            if classes is not None:
                cls.label = classes[i, c].decode("utf-8", "replace") if isinstance(classes[i, c], bytes) \
                    else str(classes[i, c])
            if scores is not None:
                cls.score = float(scores[i, c])


def regression_result(outputs, num_examples: int, result: regression_pb2.RegressionResult):
    tensor = outputs[REGRESS_OUTPUTS]
    if not (tensor.ndim == 1 or (tensor.ndim == 2 and tensor.shape[1] == 1)):
        raise status.invalid_argument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"[{','.join(str(d) for d in tensor.shape)}]")
    if tensor.shape[0] != num_examples:
        raise status.invalid_argument(
            f"Input batch size did not match output batch size: {num_examples} vs. {tensor.shape[0]}")
    if tensor.dtype != np.float32:
        raise status.invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {tensor.dtype}")
    for value in tensor.ravel():
        result.regressions.add().value = float(value)


class ExampleMethod(NamedTuple):
    """One of the two tf.Example methods: its signature check, response type and how outputs fill its result."""
    method_name: str  # the SignatureDef method_name / MultiInference task method_name
    check_signature: Callable  # (signature, check_method_name) -> None, raises ServingError
    response_type: type
    fill_result: Callable  # (outputs, num_examples, result proto) -> None
    result_field: str  # its field in a MultiInference InferenceResult


CLASSIFY = ExampleMethod(CLASSIFY_METHOD_NAME, check_classification_signature,
                         classification_pb2.ClassificationResponse, classification_result, "classification_result")
REGRESS = ExampleMethod(REGRESS_METHOD_NAME, check_regression_signature, regression_pb2.RegressionResponse,
                        regression_result, "regression_result")
BY_METHOD_NAME = {method.method_name: method for method in (CLASSIFY, REGRESS)}
