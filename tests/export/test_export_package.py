"""serving.export is one package (issue 15): one module per task type over one signature builder, found through
one registry (no branching on task-type strings), and every name callers imported from the old serving/export.py
still there."""

import ast
import os

import bert_tf.tasks
from bert_tf import BertEncoder
from serving import export
from serving.export import module as export_module

PACKAGE = os.path.dirname(export.__file__)


def test_one_module_per_task_type_in_one_registry():
    assert export.TASK_TYPES == ("classifier", "regressor", "bi_encoder", "encoder", "token_classifier", "span_qa")
    for task_type, task in export.TASKS.items():
        assert issubclass(task, export_module.ExportModule) and task.TASK_TYPE == task_type
        assert task.__module__ == f"serving.export.{task_type}"
        model_class = BertEncoder if task.MODEL_CLASS == "BertEncoder" else getattr(bert_tf.tasks, task.MODEL_CLASS)
        assert model_class.__name__ == task.MODEL_CLASS
    example_signatures = {t: task.EXAMPLE_SIGNATURE for t, task in export.TASKS.items() if task.EXAMPLE_SIGNATURE}
    assert example_signatures == {"classifier": ("classify", export.CLASSIFY_METHOD_NAME),
                                  "regressor": ("regress", export.REGRESS_METHOD_NAME),
                                  "bi_encoder": ("regress", export.REGRESS_METHOD_NAME)}


def test_no_comparison_with_a_task_type_string():
    task_types = set(export.TASK_TYPES)
    found = []
    for name in sorted(os.listdir(PACKAGE)):
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(open(os.path.join(PACKAGE, name), encoding="utf-8").read())):
            if isinstance(node, ast.Compare):
                strings = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
                found += [f"{name}:{node.lineno}" for _ in strings & task_types]
    assert found == []


def test_public_names_of_the_old_module():
    for name in ["export_saved_model", "next_version", "with_dtype", "ExportError", "TASK_TYPES", "TOKENIZER_OPS",
                 "EXPORT_DTYPES", "CLASSIFY_METHOD_NAME", "REGRESS_METHOD_NAME", "ANSWER", "ANSWER_END",
                 "ANSWER_START", "END_LOGITS", "END_POSITION", "NULL_SCORE", "NUM_WORDS", "SCORE", "START_LOGITS",
                 "START_POSITION", "WORD_ENDS", "WORD_LABEL_IDS", "WORD_LABELS", "WORD_SCORES", "WORD_STARTS",
                 "WORDS"]:
        assert hasattr(export, name), name
    from serving.export import audit
    assert callable(audit.audit)
