"""What every export shares: the in-graph text packer, the `ExportModule` base each task module extends, and the
one signature builder that turns a task's module into `serving_default`, `serve_token_ids` and (classifier,
regressor) its tf.Example signature."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from bert_tf import features
from bert_tf.deprecation import renamed_kwargs

TOKENIZER_OPS = ("core", "tf_text")
CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"


class ExportError(ValueError):
    """Arguments that cannot produce a valid export."""


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """The task-specific knobs of `export_saved_model` (each task reads the ones it uses)."""
    pair: bool = False
    pooling: str = "mean"
    max_query_length: int = 64
    doc_stride: int = 128
    max_answer_length: int = 30


class TextPacker(tf.Module):
    """Raw strings -> encoder inputs inside the graph: tokenize, `[CLS] A [SEP] B [SEP]`, truncate to
    `max_seq_length` (longest-first for pairs), then trim the padding to the longest row of the batch."""

    @renamed_kwargs(lowercase="do_lower_case")
    def __init__(self, vocab_file: str, do_lower_case: bool, max_seq_length: int, tokenizer_ops: str,
                 max_input_chars_per_word: int = 200):
        super().__init__()
        from bert_tf import tokenization
        cls = tokenization.CoreOpsBertTokenizer if tokenizer_ops == "core" else tokenization.BertTokenizer
        self.tokenizer = cls(vocab_file, do_lower_case=do_lower_case,
                             max_input_chars_per_word=max_input_chars_per_word)
        self.packer = self.tokenizer.packer(max_seq_length)

    def __call__(self, text, text_b=None):
        segment_b = None if text_b is None else self.tokenizer.tokenize_tf(text_b)
        return self.trim(self.packer(self.tokenizer.tokenize_tf(text), segment_b))

    @staticmethod
    def trim(packed):
        """Packed inputs cut to the longest real row of the batch (at least 2: `[CLS] [SEP]`)."""
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(packed[features.PADDING_MASK], axis=1)), 2)
        return {name: tensor[:, :length] for name, tensor in packed.items()}


class ExportModule(tf.Module):
    """One task's exported module: the model, its text packer and (for tasks with labels) the label table.

    A task module subclasses it and sets:
        TASK_TYPE: str. The `task_type` of `export_saved_model`.
        MODEL_CLASS: str. The bert_tf class it exports (a model of another task is refused).
        NEEDS_LABELS: bool. Whether the export needs label names (they travel as an asset).
        TAKES_PAIR: bool. Whether `pair=True` (inputs `text` and `text_b`) applies.
        NEEDS_PAIR: bool. Whether the task always takes `text` and `text_b` (the export sets `pair=True`).
        IDS_SHAPE: the shape of `serve_token_ids`' inputs: `[B, T]`, or `[B, 2, T]` for a bi-encoder.
        EXAMPLE_SIGNATURE: (key, method name) or None. A signature on serialized tf.Examples (TF Serving's
            Classify / Regress), whose outputs `example_outputs` gives.
    and implements `outputs_from_ids` (encoder inputs -> outputs: `serve_token_ids`); `serve_text` (raw text ->
    outputs: `serving_default`) packs `text` [, `text_b`] with `pack` and calls it unless the task overrides both
    it and `text_specs`.
    """

    TASK_TYPE: str = ""
    MODEL_CLASS: str = ""
    NEEDS_LABELS = False
    TAKES_PAIR = True
    NEEDS_PAIR = False
    IDS_SHAPE = (None, None)
    EXAMPLE_SIGNATURE: tuple[str, str] | None = None

    def __init__(self, model, text_packer: TextPacker, labels_file: str | None, options: ExportOptions):
        super().__init__()
        self.model = model
        self.text_packer = text_packer
        self.options = options
        if labels_file is not None:
            # Label id (line number) -> label name (the line); the file travels as an asset.
            self.label_ids_to_names = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(labels_file, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                                              tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
                default_value="<unknown>")

    @classmethod
    def check_options(cls, max_seq_length: int, options: ExportOptions) -> None:
        """Raises ExportError for options this task cannot export with (none by default)."""

    @classmethod
    def warmup_inputs(cls, texts: list[bytes], pair: bool) -> dict[str, list[bytes]]:
        """The `serving_default` inputs of the warmup request made of `texts`."""
        inputs = {features.TEXT: texts}
        if pair:
            inputs[features.TEXT_B] = texts
        return inputs

    def text_specs(self, pair: bool) -> list[tf.TensorSpec]:
        specs = [tf.TensorSpec([None], tf.string, name=features.TEXT)]
        if pair:
            specs.append(tf.TensorSpec([None], tf.string, name=features.TEXT_B))
        return specs

    def pack(self, text, text_b=None):
        """Raw strings -> the model's inputs: `[CLS] text [SEP] (text_b [SEP])`, one sequence per row."""
        return self.text_packer(text, text_b)

    def serve_text(self, text, text_b=None):
        return self.outputs_from_ids(self.pack(text, text_b))

    def outputs_from_ids(self, inputs):
        raise NotImplementedError

    def example_outputs(self, outputs):
        """The EXAMPLE_SIGNATURE's outputs from `outputs_from_ids`'s."""
        raise NotImplementedError

    def label_outputs(self, logits):
        """Softmax probabilities, arg-max label ids and label names over the last axis of `logits`."""
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {features.PROBABILITIES: probabilities, features.LABEL_IDS: label_ids,
                features.LABELS: self.label_ids_to_names.lookup(label_ids)}


def logits(outputs):
    if isinstance(outputs, dict):
        return outputs[features.LOGITS]
    return outputs


def clean_utf8(strings):
    """Invalid UTF-8 as U+FFFD, as the tokenizer reads it, so character offsets index the same characters."""
    return tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def build_signatures(module: ExportModule) -> dict:
    """The signatures every export has (`serving_default`, `serve_token_ids`), plus the task's tf.Example one."""
    ids_spec = {name: tf.TensorSpec(module.IDS_SHAPE, tf.int32, name=name) for name in features.ENCODER_INPUTS}
    pair = module.options.pair
    signatures = {
        "serving_default": tf.function(module.serve_text, input_signature=module.text_specs(pair)),
        "serve_token_ids": tf.function(module.outputs_from_ids, input_signature=[ids_spec]),
    }
    if module.EXAMPLE_SIGNATURE is not None:
        example_spec = {features.TEXT: tf.io.FixedLenFeature([], tf.string)}
        if pair:
            example_spec[features.TEXT_B] = tf.io.FixedLenFeature([], tf.string)

        def from_examples(inputs):
            parsed = tf.io.parse_example(inputs, example_spec)
            packed = module.pack(parsed[features.TEXT], parsed.get(features.TEXT_B))
            return module.example_outputs(module.outputs_from_ids(packed))

        key, _ = module.EXAMPLE_SIGNATURE
        signatures[key] = tf.function(from_examples, input_signature=[tf.TensorSpec([None], tf.string,
                                                                                     name="inputs")])
    return signatures
