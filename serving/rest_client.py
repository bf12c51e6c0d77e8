"""Deprecated alias of `serving.client.rest_client` (kept for one release): import `RestClient` and `RestError`
from `serving.client` instead."""

import warnings

from serving.client.rest_client import RETRYABLE_HTTP, RestClient, RestError

warnings.warn("serving.rest_client is deprecated and will be removed in the next release: import RestClient and "
              "RestError from serving.client", DeprecationWarning, stacklevel=2)

__all__ = ["RestClient", "RestError", "RETRYABLE_HTTP"]
