"""`export_saved_model`: a bert_tf model as a raw-text SavedModel in TensorFlow Serving's layout
(`BASE/NAME/<version>/`), written atomically; the task's module (`serving.export.tasks`) gives its signatures."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import Sequence

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from bert_tf.deprecation import renamed_kwargs
from bert_tf.tokenization.vocab import MAX_INPUT_CHARS_PER_WORD
from serving.export.dtypes import with_dtype
from serving.export.module import (CLASSIFY_METHOD_NAME, REGRESS_METHOD_NAME, TOKENIZER_OPS, ExportError,
                                   ExportModule, ExportOptions, TextPacker, build_signatures)
from serving.export.tasks import TASK_TYPES, TASKS


DEFAULT_MAX_SEQ_LENGTH = 128


def _given_or_recorded(model, name, value, default):
    if value is not None:
        return value
    recorded = getattr(model, name, None)
    return int(recorded) if recorded is not None else default


def resolve_max_seq_length(model, max_seq_length: int | None = None) -> int:
    """`max_seq_length` when given; else the one the model was fine-tuned with (a bert_tf task's
    `max_seq_length`, saved with it by `finetune_*`); else `DEFAULT_MAX_SEQ_LENGTH` (128)."""
    return _given_or_recorded(model, "max_seq_length", max_seq_length, DEFAULT_MAX_SEQ_LENGTH)


def resolve_max_input_chars_per_word(model, max_input_chars_per_word: int | None = None) -> int:
    """`max_input_chars_per_word` when given; else the tokenizer limit the model was fine-tuned with (a bert_tf
    task's, saved with it by `finetune_*`); else 200, google-research/bert's."""
    return _given_or_recorded(model, "max_input_chars_per_word", max_input_chars_per_word,
                              MAX_INPUT_CHARS_PER_WORD)


def next_version(model_base_path: str) -> int:
    """One more than the highest integer version folder under `model_base_path` (1 when there is none)."""
    versions = [int(name) for name in os.listdir(model_base_path) if name.isdigit()] \
        if os.path.isdir(model_base_path) else []
    return max(versions, default=0) + 1


@renamed_kwargs(lowercase="do_lower_case")
def export_saved_model(model, *, task_type: str, vocab_file: str, do_lower_case: bool, export_base: str,
                       model_name: str, max_seq_length: int | None = None, label_names: Sequence[str] | None = None,
                       pair: bool = False, version: int | None = None, tokenizer_ops: str = "core",
                       pooling: str = "mean", warmup_texts: Sequence[str] | None = None,
                       max_query_length: int = 64, doc_stride: int = 128, max_answer_length: int = 30,
                       dtype: str | None = None, max_input_chars_per_word: int | None = None) -> str:
    """Writes `export_base/model_name/<version>/` atomically and returns that path.

    Args:
        model: a bert_tf task model (`BertClassifier`, `BertRegressor`, `BertBiEncoder`, `BertTokenClassifier`,
            `BertSpanQA`) or a `BertEncoder`.
        task_type: str. One of `"classifier"`, `"regressor"`, `"bi_encoder"`, `"encoder"`, `"token_classifier"`,
            `"span_qa"`.
        vocab_file: str. The vocabulary the model was trained with; copied into the SavedModel's assets.
        do_lower_case: bool. Whether the vocabulary is uncased (`--do_lower_case`).
        export_base: str. TF Serving's `--model_base_path` parent: the model lands in `export_base/model_name`.
        model_name: str. TF Serving's model name.
        max_seq_length: int or None. Inputs longer than this are truncated in the graph (longest-first for
            pairs). None (default): the length the model was fine-tuned with when it records one (`finetune_*`
            save it with the model), else 128 (`resolve_max_seq_length`).
        label_names: list of str. Class (tag) names, in label-id order (classifier and token classifier; travels
            as an asset). Defaults to the model's own `label_names` when it has them.
        pair: bool. Whether the model takes sentence pairs (`text` and `text_b`). A `"bi_encoder"` always does.
        version: int. The version folder; defaults to one more than the highest present.
        tokenizer_ops: str. `"core"` (default: core TF ops only, portable) or `"tf_text"` (tensorflow-text ops).
        max_input_chars_per_word: int or None. Words longer than this many characters become `[UNK]` in the
            served tokenizer. None (default): the value the model was fine-tuned with when it records one, else
            200 as google-research/bert (Hugging Face uses 100) (`resolve_max_input_chars_per_word`).
        pooling: str. For `"encoder"`, its `embedding` output: `"mean"` over real tokens or `"cls_token"` (the
            raw `[CLS]` vector); names as in `bert_tf.heads.SequencePooling`, where `"cls"` is BERT's pooler (here
            the `pooled_output` output). `"cls"`, the old name of `"cls_token"` here, is deprecated (one
            release). Defaults to `"mean"`.
        warmup_texts: list of str. When given, `assets.extra/tf_serving_warmup_requests` gets a Predict request
            on `serving_default` with these texts, which TF Serving replays before the version is AVAILABLE
            (for `"span_qa"`, each text is both the question and the context).
        max_query_length: int. `"span_qa"`: questions are cut to this many pieces. Defaults to 64.
        doc_stride: int. `"span_qa"`: a long context is read in windows starting this many pieces apart.
            Defaults to 128.
        max_answer_length: int. `"span_qa"`: the longest answer, in pieces. Defaults to 30.
        dtype: str or None. None (default): the model's own precision. `"bfloat16"`: the served model
            computes in bfloat16 with its weights rounded to bfloat16 once (about 1.5-1.8x the float32
            throughput on CPUs with AVX512-BF16 or AMX, see docs/RESULTS.md; slower where the CPU lacks them).
            `"float32"`: computes and stores weights in float32 (e.g. a model trained with mixed_bfloat16).
            Outputs stay float32.
    """
    from bert_tf.heads.sequence_pooling import cls_token_alias  # not at the top: bert_tf.heads loads tensorflow_text
    pooling = cls_token_alias(pooling, "export_saved_model")
    max_seq_length = resolve_max_seq_length(model, max_seq_length)
    max_input_chars_per_word = resolve_max_input_chars_per_word(model, max_input_chars_per_word)
    options = ExportOptions(pair=pair, pooling=pooling, max_query_length=max_query_length, doc_stride=doc_stride,
                            max_answer_length=max_answer_length)
    task, label_names, options = _check_arguments(model, task_type, tokenizer_ops, label_names, max_seq_length,
                                                  options)
    if not os.path.isfile(vocab_file):
        raise ExportError(f"vocabulary file not found: {vocab_file}")
    model_base_path, version, final_dir = _new_version_dir(export_base, model_name, version)
    # Not an integer name, so a server polling model_base_path never sees a half-written version.
    tmp_dir = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_base_path)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            labels_file, vocab_copy = _asset_files(scratch, label_names, vocab_file)
            text_packer = TextPacker(vocab_copy, do_lower_case, max_seq_length, tokenizer_ops,
                                     max_input_chars_per_word)
            module = task(with_dtype(model, dtype), text_packer, labels_file, options)
            signatures = build_signatures(module)
            shutil.rmtree(tmp_dir)
            tf.saved_model.save(module, tmp_dir, signatures=signatures)
        _set_method_names(tmp_dir, {"classify": CLASSIFY_METHOD_NAME, "regress": REGRESS_METHOD_NAME})
        if warmup_texts:
            _write_warmup_request(tmp_dir, model_name, task.warmup_inputs([t.encode("utf-8") for t in warmup_texts],
                                                                          options.pair))
        os.rename(tmp_dir, final_dir)
    finally:
        if os.path.exists(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return final_dir


def _new_version_dir(export_base: str, model_name: str, version: int | None):
    """`(model_base_path, version, final_dir)` of a version not written yet (default: one more than the highest)."""
    if version is not None and (not isinstance(version, int) or version <= 0):
        raise ExportError(f"version must be a positive integer, got {version!r}")
    model_base_path = os.path.join(export_base, model_name)
    os.makedirs(model_base_path, exist_ok=True)
    version = version or next_version(model_base_path)
    final_dir = os.path.join(model_base_path, str(version))
    if os.path.exists(final_dir):
        raise ExportError(f"{final_dir} already exists; versions are immutable once written")
    return model_base_path, version, final_dir


def _check_arguments(model, task_type: str, tokenizer_ops: str, label_names: Sequence[str] | None,
                     max_seq_length: int, options: ExportOptions):
    """(the task's module class, the label names (the model's own when none are given), the options with whole
    numbers), or ExportError."""
    if task_type not in TASKS:
        raise ExportError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
    if tokenizer_ops not in TOKENIZER_OPS:
        raise ExportError(f"tokenizer_ops must be one of {TOKENIZER_OPS}, got {tokenizer_ops!r}")
    task = TASKS[task_type]
    _check_model(model, task)
    if task.NEEDS_LABELS:
        if label_names is None:
            label_names = getattr(model, "label_names", None)
        if not label_names:
            raise ExportError(f"a {task_type} export needs label_names (one per class, in label-id order); the "
                              "model has none stored")
        num_classes = getattr(model, "num_classes", None)
        if num_classes is not None and len(label_names) != num_classes:
            raise ExportError(f"{len(label_names)} label_names for a model with {num_classes} classes")
    if options.pair and not task.TAKES_PAIR:
        raise ExportError(f"pair=True does not apply to {task_type} (span_qa takes question and context)")
    if task.NEEDS_PAIR:
        options = dataclasses.replace(options, pair=True)
    max_positions = _max_positions(model)
    if max_positions is not None and max_seq_length > max_positions:
        raise ExportError(f"max_seq_length {max_seq_length} exceeds the model's max_position_embeddings "
                          f"{max_positions}")
    task.check_options(max_seq_length, options)
    if label_names and any("\n" in name or "\r" in name for name in label_names):
        raise ExportError("label names must not contain line breaks")
    return task, label_names, dataclasses.replace(options, max_query_length=int(options.max_query_length),
                                                  doc_stride=int(options.doc_stride),
                                                  max_answer_length=int(options.max_answer_length))


def _asset_files(scratch: str, label_names: Sequence[str] | None, vocab_file: str) -> tuple[str | None, str]:
    """`labels.txt` (one name a line; None without label names) and `vocab.txt` in `scratch`, to travel as assets."""
    labels_file = None
    if label_names:
        labels_file = os.path.join(scratch, "labels.txt")
        with open(labels_file, "w", encoding="utf-8") as f:
            f.write("\n".join(label_names) + "\n")
    # Copied so the asset is always `assets/vocab.txt`, whatever the source file is called.
    vocab_copy = os.path.join(scratch, "vocab.txt")
    shutil.copyfile(vocab_file, vocab_copy)
    return labels_file, vocab_copy


def _check_model(model, task: type[ExportModule]) -> None:
    """A bert_tf model of another task gives a clear error here, not a shape error deep in tracing."""
    name = type(model).__name__
    known = {t.MODEL_CLASS for t in TASKS.values()}
    if name in known and name != task.MODEL_CLASS:
        raise ExportError(f"task_type {task.TASK_TYPE!r} needs a {task.MODEL_CLASS}, got a {name}")


def _max_positions(model) -> int | None:
    encoder = getattr(model, "encoder", model)
    config = getattr(encoder, "bert_config", None)
    return getattr(config, "max_position_embeddings", None)


def _set_method_names(saved_model_dir: str, method_names: dict[str, str]) -> None:
    """TF2's saver writes every signature as Predict; TF Serving's Classify/Regress check the method name."""
    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for key, method in method_names.items():
            if key in meta_graph.signature_def:
                meta_graph.signature_def[key].method_name = method
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())


def _write_warmup_request(export_dir: str, model_name: str, inputs: dict[str, list[bytes]]) -> None:
    """`assets.extra/tf_serving_warmup_requests`: one Predict request on `serving_default` with `inputs`."""
    from tensorflow_serving.apis import predict_pb2

    from serving.server import config as serving_config
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = "serving_default"
    for name, texts in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(texts, tf.string))
    serving_config.write_warmup_requests(export_dir, [request])
