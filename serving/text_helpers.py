"""Deprecated alias of `serving.client.text_helpers` (kept for one release)."""

import warnings

from serving.client.text_helpers import *  # noqa: F401,F403

warnings.warn("serving.text_helpers is deprecated and will be removed in the next release: import from "
              "serving.client.text_helpers", DeprecationWarning, stacklevel=2)
