"""REST front end (TF Serving's /v1 API) on a threaded `http.server`, with optional HTTPS.

Routes (case-insensitive, as TF Serving's regexes):
    POST /v1/models/NAME[/versions/V | /labels/L]:predict | :classify | :regress
    GET  /v1/models/NAME[/versions/V | /labels/L][/metadata]
Errors are `{"error": "..."}` with TF Serving's HTTP status for the code. Request bodies above
`max_body_bytes` are refused with 413 before they are read.
"""

from __future__ import annotations

import http.server
import logging
import re
import socketserver
import ssl
import sys
import threading
import urllib.parse

from google.protobuf import json_format
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_pb2, regression_pb2)

from serving import json_tensor, status
from serving.core import DEFAULT_SIGNATURE, SIGNATURE_DEF_FIELD, ServingCore

logger = logging.getLogger("bert_tf.serving")

_PATH = re.compile(r"(?i)/v1/.*")
_PREDICTION = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
_STATUS = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
# A refused (413) body is still read and dropped, up to this size, so the client can read the answer.
_DISCARD_LIMIT = 256 * 1024 * 1024
_DISCARD_TIMEOUT = 5.0


_DIGITS = re.compile(r"[0-9]+")


def body_length(content_lengths: list[str], transfer_encodings: list[str]) -> tuple[int, int, str | None]:
    """The request body length from its framing headers, by RFC 9112 section 6.3: (size, HTTP status, error).

    Refused (error set; the connection must then be closed), as a request that two HTTP parsers could frame
    differently is what request smuggling behind a proxy needs:
      - Content-Length given more than once or as a list, even with equal values (RFC 9110 section 8.6 lets a
        server reject those; libevent, under TF Serving, would silently take the first);
      - a Content-Length that is not plain digits ("+5", "5_0", "0x5" are numbers to Python's int());
      - Content-Length together with Transfer-Encoding (section 6.1: "ought to be handled as an error");
      - a Transfer-Encoding whose final coding is not chunked: 400;
      - chunked bodies: 411, this server reads Content-Length bodies only.
    """
    if transfer_encodings:
        if content_lengths:
            return 0, 400, "Request has both Content-Length and Transfer-Encoding"
        codings = [c.strip().lower() for value in transfer_encodings for c in value.split(",") if c.strip()]
        if not codings or codings[-1] != "chunked":
            return 0, 400, f"Unsupported Transfer-Encoding: {', '.join(transfer_encodings)}"
        return 0, 411, "Chunked request bodies are not supported; send Content-Length"
    if not content_lengths:
        return 0, 200, None
    if len(content_lengths) > 1:
        return 0, 400, f"Multiple Content-Length headers: {', '.join(content_lengths)}"
    value = content_lengths[0].strip(" \t")
    if not _DIGITS.fullmatch(value):
        return 0, 400, f"Invalid Content-Length: {content_lengths[0]}"
    return int(value), 200, None


def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name)
    if version:
        value = int(version)
        if value > 2 ** 63 - 1:
            raise status.invalid_argument(f"Failed to convert version: {version} to numeric.")
        spec.version.value = value
    if label:
        spec.version_label = label
    return spec


class RestApi:
    """Turns (method, path, body) into (HTTP status, JSON text) over a ServingCore."""

    def __init__(self, core: ServingCore):
        self.core = core

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str]:
        try:
            return 200, self._dispatch(method, path, body)
        except status.ServingError as e:
            return status.http_status(e.code), json_tensor.json.dumps({"error": e.message}, ensure_ascii=False)
        except Exception as e:  # one request fails, the server stays up
            logger.exception("REST request %s %s failed", method, path)
            return 500, json_tensor.json.dumps({"error": f"{type(e).__name__}: {e}"})

    def _dispatch(self, method: str, path: str, body: bytes) -> str:
        malformed = status.invalid_argument(f"Malformed request: {method} {path}")
        if method == "POST":
            match = _PREDICTION.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, verb = match.groups()
            spec = _model_spec(urllib.parse.unquote(name), version, label and urllib.parse.unquote(label))
            verb = verb.lower()
            if verb == "predict":
                return self._predict(spec, body)
            return self._classify_regress(spec, body, verb)
        if method == "GET":
            match = _STATUS.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, metadata = match.groups()
            if not name:
                raise status.invalid_argument("Missing model name in request.")
            spec = _model_spec(urllib.parse.unquote(name), version, label and urllib.parse.unquote(label))
            if metadata:
                return self._metadata(spec)
            response = self.core.get_model_status(get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
            return json_format.MessageToJson(response, always_print_fields_with_no_presence=True,
                                             preserving_proto_field_name=True, indent=1)
        raise malformed

    def _predict(self, spec: model_pb2.ModelSpec, body: bytes) -> str:
        doc = json_tensor.parse_json(body)
        spec.signature_name = json_tensor.signature_name(doc)
        with self.core.manager.serving(spec) as servable:
            signature_name = spec.signature_name or DEFAULT_SIGNATURE
            signature = servable.signature_defs.get(signature_name)
            if signature is None:
                raise status.invalid_argument(
                    f"Serving signature name: \"{signature_name}\" not found in signature def")
            arrays, fmt = json_tensor.predict_request_arrays(doc, signature.inputs)
            outputs = self.core.run_predict(servable, signature_name, arrays)
        return json_tensor.predict_response_json(outputs, fmt)

    def _classify_regress(self, spec: model_pb2.ModelSpec, body: bytes, verb: str) -> str:
        doc = json_tensor.parse_json(body)
        if verb == "classify":
            request = classification_pb2.ClassificationRequest(model_spec=spec)
            json_tensor.fill_examples_request(doc, request)
            return json_tensor.classification_json(self.core.classify(request).result)
        request = regression_pb2.RegressionRequest(model_spec=spec)
        json_tensor.fill_examples_request(doc, request)
        return json_tensor.regression_json(self.core.regress(request).result)

    def _metadata(self, spec: model_pb2.ModelSpec) -> str:
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=[SIGNATURE_DEF_FIELD])
        response = self.core.get_model_metadata(request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
        options = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True, indent=1)
        return ("{\n\"model_spec\":" + json_format.MessageToJson(response.model_spec, **options) + ",\n"
                "\"metadata\": {\"signature_def\": " + json_format.MessageToJson(signature_map, **options) + "}\n}\n")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bert_tf-model-server"

    def log_message(self, fmt, *args):  # keep stderr quiet; use logging
        logger.debug("REST %s - " + fmt, self.address_string(), *args)

    def _reply(self, code: int, text: str) -> None:
        data = text.encode("utf-8", "surrogateescape")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _discard_body(self, size: int) -> None:
        """Reads and drops a refused body (up to _DISCARD_LIMIT bytes, _DISCARD_TIMEOUT s per read).

        Closing a socket with unread bytes makes the kernel reset the connection, and a client still
        sending then sees a broken pipe instead of the 413 it was sent."""
        remaining = min(size, _DISCARD_LIMIT)
        try:
            self.connection.settimeout(_DISCARD_TIMEOUT)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _process(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        size, code, error = body_length(self.headers.get_all("Content-Length") or [],
                                        self.headers.get_all("Transfer-Encoding") or [])
        if error is not None:
            self.close_connection = True
            self._reply(code, json_tensor.json.dumps({"error": error}))
            return
        if size > self.server.max_body_bytes:
            self.close_connection = True
            self._reply(413, json_tensor.json.dumps({"error": f"Request body of {size} bytes is larger than the "
                                                     f"limit of {self.server.max_body_bytes} bytes"}))
            self._discard_body(size)
            return
        body = self.rfile.read(size) if size else b""
        if not _PATH.fullmatch(path):
            self._reply(404, json_tensor.json.dumps({"error": f"Not found: {path}"}))
            return
        code, text = self.server.api.handle(self.command, path, body)
        self._reply(code, text)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _process


def describe_connection_error(error: BaseException) -> str | None:
    """One line for what a client, not the server, causes: a reset or closed connection, a timeout, a TLS
    handshake that fails (plain HTTP on the HTTPS port). None for anything else (a server bug)."""
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, (ConnectionError, TimeoutError)):
        return f"{type(error).__name__}: {error.strerror or error}" if isinstance(error, OSError) else str(error)
    return None


class _ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        """socketserver prints a traceback to stderr for every failed connection; a client going away or
        speaking plain HTTP to HTTPS is one log line here, other errors keep their traceback in the log."""
        error = sys.exc_info()[1]
        line = describe_connection_error(error)
        if line is not None:
            logger.info("REST connection from %s ended: %s", client_address[0], line)
        else:
            logger.error("REST connection from %s failed", client_address[0], exc_info=error)


class RestServer:
    """A threaded HTTP(S) server for the REST API.

    Args:
        core: ServingCore.
        host: str. Interface to bind (127.0.0.1 unless told otherwise).
        port: int. 0 picks a free port (see `.port`).
        ssl_context: ssl.SSLContext or None. Serve HTTPS when given.
        max_body_bytes: int. Larger request bodies get 413. Defaults to 64 MiB.
    """

    def __init__(self, core: ServingCore, host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        self._httpd = _ThreadingHTTPServer((host, port), _Handler)
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True,
                                                           do_handshake_on_connect=False)
        self._httpd.api = RestApi(core)
        self._httpd.max_body_bytes = int(max_body_bytes)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="rest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
