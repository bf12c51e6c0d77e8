"""Status codes and errors as TF Serving reports them (gRPC codes, HTTP mapping, message truncation)."""

from __future__ import annotations

import re

# === Canonical codes (google.rpc.Code / tensorflow::error::Code; equal to gRPC's) ===
OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16

CODE_NAMES = {
    OK: "OK", CANCELLED: "CANCELLED", UNKNOWN: "UNKNOWN", INVALID_ARGUMENT: "INVALID_ARGUMENT",
    DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED", NOT_FOUND: "NOT_FOUND", ALREADY_EXISTS: "ALREADY_EXISTS",
    PERMISSION_DENIED: "PERMISSION_DENIED", RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
    FAILED_PRECONDITION: "FAILED_PRECONDITION", ABORTED: "ABORTED", OUT_OF_RANGE: "OUT_OF_RANGE",
    UNIMPLEMENTED: "UNIMPLEMENTED", INTERNAL: "INTERNAL", UNAVAILABLE: "UNAVAILABLE", DATA_LOSS: "DATA_LOSS",
    UNAUTHENTICATED: "UNAUTHENTICATED",
}

# TF Serving's http_server.cc ToHTTPStatusCode.
_HTTP_STATUS = {
    OK: 200, CANCELLED: 499, UNKNOWN: 500, INVALID_ARGUMENT: 400, DEADLINE_EXCEEDED: 504, NOT_FOUND: 404,
    ALREADY_EXISTS: 409, PERMISSION_DENIED: 403, RESOURCE_EXHAUSTED: 429, FAILED_PRECONDITION: 400,
    ABORTED: 409, OUT_OF_RANGE: 400, UNIMPLEMENTED: 501, INTERNAL: 500, UNAVAILABLE: 503, DATA_LOSS: 500,
    UNAUTHENTICATED: 401,
}

GRPC_MESSAGE_LIMIT = 1024  # grpc_status_util.cc kErrorMessageLimit


def http_status(code: int) -> int:
    """The HTTP status TF Serving's REST server answers for a canonical code."""
    return _HTTP_STATUS.get(code, 500)


def truncate_for_grpc(message: str) -> str:
    """TF Serving cuts gRPC error messages at 1024 characters and appends "...TRUNCATED"."""
    if len(message) > GRPC_MESSAGE_LIMIT:
        return message[:GRPC_MESSAGE_LIMIT] + "...TRUNCATED"
    return message


class ServingError(Exception):
    """A request failure with a canonical status code and TF Serving's message.

    Args:
        code: int. Canonical code (e.g. `status.INVALID_ARGUMENT`).
        message: str. The message clients see.
    """

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = int(code)
        self.message = message

    @property
    def code_name(self) -> str:
        return CODE_NAMES.get(self.code, str(self.code))

    def __str__(self) -> str:
        return f"{self.code_name}: {self.message}"


def invalid_argument(message: str) -> ServingError:
    return ServingError(INVALID_ARGUMENT, message)


_STACK_BLOCK = re.compile(r"Detected at node .*? defined at \(most recent call last\):\n(?:(?:[ \t].*|<[^\n]*>|)\n)*")
_NODE_SUFFIX = re.compile(r"\s*\[\[\{\{(?:function_)?node [^\]]*\]\]")
_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\]")


def clean_tf_message(message: str) -> str:
    """Strips the Python-side decorations of a TF runtime error (stack listings, node and op tags)."""
    text = message.replace("Graph execution error:\n\n", "")
    text = _STACK_BLOCK.sub("", text)
    text = _NODE_SUFFIX.sub("", text)
    text = _OP_SUFFIX.sub("", text)
    text = text.strip()
    return text or message.strip()
