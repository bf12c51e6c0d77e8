"""REST front end under hostile HTTP (issue 14): request framing (RFC 9112), quiet disconnects, connection limits.

Every test talks to bert_tf's local server over loopback with raw sockets, so it sees exactly what a client
or a proxy in front of the server would see.
"""

import json
import socket
import time

import pytest

from serving_toy_models import copy_version
from serving.server import ModelServer

PREDICT = b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
GOOD_BODY = b'{"instances": ["banana"]}'


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory, toy_version_dir):
    base = str(tmp_path_factory.mktemp("rest_hardening") / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=0,
                     file_system_poll_wait_seconds=-1) as server:
        yield server


def read_response(sock: socket.socket, timeout: float = 30.0, check_closed: bool = True
                  ) -> tuple[int, dict, bytes, bool]:
    """Reads one HTTP response: (status, lower-case headers, body, whether the server then closed; checked only
    when `check_closed` or the response says Connection: close, else False)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    code = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    if not (check_closed or headers.get("connection") == "close"):
        return code, headers, body, False
    sock.settimeout(5.0)
    try:
        closed = sock.recv(1) == b""
    except socket.timeout:
        closed = False
    except ConnectionResetError:
        closed = True
    return code, headers, body, closed


def exchange(port: int, data: bytes, timeout: float = 30.0, check_closed: bool = False
             ) -> tuple[int, dict, bytes, bool]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock, timeout, check_closed)


def good_request_works(port: int) -> None:
    code, _, body, _ = exchange(port, PREDICT + b"Content-Length: %d\r\n\r\n" % len(GOOD_BODY) + GOOD_BODY)
    assert code == 200, body
    assert json.loads(body)["predictions"][0]["labels"] == "negative"


# === J: request framing (RFC 9112 section 6.3) ===

FRAMING_CASES = [
    ("differing_content_lengths", b"Content-Length: %d\r\nContent-Length: 2\r\n" % len(GOOD_BODY)),
    ("equal_content_lengths", b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(GOOD_BODY), len(GOOD_BODY))),
    ("content_length_list", b"Content-Length: %d, %d\r\n" % (len(GOOD_BODY), len(GOOD_BODY))),
    ("content_length_with_plus_sign", b"Content-Length: +%d\r\n" % len(GOOD_BODY)),
    ("content_length_with_underscore", b"Content-Length: 2_5\r\n"),
    ("content_length_and_chunked", b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(GOOD_BODY)),
    ("content_length_and_other_coding", b"Content-Length: %d\r\nTransfer-Encoding: gzip, chunked\r\n"
     % len(GOOD_BODY)),
    ("chunked_not_last", b"Transfer-Encoding: chunked, gzip\r\n"),
    ("space_before_colon", b"Content-Length : %d\r\n" % len(GOOD_BODY)),  # section 5.1: MUST be a 400
    ("obsolete_line_folding", b"Content-Length: %d\r\nX-Note: a\r\n b\r\n" % len(GOOD_BODY)),
]


@pytest.mark.parametrize("headers", [c[1] for c in FRAMING_CASES], ids=[c[0] for c in FRAMING_CASES])
def test_ambiguous_request_framing_is_400_and_closes(headers, rest_server):
    """A body length two parsers could read differently (a request-smuggling precondition behind a proxy) is
    refused with 400 and the connection is closed, so no byte of it is read as a next request."""
    smuggled = b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\n\r\n"
    code, headers_out, body, closed = exchange(rest_server.rest_api_port, PREDICT + headers + b"\r\n" + GOOD_BODY
                                               + smuggled, check_closed=True)
    assert code == 400, body
    assert set(json.loads(body)) == {"error"}
    assert headers_out.get("connection") == "close" and closed
    good_request_works(rest_server.rest_api_port)


def test_chunked_body_without_content_length_is_411(rest_server):
    code, _, body, closed = exchange(rest_server.rest_api_port, PREDICT + b"Transfer-Encoding: chunked\r\n\r\n"
                                     b"%x\r\n%s\r\n0\r\n\r\n" % (len(GOOD_BODY), GOOD_BODY), check_closed=True)
    assert code == 411 and closed, body


def test_one_content_length_on_a_kept_alive_connection(rest_server):
    request = PREDICT + b"Content-Length: %d\r\n\r\n" % len(GOOD_BODY) + GOOD_BODY
    with socket.create_connection(("127.0.0.1", rest_server.rest_api_port), timeout=30) as sock:
        for _ in range(3):
            sock.sendall(request)
            sock.settimeout(30)
            code, _, body, closed = read_response(sock, check_closed=False)
            assert code == 200 and not closed, body


# === H: clients that go away, plain HTTP on the HTTPS port: one log line each, no traceback ===

def _self_signed(tmp_path):
    import shutil
    import subprocess
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command-line tool is needed to make a test certificate (platform limit)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert.read_bytes(), key.read_bytes()


def _reset(sock: socket.socket) -> None:
    """Closes with an RST (SO_LINGER 0), as a killed client or a dropped network path does."""
    import struct
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_disconnects_and_plain_http_on_https_log_no_traceback(rest_server, tmp_path, toy_version_dir, caplog,
                                                               capfd):
    import logging
    caplog.set_level(logging.DEBUG, logger="bert_tf.serving")
    port = rest_server.rest_api_port
    events = 0
    for _ in range(10):  # idle connections reset by the client
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        time.sleep(0.01)
        _reset(sock)
        events += 1
    for _ in range(5):  # a request whose body never comes: the client goes away before the reply
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(PREDICT + b"Content-Length: 1000\r\n\r\n" + GOOD_BODY)
        time.sleep(0.05)
        _reset(sock)
        events += 1
    for _ in range(5):  # a request whose reply nobody reads: the server's write meets a reset connection
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        body = json.dumps({"instances": ["banana " * 200] * 200}).encode()
        sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        _reset(sock)
        events += 1
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    cert, key = _self_signed(tmp_path)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=0, ssl_cert=cert, ssl_key=key,
                     file_system_poll_wait_seconds=-1) as tls_server:
        for _ in range(5):  # plain HTTP to the HTTPS port
            with socket.create_connection(("127.0.0.1", tls_server.rest_api_port), timeout=10) as sock:
                sock.sendall(b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    sock.recv(1024)  # whatever the server does, it must not be a traceback
                except OSError:
                    pass
            events += 1
        time.sleep(1.0)  # let the server threads log
    good_request_works(port)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred during processing" not in err, err[:3000]
    records = [r for r in caplog.records if r.name == "bert_tf.serving"]
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records if r.exc_info][:3]
    assert all("\n" not in r.getMessage() for r in records)
    connection_lines = [r for r in records if "REST connection" in r.getMessage()]
    assert len(connection_lines) <= events, [r.getMessage() for r in connection_lines]


# === I: idle and slow connections hold no thread, time out, and are capped ===

@pytest.fixture(scope="module")
def core_server(tmp_path_factory, toy_version_dir):
    """A model server without REST: the tests below start RestServers with their own limits on its core."""
    base = str(tmp_path_factory.mktemp("rest_limits") / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=-1) as server:
        yield server


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Reads until the server closes (True) or the deadline passes (False); a 408 reply before the close is fine."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def _poll_until(done, deadline: float) -> None:
    """Polls `done()` every 50 ms until it is true or the monotonic `deadline` passes (the caller asserts)."""
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_idle_and_slow_connections_hold_no_thread_and_time_out(core_server):
    import threading
    from serving.server.rest import RestServer
    # The timeout must outlast opening 400 sockets on a loaded CI machine (a 2 s timeout once closed the first
    # sockets before the last were accepted, so the count never reached 400); 6 s leaves a wide margin.
    idle_timeout = 6.0
    rest = RestServer(core_server.core, num_threads=4, idle_timeout=idle_timeout)
    rest.start()
    sockets = []
    try:
        good_request_works(rest.port)
        baseline = threading.active_count()
        opened = time.monotonic()
        for _ in range(300):  # connect and say nothing
            sockets.append(socket.create_connection(("127.0.0.1", rest.port), timeout=10))
        for _ in range(50):  # slowloris: a request head that never ends
            sock = socket.create_connection(("127.0.0.1", rest.port), timeout=10)
            sock.sendall(PREDICT + b"Content-Length: 100\r\n")
            sockets.append(sock)
        for _ in range(50):  # a body that never arrives
            sock = socket.create_connection(("127.0.0.1", rest.port), timeout=10)
            sock.sendall(PREDICT + b"Content-Length: 1000\r\n\r\n{\"instances\"")
            sockets.append(sock)
        started = time.monotonic()
        good_request_works(rest.port)
        # waiting behind the idle connections would take the idle timeout (6 s); 3 s leaves room for a loaded machine
        assert time.monotonic() - started < 3.0, "a good request waited behind idle connections"
        assert threading.active_count() <= baseline + 4, threading.active_count()  # the pool, nothing per socket
        # the 400 held sockets, and the good request's own until the server sees it closed
        _poll_until(lambda: rest.connection_count >= 400, opened + idle_timeout - 1.0)
        assert rest.connection_count in (400, 401), rest.connection_count
        deadline = time.monotonic() + 30
        assert all(_closed_by_server(sock, deadline) for sock in sockets), "an idle socket was left open"
        assert time.monotonic() - opened >= idle_timeout  # closed by the timeout, not at once
        # connection_lost runs on the loop just after the close the client saw
        _poll_until(lambda: rest.connection_count == 0, time.monotonic() + 5)
        assert rest.connection_count == 0
        good_request_works(rest.port)
    finally:
        for sock in sockets:
            sock.close()
        rest.stop()


def test_a_reply_nobody_reads_is_dropped_after_the_timeout(core_server):
    from serving.server.rest import RestServer
    rest = RestServer(core_server.core, num_threads=2, idle_timeout=1.0)
    rest.start()
    try:
        body = json.dumps({"signature_name": "echo", "instances": ["a" * (1 << 20)] * 16}).encode()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", rest.port))
        sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(body) + body)  # ~22 MB reply, never read
        _poll_until(lambda: rest.connection_count == 0, time.monotonic() + 30)
        assert rest.connection_count == 0
        sock.close()
        good_request_works(rest.port)
    finally:
        rest.stop()


def test_connection_limit_closes_idle_connections_first_then_refuses_with_503(core_server):
    from serving.server.rest import RestServer
    rest = RestServer(core_server.core, num_threads=2, idle_timeout=30.0, max_connections=20)
    rest.start()
    sockets = []
    try:
        for _ in range(40):  # twice the limit, all idle: the longest-idle ones make room for the newer ones
            sockets.append(socket.create_connection(("127.0.0.1", rest.port), timeout=10))
            time.sleep(0.005)
        deadline = time.monotonic() + 10
        assert all(_closed_by_server(sock, deadline) for sock in sockets[:20])
        good_request_works(rest.port)  # a good client gets in: an idle connection is closed for it
        assert rest.connection_count <= 20
        for sock in sockets:
            sock.close()
        sockets = []
        for _ in range(20):  # every slot busy with a request under way: no idle one to close
            sock = socket.create_connection(("127.0.0.1", rest.port), timeout=10)
            sock.sendall(PREDICT + b"Content-Length: 100\r\n")
            sockets.append(sock)
        time.sleep(0.5)
        code, _, body, closed = exchange(rest.port, PREDICT + b"Content-Length: %d\r\n\r\n" % len(GOOD_BODY)
                                         + GOOD_BODY, check_closed=True)
        assert code == 503 and closed, body
        assert "Too many connections" in json.loads(body)["error"]
        for sock in sockets:
            sock.close()
        time.sleep(0.3)
        good_request_works(rest.port)
    finally:
        for sock in sockets:
            sock.close()
        rest.stop()


def test_model_server_passes_its_rest_limits(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=0, file_system_poll_wait_seconds=-1,
                     rest_api_num_threads=3, rest_api_idle_timeout_seconds=1.0, rest_api_max_connections=7) as server:
        rest = server._rest_server
        assert (rest.num_threads, rest.idle_timeout, rest.max_connections) == (3, 1.0, 7)
        with socket.create_connection(("127.0.0.1", server.rest_api_port), timeout=10) as sock:
            started = time.monotonic()
            assert _closed_by_server(sock, started + 10)
            assert 0.9 <= time.monotonic() - started < 5
        good_request_works(server.rest_api_port)


# === B (REST): a client that goes away stops the work; the row limit applies to REST bodies ===

def _post(port: int, path: str, doc, timeout: float = 120.0) -> tuple[int, dict]:
    body = json.dumps(doc).encode()
    code, _, answer, _ = exchange(port, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                                  % (path.encode(), len(body)) + body, timeout)
    return code, json.loads(answer)


@pytest.mark.slow
def test_rest_client_that_disconnects_stops_the_computation(tmp_path, caplog):
    """A 1024-row REST request runs in 64-row chunks: once its client closes the connection, no further chunk
    runs (the model counts the rows it finished), no reply is written, and the next request is served at once."""
    import logging
    import os
    import serving_toy_models
    caplog.set_level(logging.INFO, logger="bert_tf.serving")
    base = str(tmp_path / "slow")
    serving_toy_models.write_slow_model(os.path.join(base, "1"))
    with ModelServer(model_name="slow", model_base_path=base, port=0, rest_api_port=0,
                     file_system_poll_wait_seconds=-1) as server:
        port = server.rest_api_port

        def rows_done():
            code, answer = _post(port, "/v1/models/slow:predict", {"signature_name": "progress", "instances": ["x"]})
            assert code == 200, answer
            return answer["predictions"][0]

        def settled():
            """Rows done once nothing more runs (the count stays the same over 2 s)."""
            last = rows_done()
            while True:
                time.sleep(2.0)
                now = rows_done()
                if now == last:
                    return now
                last = now

        code, answer = _post(port, "/v1/models/slow:predict", {"instances": ["abc"] * 64})  # traces the graph
        assert code == 200 and len(answer["predictions"]) == 64
        start = time.monotonic()
        code, answer = _post(port, "/v1/models/slow:predict", {"instances": ["abc"] * 64})
        assert code == 200 and len(answer["predictions"]) == 64
        chunk_seconds = time.monotonic() - start  # one warm chunk
        before = rows_done()
        body = json.dumps({"instances": ["abc"] * 1024}).encode()
        for close in ("close", "reset"):  # a client that gives up, one that is killed
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"POST /v1/models/slow:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)
            deadline = time.monotonic() + 60
            while rows_done() == before:  # leave once the request runs (its first chunk finished), not by a sleep
                assert time.monotonic() < deadline, "the 1024-row request never started"
                time.sleep(0.01)
            sock.close() if close == "close" else _reset(sock)
            at_close = rows_done()
            after = settled()
            # Left while most of the 16 chunks were still to run (how many ran before depends on the machine's
            # speed, not on the server; the count then is read right after the close)...
            assert at_close - before <= 4 * 64, (close, before, at_close, after)
            # ...and after it the chunk under way finishes, and on a loaded machine the loop may start one more
            # before it sees the closed socket (or before the count above was read); no others run.
            assert after - at_close <= 3 * 64, (close, before, at_close, after)
            before = after
        start = time.monotonic()
        code, answer = _post(port, "/v1/models/slow:predict", {"instances": ["abc"] * 64})
        assert code == 200 and len(answer["predictions"]) == 64
        assert time.monotonic() - start < 3 * chunk_seconds + 2
    gone = [r.getMessage() for r in caplog.records if "went away" in r.getMessage()]
    assert len(gone) == 2, gone


def test_rest_row_limit_is_checked_before_the_json_becomes_tensors(tmp_path, toy_version_dir):
    base = str(tmp_path / "toy")
    copy_version(toy_version_dir, base, 1)
    with ModelServer(model_name="toy", model_base_path=base, port=0, rest_api_port=0, file_system_poll_wait_seconds=-1,
                     max_request_rows=8) as server:
        port = server.rest_api_port
        bad_ninth = ["a"] * 8 + [5]  # the 9th row would fail conversion: the row count is refused first
        for path, doc, alias in [
                ("/v1/models/toy:predict", {"instances": bad_ninth}, 'Input "text" has 9 rows'),
                ("/v1/models/toy:predict", {"inputs": bad_ninth}, 'Input "text" has 9 rows'),
                ("/v1/models/toy:predict", {"inputs": {"text": bad_ninth}}, 'Input "text" has 9 rows'),
                ("/v1/models/toy:predict", {"signature_name": "pair", "instances": [{"text": "a", "text_b": 5}] * 9},
                 "The request has 9 rows"),
                ("/v1/models/toy:classify", {"signature_name": "classify", "examples": [{"text": [[1]]}] * 9},
                 "The request has 9 rows"),
                ("/v1/models/toy:regress", {"signature_name": "regress", "examples": [{"text": [[1]]}] * 9},
                 "The request has 9 rows")]:
            code, answer = _post(port, path, doc)
            assert code == 400 and answer["error"].startswith(alias), (path, answer)
            assert "more than this server's limit of 8 rows per request" in answer["error"]
        code, answer = _post(port, "/v1/models/toy:predict", {"instances": ["banana"] * 8})
        assert code == 200 and len(answer["predictions"]) == 8
