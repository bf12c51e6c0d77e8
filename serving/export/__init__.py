from serving.export.saved_model import *  # noqa: F401,F403  (temporary: split below)
from serving.export.saved_model import (ExportError, export_saved_model, next_version, with_dtype,  # noqa: F401
                                        TASK_TYPES, TOKENIZER_OPS, EXPORT_DTYPES)
