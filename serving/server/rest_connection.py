"""One REST client connection on the server's event loop: reads whole requests, hands each to the handler pool,
writes the reply, and closes connections that stall, misframe or overflow.

TF Serving's REST front end is libevent's evhttp: one event loop reads whole requests from any number of
connections, and only complete requests go to a fixed pool of --rest_api_num_threads handler threads. The same
here, on asyncio: an idle or slow connection costs a socket and a buffer, never a thread, so a few thousand of
them cannot starve the clients that send whole requests.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import json
import logging
import ssl
import time
import urllib.parse
from typing import TYPE_CHECKING

from serving.server.http_parse import HEAD_END, LINE_END, MAX_HEAD_BYTES, HttpError, Request, body_length, parse_head
from serving.server.rest_api import API_PATH

if TYPE_CHECKING:
    from serving.server.rest import RestServer

logger = logging.getLogger("bert_tf.serving")

SERVER_NAME = "bert_tf-model-server"
_READ_AHEAD = 64 * 1024  # bytes buffered beyond what the current request needs before reading pauses
# A refused (413) body is still read and dropped, up to this size, so the client can read the answer.
_DISCARD_LIMIT = 256 * 1024 * 1024
_DISCARD_TIMEOUT = 5.0
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH"})  # the rest get 501, as http.server gave


def error_json(message: str) -> bytes:
    return json.dumps({"error": message}, ensure_ascii=False).encode("utf-8", "surrogateescape")


def describe_connection_error(error: BaseException) -> str | None:
    """One line for what a client, not the server, causes: a reset or closed connection, a timeout, a TLS
    handshake that fails (plain HTTP on the HTTPS port). None for anything else (a server bug)."""
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, (ConnectionError, TimeoutError)):
        return f"{type(error).__name__}: {error.strerror or error}" if isinstance(error, OSError) else str(error)
    return None


class Connection(asyncio.Protocol):
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
        if not self.server.admit(self):
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
        self.server.forget(self)
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

    async def _read_request(self) -> Request | None:
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
            end = HEAD_END.search(self.buffer, max(0, scanned - 3), MAX_HEAD_BYTES + 4)
            if end is not None:
                break
            scanned = len(self.buffer)  # a head sent a byte at a time is still scanned once
            if len(self.buffer) > MAX_HEAD_BYTES:
                line_end = LINE_END.search(self.buffer, 0, MAX_HEAD_BYTES)
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
            return parse_head(head)
        except HttpError as e:
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

    async def _respond(self, request: Request) -> bool:
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
            code, data = 501, error_json(f"Unsupported method ('{request.method}')")
        elif not API_PATH.fullmatch(path):
            code, data = 404, error_json(f"Not found: {path}")
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

    async def _refuse(self, code: int, message: str, request: Request | None = None) -> None:
        logger.debug("REST %s - refused with %d: %s", self.peer, code, message)
        await self._write(code, error_json(message), request, keep_alive=False)

    async def _write(self, code: int, data: bytes, request: Request | None, keep_alive: bool) -> bool:
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
