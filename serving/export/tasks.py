"""The export of each task type, by name: one module per task (`classifier`, `regressor`, `bi_encoder`,
`encoder`, `token_classifier`, `span_qa`), each an `ExportModule` subclass."""

from serving.export.bi_encoder import BiEncoderExport
from serving.export.classifier import ClassifierExport
from serving.export.encoder import EncoderExport
from serving.export.regressor import RegressorExport
from serving.export.span_qa import SpanQAExport
from serving.export.token_classifier import TokenClassifierExport

TASKS = {task.TASK_TYPE: task for task in (ClassifierExport, RegressorExport, BiEncoderExport, EncoderExport,
                                           TokenClassifierExport, SpanQAExport)}
TASK_TYPES = tuple(TASKS)
