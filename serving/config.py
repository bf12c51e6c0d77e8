"""Deprecated alias of `serving.server.config` (kept for one release): import `write_model_config` and the other
config-file helpers from `serving.server.config` instead."""

import warnings

from serving.server.config import *  # noqa: F401,F403
from serving.server.config import ConfigError  # noqa: F401

warnings.warn("serving.config is deprecated and will be removed in the next release: import from "
              "serving.server.config", DeprecationWarning, stacklevel=2)
