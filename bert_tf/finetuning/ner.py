"""Token classification (NER): `finetune_ner` on CoNLL-style files (WNUT-17) or KLUE-NER's character TSV."""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from bert_tf import metrics as metrics_lib
from bert_tf.atomic_files import atomic_write
from bert_tf.data import conll, klue_ner, ner_features
from bert_tf.finetuning.options import FinetuneError, FinetuneOptions, TrainingOptions
from bert_tf.finetuning.predict import predict
from bert_tf.finetuning.run import run_finetuning
from bert_tf.finetuning.selection import select_dev_from
from bert_tf.finetuning.setup import default_output_dir, prepare

NER_FORMATS = ("conll", "klue_ner")


@dataclasses.dataclass
class NerResult:
    model: object
    tokenizer: object
    tag_names: list
    eval_results: dict
    output_dir: str


def read_tagged(path: str, data_format: str, labeled: bool = True):
    if data_format not in NER_FORMATS:
        raise FinetuneError(f"NER data_format must be one of {NER_FORMATS}, got {data_format!r}")
    if data_format == "klue_ner":
        return klue_ner.read_klue_ner(path)
    return conll.read_conll(path, labeled=labeled)


def ner_eval(model, tokenizer, examples, feats, tag_names, batch_size):
    """Entity P/R/F1 (seqeval rules) on words, or on characters for KLUE-NER, plus per-type precision, recall,
    F1 and support (`f1_<type>`, ... keys: the eval results stay a flat dict of numbers)."""
    logits = predict(model, feats.inputs, batch_size)
    predicted = ner_features.decode_tags(feats, examples, logits.argmax(-1), tag_names)
    scores = metrics_lib.entity_scores([list(e.tags) for e in examples], predicted)
    result = {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
              "macro_f1": scores["macro_f1"], "support": scores["support"]}
    for type_, row in scores["per_type"].items():
        for key in ("precision", "recall", "f1", "support"):
            result[f"{key}_{type_}"] = row[key]
    gold = [t for e in examples for t in e.tags]
    flat = [t for p in predicted for t in p]
    result["tag_accuracy"] = float(np.mean([a == b for a, b in zip(gold, flat)]))
    return result, predicted


def finetune_ner(train_file: str, eval_file: str | None = None, *, data_format: str = "conll",
                 init_checkpoint: str | None = None, vocab_file: str | None = None,
                 bert_config_file: str | None = None, preset: str | None = None, do_lower_case: bool | None = None,
                 max_seq_length: int = 128, train_batch_size: int = 32, eval_batch_size: int = 64,
                 learning_rate=5e-5, num_train_epochs: float = 3.0, max_train_steps: int | None = None,
                 warmup_proportion: float = 0.1, dropout: float = 0.1, output_dir: str | None = None,
                 distribution_strategy: str = "off", save_formats: Sequence[str] = ("keras",), seed: int = 0,
                 evals_per_epoch: int = 1, dev_file: str | None = None, dev_fraction: float | None = None,
                 head_initializer: str = "glorot_uniform",
                 max_input_chars_per_word: int = 200,
                 training_options: TrainingOptions | None = None) -> NerResult:
    """Fine-tunes a `BertTokenClassifier` (tags on first word-pieces; KLUE-NER: on every piece, scored on
    characters). The model with the best dev entity F1 is kept (`dev_file`/`dev_fraction`, see
    `selection.select_dev`) and scored once on `eval_file`. Other arguments: see `FinetuneOptions`;
    `data_format` is `"conll"` (word<TAB>tag, blank line between sentences; BIO or BIOES) or `"klue_ner"`."""
    from bert_tf.tasks import BertTokenClassifier

    options = FinetuneOptions.pick(locals()).replace(output_dir=default_output_dir(output_dir, "ner"))
    train_examples = read_tagged(train_file, data_format)
    eval_examples = read_tagged(eval_file, data_format) if eval_file else None
    tag_names = ner_features.tag_names_of(train_examples)
    train_examples, dev_examples, dev_source = select_dev_from(
        options, train_examples, lambda path: read_tagged(path, data_format), what="sentences")
    setup = prepare(options)
    tokenizer = setup.tokenizer
    train = ner_features.encode_tagged(tokenizer, train_examples, max_seq_length, tag_names, split="train")

    def scorer(examples, predictions_file=None):
        if examples is None:
            return None
        feats = ner_features.encode_tagged(tokenizer, examples, max_seq_length, tag_names)

        def score(model):
            metrics, predicted = ner_eval(model, tokenizer, examples, feats, tag_names, eval_batch_size)
            if predictions_file:
                write_tagged(predictions_file, examples, predicted)
            return metrics
        return score

    new_encoder = setup.encoder_copies()

    def build_model(dtype):
        return BertTokenClassifier(new_encoder(dtype), len(tag_names), dropout=dropout, label_names=tag_names,
                                   head_initializer=head_initializer)

    best, eval_results = run_finetuning(
        options, setup, build_model, train.inputs, train.labels, main_metric="f1", evaluate=scorer(dev_examples),
        dev_source=dev_source, eval_file=eval_file,
        score_eval=scorer(eval_examples, os.path.join(options.output_dir, "eval_predictions.txt")),
        results={"data_format": data_format, "tags": tag_names, "head_initializer": head_initializer,
                 "num_train_sentences": len(train_examples)})
    return NerResult(best.model, tokenizer, tag_names, eval_results, options.output_dir)


def predict_ner(model, tokenizer, predict_file: str, output_path: str, *, data_format: str, max_seq_length: int,
                batch_size: int = 64) -> str:
    """Tags every sentence of `predict_file` (labels in the file are ignored) and writes
    `unit<TAB>gold<TAB>predicted` lines (gold `-` when absent), a blank line between sentences."""
    examples = read_tagged(predict_file, data_format, labeled=data_format == "klue_ner")
    tag_names = model.label_names
    unlabeled = [dataclasses.replace(e, tags=None) for e in examples]
    feats = ner_features.encode_tagged(tokenizer, unlabeled, max_seq_length, tag_names)
    logits = predict(model, feats.inputs, batch_size)
    predicted = ner_features.decode_tags(feats, unlabeled, logits.argmax(-1), tag_names)
    return write_tagged(output_path, examples, predicted)


def write_tagged(path, examples, predicted):
    with atomic_write(path) as f:
        for example, tags in zip(examples, predicted):
            gold = example.tags or ["-"] * len(tags)
            for unit, g, p in zip(example.words, gold, tags):
                f.write(f"{unit}\t{g}\t{p}\n")
            f.write("\n")
    return path
