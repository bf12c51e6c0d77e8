"""Per-request cost bounds shared by the gRPC and REST front ends: the row limit and cancellation checks.

- `check_request_rows(rows, max_rows, alias)`: one request may carry at most `max_rows` rows (dimension 0 of
  an input, or the number of tf.Examples) — `ModelServer(max_request_rows=...)`, `scripts/serve.py
  --max_request_rows`, default `DEFAULT_MAX_REQUEST_ROWS`; the value in force is `ServingCore.max_request_rows`.
  Front ends call it as soon as they know a tensor's first dimension, before building the tensor.
- `CancelCheck`: what the servable asks between chunks of a large request ("is the caller still waiting?"),
  built from a gRPC context (`CancelCheck.for_grpc(context)`: cancellation and deadline) or from any
  `is_active` callable (e.g. a REST connection that is still open).
"""

from __future__ import annotations

import time
from typing import Callable

from serving.server import status

# Large enough for any sensible online request (TF Serving's default max_batch_size is 1000), small enough
# that one request cannot make the server allocate without bound. 0 or less turns the limit off.
DEFAULT_MAX_REQUEST_ROWS = 1024
MAX_REQUEST_ROWS_FLAG = "--max_request_rows"


def check_request_rows(rows: int, max_rows: int | None, alias: str | None = None) -> None:
    """Raises INVALID_ARGUMENT when a request carries more than `max_rows` rows.

    Args:
        rows: int. Rows the request carries: dimension 0 of an input tensor, or the number of examples.
        max_rows: int or None. The server's limit (`ServingCore.max_request_rows`); None or <= 0: no limit.
        alias: str or None. The input's name, for the message.
    """
    if max_rows is None or max_rows <= 0 or rows <= max_rows:
        return
    what = f"Input \"{alias}\" has" if alias else "The request has"
    raise status.invalid_argument(
        f"{what} {rows} rows, more than this server's limit of {max_rows} rows per request "
        f"({MAX_REQUEST_ROWS_FLAG}); send the rows in several requests")


class CancelCheck:
    """Tells long-running work whether its caller still wants the answer.

    Args:
        is_active: callable() -> bool, or None. False once the caller has gone (cancelled, disconnected).
        deadline: float or None. `time.monotonic()` value after which the answer is useless.
        time_remaining: callable() -> float or None, or None. Seconds left (gRPC's `context.time_remaining`).
    """

    def __init__(self, is_active: Callable[[], bool] | None = None, deadline: float | None = None,
                 time_remaining: Callable[[], float | None] | None = None):
        self._is_active = is_active
        self._deadline = deadline
        self._time_remaining = time_remaining

    @classmethod
    def for_grpc(cls, context) -> "CancelCheck":
        """From a gRPC servicer context: cancelled when the RPC is no longer active or its deadline passed."""
        return cls(is_active=context.is_active, time_remaining=context.time_remaining)

    def error(self) -> status.ServingError | None:
        """DEADLINE_EXCEEDED or CANCELLED when the caller is gone, else None."""
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return status.ServingError(status.DEADLINE_EXCEEDED, "Deadline Exceeded")
        if self._time_remaining is not None:
            remaining = self._time_remaining()
            if remaining is not None and remaining <= 0:
                return status.ServingError(status.DEADLINE_EXCEEDED, "Deadline Exceeded")
        if self._is_active is not None and not self._is_active():
            return status.ServingError(status.CANCELLED, "Request cancelled by the client")
        return None

    @property
    def cancelled(self) -> bool:
        return self.error() is not None

    def check(self) -> None:
        """Raises the ServingError of `error()` when the caller is gone."""
        error = self.error()
        if error is not None:
            raise error
