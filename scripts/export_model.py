r"""Exports a fine-tuned bert_tf model (or a pre-trained encoder) as a raw-text SavedModel for TF Serving.

The export lands in `--export_base/--model_name/<version>/` (written under a temporary name, then renamed), with
the vocabulary and label names as assets and, by default, a tokenizer in core TensorFlow ops only (no
tensorflow-text needed to load or serve it). See `serving/export/` for the signatures of each task type.

Examples:
  # A classifier fine-tuned by scripts/run_classifier.py (labels, casing and max_seq_length come from the model):
  python scripts/export_model.py --model=/tmp/banking77/best_model.keras --vocab_file=vocab.txt \
      --export_base=/tmp/serving --model_name=banking77
  # NER (per-word tags) and SQuAD (answer text + character offsets):
  python scripts/export_model.py --model=/tmp/ner/best_model.keras --vocab_file=vocab.txt \
      --export_base=/tmp/serving --model_name=ner
  python scripts/export_model.py --model=/tmp/squad/best_model.keras --vocab_file=vocab.txt \
      --export_base=/tmp/serving --model_name=squad
  # Sentence embeddings straight from a pre-trained checkpoint (any format bert_tf loads):
  python scripts/export_model.py --init_checkpoint=/path/to/all-MiniLM-L6-v2 --task_type=encoder \
      --export_base=/tmp/serving --model_name=minilm

The task type is read from the model, its class's `task_type` (BertClassifier -> classifier, BertRegressor ->
regressor, BertBiEncoder -> bi_encoder (always `text` and `text_b`), BertTokenClassifier -> token_classifier,
BertSpanQA -> span_qa; BertEncoder -> encoder) unless
--task_type says it. Without --vocab_file, a `vocab.txt` beside the model (or in its best_hf/ or best_google/
folder, as the fine-tuning scripts write with --save_formats) or beside --init_checkpoint is used.
"""

import os
import sys

from absl import app, flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("model", None, "A bert_tf `.keras` file: a fine-tuned task model (best_model.keras from the "
                    "fine-tuning scripts) or a BertEncoder.")
flags.DEFINE_string("init_checkpoint", None, "Instead of --model: a pre-trained checkpoint in any format bert_tf "
                    "loads (Hugging Face/bert_tf directory, Google TF1, Model Garden, ...), exported as the bare "
                    "encoder (--task_type=encoder); a `.keras` task file here works as --model.")
flags.DEFINE_enum("task_type", None, ["classifier", "regressor", "bi_encoder", "encoder", "token_classifier",
                                     "span_qa"],
                  "What to serve; default: from the model's class.")
flags.DEFINE_string("export_base", None, "Parent of the model folder (TF Serving's --model_base_path is "
                    "export_base/model_name).")
flags.DEFINE_string("model_name", None, "TF Serving's model name (the folder under --export_base).")
flags.DEFINE_integer("version", None, "Version folder; default: one more than the highest present.")
flags.DEFINE_string("vocab_file", None, "vocab.txt the model was trained with; default: the one beside the model.")
flags.DEFINE_bool("do_lower_case", None, "Uncased vocabulary; default: the model's config.")
flags.DEFINE_integer("max_seq_length", None, "Inputs are truncated to this many tokens in the graph; default: "
                     "the value the model was fine-tuned with (bert_tf's fine-tuning saves it with the model), "
                     "else 128.")
flags.DEFINE_integer("max_input_chars_per_word", None, "Words longer than this many characters become [UNK] in "
                     "the served tokenizer; default: the value the model was fine-tuned with (bert_tf's fine-tuning "
                     "saves it with the model), else 200 as google-research/bert (Hugging Face: 100).")
flags.DEFINE_list("label_names", None, "Class or tag names in label-id order; default: the names stored in the "
                  "model (classifiers and token classifiers fine-tuned by bert_tf store them).")
flags.DEFINE_bool("pair", False, "Classifier/regressor/encoder on sentence pairs: `text` and `text_b` inputs "
                  "(a bi_encoder always takes both).")
flags.DEFINE_enum("tokenizer_ops", "core", ["core", "tf_text"],
                  "core: core TF ops only (loads anywhere); tf_text: tensorflow-text's ops (needs them to load).")
flags.DEFINE_enum("pooling", "mean", ["mean", "cls_token", "cls"], "Encoder: the `embedding` output is the mean "
                  "over real tokens or (cls_token) the raw [CLS] vector; BERT's pooler is the `pooled_output` output. "
                  "The names of bert_tf.heads.SequencePooling; cls: deprecated name of cls_token here.")
cli.define_renamed_values("pooling", {"cls": "cls_token"})  # the raw [CLS] vector's old name here
flags.DEFINE_bool("warmup", True, "Write assets.extra/tf_serving_warmup_requests (replayed by TF Serving before "
                  "the version is available).")
flags.DEFINE_list("warmup_texts", ["warm up the model", "another warmup request"], "Texts of the warmup request.")
flags.DEFINE_enum("dtype", None, ["float32", "bfloat16"], "Precision of the served model (default: the model's "
                  "own): bfloat16 (weights rounded once) is ~1.5-1.8x faster on CPUs with AVX512-BF16/AMX; outputs "
                  "stay float32.")
flags.DEFINE_integer("max_query_length", 64, "span_qa: questions are cut to this many word pieces.")
flags.DEFINE_integer("doc_stride", 128, "span_qa: long contexts are read in windows this many pieces apart.")
flags.DEFINE_integer("max_answer_length", 30, "span_qa: the longest answer, in word pieces.")


class ExportScriptError(ValueError):
    """A problem with the flags or the input files."""


def load_model(model_path, init_checkpoint):
    """The Keras model to export: a `.keras` file, or the encoder of a pre-trained checkpoint."""
    if bool(model_path) == bool(init_checkpoint):
        raise ExportScriptError("pass exactly one of --model (a .keras file) and --init_checkpoint")
    path = model_path or init_checkpoint
    if not (os.path.exists(path) or (init_checkpoint and os.path.isfile(path + ".index"))):  # or a TF prefix
        raise ExportScriptError(f"{'--model' if model_path else '--init_checkpoint'}: {path} does not exist")
    if path.endswith(".keras"):
        from bert_tf.checkpoints import CheckpointError, load_task
        try:
            return load_task(path)
        except CheckpointError as e:
            raise ExportScriptError(str(e)) from None
    if model_path:
        raise ExportScriptError(f"--model must be a .keras file, got {path}; use --init_checkpoint for "
                                "pre-trained checkpoints")
    from bert_tf.checkpoints import load_encoder
    try:
        return load_encoder(path)
    except Exception as e:  # CheckpointError and friends
        raise ExportScriptError(f"--init_checkpoint {path}: {e}") from None


def find_vocab(model_path, init_checkpoint):
    """vocab.txt beside the model (or in the best_hf/ / best_google/ folders the fine-tuning scripts write)."""
    from bert_tf.checkpoints import CheckpointError, find_vocab as find_checkpoint_vocab
    try:
        return find_checkpoint_vocab(model_path or init_checkpoint)
    except CheckpointError as e:
        raise ExportScriptError(f"no --vocab_file given and no vocab.txt found: {e}") from None


def resolve_task_type(model, task_type):
    from bert_tf import BertEncoder
    from serving.export import TASK_TYPES
    name = type(model).__name__
    # The task classes' own `task_type` (BertClassifier: "classifier", ...); a bare encoder exports as "encoder".
    inferred = "encoder" if isinstance(model, BertEncoder) else getattr(model, "task_type", None)
    if inferred not in TASK_TYPES:
        inferred = None  # not a model export knows (BertMultipleChoice, BertPretrainer, ...)
    if task_type is None:
        if inferred is None:
            raise ExportScriptError(f"cannot tell the task type of a {name}; pass --task_type")
        return inferred
    if task_type == "encoder" and inferred not in (None, "encoder") and hasattr(model, "encoder"):
        return task_type  # the fine-tuned task's encoder, for embeddings
    if inferred is not None and inferred != task_type:
        raise ExportScriptError(f"--task_type={task_type} does not match the model, a {name} ({inferred}); "
                                f"use --task_type={inferred} or omit it")
    return task_type


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from serving import export

    try:
        for name in ("export_base", "model_name"):
            if not getattr(FLAGS, name):
                raise ExportScriptError(f"--{name} is required")
        vocab_file = FLAGS.vocab_file or find_vocab(FLAGS.model, FLAGS.init_checkpoint)
        if not os.path.isfile(vocab_file):
            raise ExportScriptError(f"--vocab_file: {vocab_file} does not exist")
        from bert_tf.tokenization import VocabError, load_vocab
        try:
            vocab_size = len(load_vocab(vocab_file))
        except VocabError as e:
            raise ExportScriptError(str(e)) from None
        model = load_model(FLAGS.model, FLAGS.init_checkpoint)
        model_vocab_size = getattr(getattr(getattr(model, "encoder", model), "bert_config", None), "vocab_size", None)
        if model_vocab_size is not None and vocab_size > model_vocab_size:
            raise ExportScriptError(f"{vocab_file} has {vocab_size} tokens but the model's vocab_size is "
                                    f"{model_vocab_size}: ids beyond it have no embedding; pass the vocabulary "
                                    "the model was trained with")
        task_type = resolve_task_type(model, FLAGS.task_type)
        max_seq_length = export.resolve_max_seq_length(model, FLAGS.max_seq_length)  # the task's, before .encoder
        max_input_chars_per_word = export.resolve_max_input_chars_per_word(model, FLAGS.max_input_chars_per_word)
        if task_type == "encoder" and hasattr(model, "encoder"):
            model = model.encoder
        config = getattr(getattr(model, "encoder", model), "bert_config", None)
        do_lower_case = FLAGS.do_lower_case
        if do_lower_case is None:
            if config is None:
                raise ExportScriptError("the model has no bert_config to read the casing from; pass --do_lower_case")
            do_lower_case = config.do_lower_case
        print(f"exporting a {type(model).__name__} as {task_type} (vocabulary {vocab_file}, "
              f"{'uncased' if do_lower_case else 'cased'}, max_seq_length {max_seq_length}, "
              f"{FLAGS.tokenizer_ops} tokenizer ops) ...", flush=True)
        path = export.export_saved_model(
            model, task_type=task_type, vocab_file=vocab_file, do_lower_case=do_lower_case,
            export_base=FLAGS.export_base, model_name=FLAGS.model_name, max_seq_length=max_seq_length,
            label_names=FLAGS.label_names, pair=FLAGS.pair, version=FLAGS.version, tokenizer_ops=FLAGS.tokenizer_ops,
            pooling=FLAGS.pooling, warmup_texts=FLAGS.warmup_texts if FLAGS.warmup else None,
            max_query_length=FLAGS.max_query_length, doc_stride=FLAGS.doc_stride,
            max_answer_length=FLAGS.max_answer_length, dtype=FLAGS.dtype,
            max_input_chars_per_word=max_input_chars_per_word)
    except (ExportScriptError, export.ExportError) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {path}")
    print(f"serve it: {cli.script_command('serve.py')} --model_name={FLAGS.model_name} "
          f"--model_base_path={os.path.join(os.path.abspath(FLAGS.export_base), FLAGS.model_name)}")


if __name__ == "__main__":
    cli.run(main)
