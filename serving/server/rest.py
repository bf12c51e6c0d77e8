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
import logging
import os
import socket
import ssl
import threading
import time

from serving.server import status
from serving.server.core import ServingCore
from serving.server.limits import CancelCheck
from serving.server.rest_api import RestApi
from serving.server.rest_connection import SERVER_NAME, Connection, describe_connection_error, error_json

logger = logging.getLogger("bert_tf.serving")

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CONNECTIONS = 1000


def default_num_threads() -> int:
    """TF Serving's --rest_api_num_threads default: 4 per schedulable CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 4 * max(1, cpus)


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
        self._connections: set[Connection] = set()
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
                lambda: Connection(self), sock=self._socket, ssl=self._ssl_context, backlog=128,
                ssl_handshake_timeout=self.idle_timeout if self._ssl_context is not None else None))
        finally:
            self._started.set()
        self._loop.run_forever()

    def admit(self, connection: Connection) -> bool:
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
                data = error_json(f"Too many connections (limit {self.max_connections}); retry later")
                connection.transport.write(head.replace("{n}", str(len(data))).encode("latin-1") + data)
                connection.transport.close()
                return False
        self._connections.add(connection)
        return True

    def forget(self, connection: Connection) -> None:
        """A connection that ended (event loop thread)."""
        self._connections.discard(connection)

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
