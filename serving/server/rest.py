"""REST front end (TF Serving's /v1 API): an asyncio HTTP/1.1 server with a bounded handler pool, optional HTTPS.

Routes (case-insensitive, as TF Serving's regexes):
    POST /v1/models/NAME[/versions/V | /labels/L]:predict | :classify | :regress
    GET  /v1/models/NAME[/versions/V | /labels/L][/metadata]
Errors are `{"error": "..."}` with TF Serving's HTTP status for the code. Request bodies above
`max_body_bytes` are refused with 413 before they are read. Connections are read by one event loop and
complete requests run on `num_threads` pool threads (see `RestServer`), so idle or slow clients hold no thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import http
import logging
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse

from google.protobuf import json_format
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_pb2, regression_pb2)

from serving.server import json_tensor, status
from serving.server.core import DEFAULT_SIGNATURE, SIGNATURE_DEF_FIELD, ServingCore
from serving.server.limits import CancelCheck, check_request_rows

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

    def handle(self, method: str, path: str, body: bytes, cancel: CancelCheck | None = None) -> tuple[int, str]:
        """Runs one request. `cancel` (e.g. the client's connection is still open) is checked between chunks or
        batches of the inference: once the client is gone the rest of the work is skipped (CANCELLED)."""
        try:
            return 200, self._dispatch(method, path, body, cancel)
        except status.ServingError as e:
            return status.http_status(e.code), json_tensor.json.dumps({"error": e.message}, ensure_ascii=False)
        except Exception as e:  # one request fails, the server stays up
            logger.exception("REST request %s %s failed", method, path)
            return 500, json_tensor.json.dumps({"error": f"{type(e).__name__}: {e}"})

    def _dispatch(self, method: str, path: str, body: bytes, cancel: CancelCheck | None) -> str:
        malformed = status.invalid_argument(f"Malformed request: {method} {path}")
        if method == "POST":
            match = _PREDICTION.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, verb = match.groups()
            spec = _model_spec(urllib.parse.unquote(name), version, label and urllib.parse.unquote(label))
            # The path pattern is case-insensitive, the verb is not (TF Serving compares it with ==): ":PREDICT"
            # matches the pattern but names no method, so it stays "Malformed request" (400).
            if verb == "predict":
                return self._predict(spec, body, cancel)
            if verb in ("classify", "regress"):
                return self._classify_regress(spec, body, verb, cancel)
            raise malformed
        if method == "GET":
            match = _STATUS.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, metadata = match.groups()
            if not name:
                raise status.invalid_argument("Missing model name in request.")
            spec = _model_spec(urllib.parse.unquote(name), version, label and urllib.parse.unquote(label))
            if metadata == "metadata":  # "/METADATA" matches the pattern; TF Serving then answers the status
                return self._metadata(spec)
            response = self.core.get_model_status(get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
            return json_format.MessageToJson(response, always_print_fields_with_no_presence=True,
                                             preserving_proto_field_name=True, indent=1)
        raise malformed

    def _check_rows(self, value, alias: str | None) -> None:
        """The per-request row limit on a JSON list, before it becomes a tensor."""
        if isinstance(value, list):
            check_request_rows(len(value), self.core.max_request_rows, alias)

    def _predict(self, spec: model_pb2.ModelSpec, body: bytes, cancel: CancelCheck | None) -> str:
        doc = json_tensor.parse_json(body)
        spec.signature_name = json_tensor.signature_name(doc)
        with self.core.manager.serving(spec) as servable:
            signature_name = spec.signature_name or DEFAULT_SIGNATURE
            signature = servable.signature_defs.get(signature_name)
            if signature is None:
                raise status.invalid_argument(
                    f"Serving signature name: \"{signature_name}\" not found in signature def")
            only = next(iter(signature.inputs)) if len(signature.inputs) == 1 else None
            self._check_rows(doc.get("instances"), only)
            inputs = doc.get("inputs")
            if isinstance(inputs, dict):
                for alias in sorted(signature.inputs):
                    self._check_rows(inputs.get(alias), alias)
            else:
                self._check_rows(inputs, only)
            arrays, fmt = json_tensor.predict_request_arrays(doc, signature.inputs)
            outputs = self.core.run_predict(servable, signature_name, arrays, cancel=cancel)
        return json_tensor.predict_response_json(outputs, fmt)

    def _classify_regress(self, spec: model_pb2.ModelSpec, body: bytes, verb: str,
                          cancel: CancelCheck | None) -> str:
        doc = json_tensor.parse_json(body)
        self._check_rows(doc.get("examples"), None)
        if verb == "classify":
            request = classification_pb2.ClassificationRequest(model_spec=spec)
            json_tensor.fill_examples_request(doc, request)
            return json_tensor.classification_json(self.core.classify(request, cancel).result)
        request = regression_pb2.RegressionRequest(model_spec=spec)
        json_tensor.fill_examples_request(doc, request)
        return json_tensor.regression_json(self.core.regress(request, cancel).result)

    def _metadata(self, spec: model_pb2.ModelSpec) -> str:
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=[SIGNATURE_DEF_FIELD])
        response = self.core.get_model_metadata(request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
        options = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True, indent=1)
        return ("{\n\"model_spec\":" + json_format.MessageToJson(response.model_spec, **options) + ",\n"
                "\"metadata\": {\"signature_def\": " + json_format.MessageToJson(signature_map, **options) + "}\n}\n")


def describe_connection_error(error: BaseException) -> str | None:
    """One line for what a client, not the server, causes: a reset or closed connection, a timeout, a TLS
    handshake that fails (plain HTTP on the HTTPS port). None for anything else (a server bug)."""
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, (ConnectionError, TimeoutError)):
        return f"{type(error).__name__}: {error.strerror or error}" if isinstance(error, OSError) else str(error)
    return None


# === HTTP/1.1 transport ===
#
# TF Serving's REST front end is libevent's evhttp: one event loop reads whole requests from any number of
# connections, and only complete requests go to a fixed pool of --rest_api_num_threads handler threads. The same
# here, on asyncio: an idle or slow connection costs a socket and a buffer, never a thread, so a few thousand of
# them cannot starve the clients that send whole requests.

DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CONNECTIONS = 1000
_MAX_HEAD_BYTES = 64 * 1024  # request line + headers (http.server's per-line limit)
_MAX_HEADERS = 100  # http.client's limit
_READ_AHEAD = 64 * 1024  # bytes buffered beyond what the current request needs before reading pauses
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})  # the rest get 501, as http.server gave


def default_num_threads() -> int:
    """TF Serving's --rest_api_num_threads default: 4 per schedulable CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 4 * max(1, cpus)


def _error_json(message: str) -> bytes:
    return json_tensor.json.dumps({"error": message}, ensure_ascii=False).encode("utf-8", "surrogateescape")


class _Request:
    __slots__ = ("method", "target", "version", "headers", "keep_alive")

    def __init__(self, method: str, target: str, version: tuple[int, int], headers: list[tuple[str, str]]):
        self.method, self.target, self.version, self.headers = method, target, version, headers
        tokens = {t.strip().lower() for value in self.get_all("connection") for t in value.split(",")}
        self.keep_alive = "keep-alive" in tokens if version == (1, 0) else "close" not in tokens

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


class _HttpError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _parse_head(head: bytes) -> _Request:
    """Request line and header fields (RFC 9112 sections 3 and 5); anything ambiguous is refused."""
    lines = _LINE_END.split(head)
    words = lines[0].decode("latin-1").split(" ")
    if len(words) != 3 or not all(words):
        raise _HttpError(400, f"Bad request syntax: {lines[0][:200].decode('latin-1')!r}")
    method, target, version_text = words
    version = _VERSION.fullmatch(version_text)
    if version is None:
        raise _HttpError(400, f"Bad request version: {version_text[:50]!r}")
    if version.group(1) != "1":
        raise _HttpError(505, f"Invalid HTTP version: {version_text}")
    if not _TOKEN.fullmatch(method):
        raise _HttpError(400, f"Bad request method: {method[:50]!r}")
    if len(lines) - 1 > _MAX_HEADERS:
        raise _HttpError(431, f"More than {_MAX_HEADERS} header fields")
    headers = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):  # obsolete line folding: section 5.2 allows refusing it
            raise _HttpError(400, "Header field line folding is not supported")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not _TOKEN.fullmatch(name):  # "Content-Length : 5" must be a 400 (section 5.1)
            raise _HttpError(400, f"Bad header field: {line[:100].decode('latin-1')!r}")
        headers.append((name.lower(), value.strip(" \t")))
    return _Request(method, target, (1, min(int(version.group(2)), 1)), headers)


class _Connection(asyncio.Protocol):
    """One client connection: reads whole requests, hands each to the worker pool, writes the reply."""

    def __init__(self, server: "RestServer"):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.buffer = bytearray()
        self.state = "new"  # idle (between requests) | reading | busy (handler running, reply being written)
        self.last_active = time.monotonic()
        self.closed_by_client = False  # EOF or connection lost: the client can no longer read a reply
        self._want = 0  # bytes the current read still needs
        self._discard = 0  # bytes of a refused body still to read and drop
        self._paused = False
        self._data = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._task: asyncio.Task | None = None

    # --- asyncio.Protocol callbacks (event loop thread) ---
    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        if not self.server._admit(self):
            return
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        if self._discard > 0:
            self._discard -= len(data)
        else:
            self.buffer += data
            if not self._paused and len(self.buffer) > self._want + _READ_AHEAD:
                self._paused = True
                self.transport.pause_reading()
        self._data.set()

    def eof_received(self):
        # The client closed its side. As with libevent under TF Serving, that ends the request it sent: its
        # work stops at the next chunk boundary and no reply is written.
        self.closed_by_client = True
        self._data.set()
        return None  # close the transport

    def connection_lost(self, exc) -> None:
        self.closed_by_client = True
        self._data.set()
        self._writable.set()
        self.server._connections.discard(self)
        if exc is not None:
            line = describe_connection_error(exc)
            if line is not None:
                logger.info("REST connection from %s ended: %s", self.peer, line)
            else:
                logger.error("REST connection from %s failed", self.peer, exc_info=exc)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def is_active(self) -> bool:
        """Whether the client can still read a reply (read from handler threads)."""
        return not self.closed_by_client

    # --- the request loop ---
    async def _serve(self) -> None:
        try:
            while True:
                request = await self._read_request()
                if request is None or not await self._respond(request):
                    break
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug here must not take the event loop down
            logger.exception("REST connection from %s failed", self.peer)
        finally:
            self.close()

    def close(self, abort: bool = False) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort() if abort else self.transport.close()

    async def _wait_data(self, timeout: float) -> bool:
        """Waits for more bytes; False on timeout or when the client closed."""
        if self.closed_by_client:
            return False
        if self._paused and len(self.buffer) <= self._want + _READ_AHEAD:
            self._paused = False
            self.transport.resume_reading()
        self._data.clear()
        try:
            await asyncio.wait_for(self._data.wait(), max(timeout, 0.0))
        except asyncio.TimeoutError:
            return False
        return not self.closed_by_client

    async def _read_request(self) -> _Request | None:
        timeout = self.server.idle_timeout
        self.state, self._want = "idle", 0
        while not self.buffer.lstrip(b"\r\n"):  # (RFC 9112 2.2: ignore empty lines before a request)
            self.buffer.clear()
            if not await self._wait_data(timeout):
                if not self.closed_by_client:
                    logger.debug("REST connection from %s closed after %.0f s idle", self.peer, timeout)
                return None
        del self.buffer[:len(self.buffer) - len(self.buffer.lstrip(b"\r\n"))]
        self.state = "reading"
        deadline = time.monotonic() + timeout  # the whole head within the timeout: no slow drip of headers
        scanned = 0
        while True:
            end = _HEAD_END.search(self.buffer, max(0, scanned - 3), _MAX_HEAD_BYTES + 4)
            if end is not None:
                break
            scanned = len(self.buffer)  # a head sent a byte at a time is still scanned once
            if len(self.buffer) > _MAX_HEAD_BYTES:
                line_end = _LINE_END.search(self.buffer, 0, _MAX_HEAD_BYTES)
                await self._refuse(414 if line_end is None else 431, "Request line too long" if line_end is None
                                   else "Request header fields too large")
                return None
            if not await self._wait_data(deadline - time.monotonic()):
                if not self.closed_by_client:
                    await self._refuse(408, f"Request head not received within {timeout:g} s")
                return None
        head = bytes(self.buffer[:end.start()])
        del self.buffer[:end.end()]
        try:
            return _parse_head(head)
        except _HttpError as e:
            await self._refuse(e.code, e.message)
            return None

    async def _read_body(self, size: int) -> bytes | None:
        timeout = self.server.idle_timeout
        self._want = size
        while len(self.buffer) < size:
            if not await self._wait_data(timeout):  # a timeout between reads, as libevent's read timeout
                if not self.closed_by_client:
                    await self._refuse(408, f"Request body stalled for {timeout:g} s")
                return None
        body = bytes(self.buffer[:size])
        del self.buffer[:size]
        self._want = 0
        return body

    async def _respond(self, request: _Request) -> bool:
        """Reads the body, runs the request, writes the reply. True to keep the connection for another one."""
        size, code, error = body_length(request.get_all("content-length"), request.get_all("transfer-encoding"))
        if error is not None:
            await self._refuse(code, error, request)
            return False
        max_body = self.server.max_body_bytes
        if size > max_body:
            await self._refuse(413, f"Request body of {size} bytes is larger than the limit of {max_body} bytes",
                               request)
            await self._drop_body(size)
            return False
        if size and request.version == (1, 1) and \
                any(v.lower() == "100-continue" for v in request.get_all("expect")):
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(size)
        if body is None or self.closed_by_client:
            return False
        path = urllib.parse.urlsplit(request.target).path
        if request.method not in _METHODS:
            code, data = 501, _error_json(f"Unsupported method ('{request.method}')")
        elif not _PATH.fullmatch(path):
            code, data = 404, _error_json(f"Not found: {path}")
        else:
            self.state = "busy"
            code, data = await asyncio.get_running_loop().run_in_executor(
                self.server.pool, self.server.run_request, request.method, path, body, self.is_active)
        if self.closed_by_client:
            logger.info("REST client %s went away before the reply to %s %s", self.peer, request.method, path)
            return False
        logger.debug('REST %s - "%s %s HTTP/1.%d" %d', self.peer, request.method, request.target,
                     request.version[1], code)
        return await self._write(code, data, request, keep_alive=request.keep_alive)

    async def _refuse(self, code: int, message: str, request: _Request | None = None) -> None:
        logger.debug("REST %s - refused with %d: %s", self.peer, code, message)
        await self._write(code, _error_json(message), request, keep_alive=False)

    async def _write(self, code: int, data: bytes, request: _Request | None, keep_alive: bool) -> bool:
        if self.transport.is_closing():
            return False
        if not keep_alive:
            connection = "Connection: close\r\n"
        elif request is not None and request.version == (1, 0):
            connection = "Connection: keep-alive\r\n"
        else:
            connection = ""
        head = (f"HTTP/1.1 {code} {http.HTTPStatus(code).phrase}\r\nServer: {SERVER_NAME}\r\n"
                f"Date: {email.utils.formatdate(usegmt=True)}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n{connection}\r\n").encode("latin-1")
        if request is not None and request.method == "HEAD":
            data = b""
        self.transport.writelines([head, data])
        while not self._writable.is_set():  # a large reply: the client must keep reading it
            pending = self.transport.get_write_buffer_size()
            try:
                await asyncio.wait_for(self._writable.wait(), self.server.idle_timeout)
            except asyncio.TimeoutError:
                if self.transport.get_write_buffer_size() < pending:
                    continue
                logger.info("REST client %s stopped reading its reply; connection closed", self.peer)
                self.close(abort=True)
                return False
        return keep_alive and not self.closed_by_client

    async def _drop_body(self, size: int) -> None:
        """Reads and drops a refused body (up to _DISCARD_LIMIT bytes, _DISCARD_TIMEOUT s per read) before the
        close: closing a socket with unread bytes makes the kernel reset the connection, and a client still
        sending then sees a broken pipe instead of the 413 it was sent."""
        self._discard = min(size, _DISCARD_LIMIT) - len(self.buffer)
        self.buffer.clear()
        while self._discard > 0:
            if not await self._wait_data(_DISCARD_TIMEOUT):
                break


SERVER_NAME = "bert_tf-model-server"


class RestServer:
    """An HTTP(S) server for the REST API: an asyncio event loop reads requests, a bounded pool runs them.

    Args:
        core: ServingCore.
        host: str. Interface to bind (127.0.0.1 unless told otherwise).
        port: int. 0 picks a free port (see `.port`).
        ssl_context: ssl.SSLContext or None. Serve HTTPS when given.
        max_body_bytes: int. Larger request bodies get 413. Defaults to 64 MiB.
        num_threads: int or None. Threads running requests (TF Serving's --rest_api_num_threads); requests
            beyond them wait, already read, for a free thread. Defaults to 4 per CPU, as TF Serving.
        idle_timeout: float. Seconds a connection may stay silent between requests, a request head may take
            to arrive, and a body or a reply may stall, before the connection is closed (408 when a request
            was under way). Defaults to 30.
        max_connections: int. Open connections at most; beyond it a new connection closes the longest-idle
            one between requests, or, when none is idle, gets 503 and is closed. Defaults to 1000.
    """

    def __init__(self, core: ServingCore, host: str = "127.0.0.1", port: int = 0,
                 ssl_context: ssl.SSLContext | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 num_threads: int | None = None, idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS):
        if idle_timeout <= 0:
            raise ValueError(f"REST idle timeout must be positive, got {idle_timeout}")
        if max_connections < 1:
            raise ValueError(f"REST max_connections must be at least 1, got {max_connections}")
        self.api = RestApi(core)
        self.max_body_bytes = int(max_body_bytes)
        self.num_threads = int(num_threads) if num_threads else default_num_threads()
        self.idle_timeout = float(idle_timeout)
        self.max_connections = int(max_connections)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family, backlog=128)
        self.port = self._socket.getsockname()[1]
        self._ssl_context = ssl_context
        self._connections: set[_Connection] = set()
        self._refused = 0
        self._refused_logged = 0.0
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.num_threads, thread_name_prefix="rest")
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._loop_error)
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._run, name="rest", daemon=True)
        self._started = threading.Event()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def run_request(self, method: str, path: str, body: bytes, is_active) -> tuple[int, bytes]:
        """Runs one request on a pool thread: (HTTP status, UTF-8 JSON). The work stops between chunks or
        batches once `is_active()` says the client closed its connection."""
        if not is_active():  # the client left while the request waited for a thread
            return status.http_status(status.CANCELLED), b""
        code, text = self.api.handle(method, path, body, CancelCheck(is_active=is_active))
        return code, text.encode("utf-8", "surrogateescape")

    # --- event loop ---
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(self._loop.create_server(
                lambda: _Connection(self), sock=self._socket, ssl=self._ssl_context, backlog=128,
                ssl_handshake_timeout=self.idle_timeout if self._ssl_context is not None else None))
        finally:
            self._started.set()
        self._loop.run_forever()

    def _admit(self, connection: _Connection) -> bool:
        """Counts a new connection in; at the limit, closes the longest-idle one or refuses this one."""
        if len(self._connections) >= self.max_connections:
            idle = [c for c in self._connections if c.state in ("new", "idle") and not c.buffer]
            if idle:
                victim = min(idle, key=lambda c: c.last_active)
                logger.debug("REST connection limit (%d): closing the longest-idle connection, from %s",
                             self.max_connections, victim.peer)
                self._connections.discard(victim)
                victim.close()
            else:
                self._refused += 1
                now = time.monotonic()
                if now - self._refused_logged >= 10.0:
                    logger.warning("REST connection limit (%d) reached with every connection busy: %d "
                                   "connection(s) refused with 503 so far", self.max_connections, self._refused)
                    self._refused_logged = now
                head = (f"HTTP/1.1 503 Service Unavailable\r\nServer: {SERVER_NAME}\r\nContent-Type: "
                        "application/json\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n")
                data = _error_json(f"Too many connections (limit {self.max_connections}); retry later")
                connection.transport.write(head.replace("{n}", str(len(data))).encode("latin-1") + data)
                connection.transport.close()
                return False
        self._connections.add(connection)
        return True

    def _loop_error(self, loop, context) -> None:
        error = context.get("exception")
        line = describe_connection_error(error) if error is not None else None
        if line is not None or isinstance(error, OSError):
            logger.warning("REST server: %s: %s", context.get("message", "error"), line or error)
        else:
            logger.error("REST server: %s", context.get("message", "error"), exc_info=error)

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._server is None:
            raise OSError(f"could not start the REST server on port {self.port}")

    def stop(self) -> None:
        if self._thread.is_alive():
            async def shutdown():
                if self._server is not None:
                    self._server.close()
                for connection in list(self._connections):
                    connection.close(abort=True)
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._loop.stop()

            asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
        self._socket.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
