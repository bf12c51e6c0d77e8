"""Reading a REST request's JSON as TF Serving's json_tensor.cc does: the document (rapidjson's error wording),
the value printing of its messages, base64 objects and the signature name."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from serving.server import status

_B64_KEY = "b64"


class _Rapid:
    """Python json error messages → rapidjson's GetParseError_En wording."""
    MESSAGES = (
        ("Expecting value", "Invalid value."),
        ("Extra data", "The document root must not be followed by other values."),
        ("Expecting property name enclosed in double quotes", "Missing a name for object member."),
        ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
        ("Unterminated string", "Missing a closing quotation mark in string."),
        ("Invalid control character", "Invalid encoding in string."),
        ("Invalid \\escape", "Invalid escape character in string."),
        ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    )

    @classmethod
    def message(cls, error: json.JSONDecodeError) -> str:
        if error.msg == "Expecting ',' delimiter":
            return ("Missing a comma or ']' after an array element." if error.doc[:error.pos].rstrip()
                    and _innermost_is_array(error.doc, error.pos) else
                    "Missing a comma or '}' after an object member.")
        for prefix, text in cls.MESSAGES:
            if error.msg.startswith(prefix):
                return text
        return error.msg + "."


def _innermost_is_array(doc: str, pos: int) -> bool:
    depth = []
    in_string = escaped = False
    for ch in doc[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth.append(ch)
        elif ch in "]}" and depth:
            depth.pop()
    return bool(depth) and depth[-1] == "["


def parse_json(body: bytes) -> dict:
    """ParseJson: the document must be non-empty, valid (NaN/Infinity allowed) and an object."""
    if not body:
        raise status.invalid_argument("JSON Parse error: The document is empty")
    # surrogateescape keeps bytes that are not UTF-8 (rapidjson passes them through unvalidated).
    text = body.decode("utf-8", "surrogateescape")
    if not text.strip():
        raise status.invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise status.invalid_argument(
            f"JSON Parse error: {_Rapid.message(e)} at offset: {len(text[:e.pos].encode('utf-8', 'surrogateescape'))}"
        ) from None
    except RecursionError:
        raise status.invalid_argument("JSON Parse error: The document is nested too deeply.") from None
    except ValueError:  # an integer literal over Python's int-string limit (4300 digits)
        offset = _number_too_big_offset(text)
        if offset is None:
            raise
        raise _number_too_big(text, offset) from None
    # Python reads 1e400 as inf and a 400-digit integer as an int; rapidjson refuses both. The cheap search finds
    # every document that can hold such a number (a 309-digit run or an exponent of 100 or more), so the exact
    # scan runs only for those.
    if _MAYBE_TOO_BIG.search(text):
        offset = _number_too_big_offset(text)
        if offset is not None:
            raise _number_too_big(text, offset)
    if not isinstance(doc, dict):
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} Is not object")
    return doc


# A JSON string or number token; strings are matched first so that digits inside them are skipped.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?)(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?')
_DOUBLE_GUARD = 1.7976931348623157e307  # rapidjson's ParseNumber overflow guard


_MAYBE_TOO_BIG = re.compile(r"[0-9]{309}|[eE]\+?0*[1-9][0-9]{2}")


def _number_too_big(text: str, offset: int) -> status.ServingError:
    return status.invalid_argument(f"JSON Parse error: Number too big to be stored in double. at offset: "
                                   f"{len(text[:offset].encode('utf-8', 'surrogateescape'))}")


def _number_too_big_offset(text: str) -> int | None:
    """Where rapidjson stops with kParseErrorNumberTooBig: the first number whose integer part overflows a double,
    or whose value does.

    rapidjson reads integer digits into a double once they pass uint64 and fails as soon as one more digit
    follows a value >= 1.7976931348623157e307; a number whose value ends above the largest double (1e400, a
    400-digit integer) fails too. The error offset is the number's first character (its minus sign included).
    One difference is left: rapidjson's exponent guard also refuses a zero written with an exponent past 308
    (`0e400`); this reads it as 0."""
    for match in _TOKEN.finditer(text):
        digits = match.group(2)
        if digits is None:
            continue
        if len(digits) > 310 or (len(digits) > 1 and int(digits[:-1]) >= _DOUBLE_GUARD):
            return match.start()
        if match.group(4) and math.isinf(float(match.group(0))):
            return match.start()
    return None


def value_to_string(value: Any, limit: int = 100_000) -> str:
    """JsonValueToString (pretty-printed like rapidjson's PrettyWriter), cut at `limit` characters."""
    try:
        text = json.dumps(value, indent=4, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def to_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates written as \ud800 escapes
        return text.encode("utf-8", "surrogatepass")


def is_b64_object(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_B64_KEY), str)


def decode_b64_object(value: Any) -> bytes:
    if not is_b64_object(value):
        raise status.invalid_argument(f"JSON Value: {value_to_string(value)} not formatted correctly for base64 data")
    text = value[_B64_KEY].strip()
    if len(text) % 4 == 1 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text):
        raise status.invalid_argument("Unable to base64 decode")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise status.invalid_argument("Unable to base64 decode") from None


def signature_name(doc: dict) -> str:
    """FillSignature: the optional "signature_name" must be a string."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise status.invalid_argument(f"JSON Value: {value_to_string(doc)} not formatted correctly. 'signature_name' "
                                      "key must be a string value.")
    return name
