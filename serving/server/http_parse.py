"""HTTP/1.1 request framing for the REST server: the request line and header fields (RFC 9112 sections 3
and 5) and the body length (section 6.3). Anything two HTTP parsers could read differently is refused."""

from __future__ import annotations

import re

MAX_HEAD_BYTES = 64 * 1024  # request line + headers (http.server's per-line limit)
_MAX_HEADERS = 100  # http.client's limit
HEAD_END = re.compile(rb"\r?\n\r?\n")
LINE_END = re.compile(rb"\r?\n")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")

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


class Request:
    __slots__ = ("method", "target", "version", "headers", "keep_alive")

    def __init__(self, method: str, target: str, version: tuple[int, int], headers: list[tuple[str, str]]):
        self.method, self.target, self.version, self.headers = method, target, version, headers
        tokens = {t.strip().lower() for value in self.get_all("connection") for t in value.split(",")}
        self.keep_alive = "keep-alive" in tokens if version == (1, 0) else "close" not in tokens

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


class HttpError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def parse_head(head: bytes) -> Request:
    """Request line and header fields (RFC 9112 sections 3 and 5); anything ambiguous is refused."""
    lines = LINE_END.split(head)
    words = lines[0].decode("latin-1").split(" ")
    if len(words) != 3 or not all(words):
        raise HttpError(400, f"Bad request syntax: {lines[0][:200].decode('latin-1')!r}")
    method, target, version_text = words
    version = _VERSION.fullmatch(version_text)
    if version is None:
        raise HttpError(400, f"Bad request version: {version_text[:50]!r}")
    if version.group(1) != "1":
        raise HttpError(505, f"Invalid HTTP version: {version_text}")
    if not _TOKEN.fullmatch(method):
        raise HttpError(400, f"Bad request method: {method[:50]!r}")
    if len(lines) - 1 > _MAX_HEADERS:
        raise HttpError(431, f"More than {_MAX_HEADERS} header fields")
    headers = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):  # obsolete line folding: section 5.2 allows refusing it
            raise HttpError(400, "Header field line folding is not supported")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not _TOKEN.fullmatch(name):  # "Content-Length : 5" must be a 400 (section 5.1)
            raise HttpError(400, f"Bad header field: {line[:100].decode('latin-1')!r}")
        headers.append((name.lower(), value.strip(" \t")))
    return Request(method, target, (1, min(int(version.group(2)), 1)), headers)
