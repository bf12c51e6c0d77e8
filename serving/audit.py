"""Deprecated alias of `serving.export.audit` (kept for one release): import `audit` from `serving.export`."""

import warnings

from serving.export.audit import *  # noqa: F401,F403
from serving.export.audit import AuditError, audit, installed_tf_text_ops, is_core_op, list_ops  # noqa: F401

warnings.warn("serving.audit is deprecated and will be removed in the next release: import from "
              "serving.export.audit", DeprecationWarning, stacklevel=2)
