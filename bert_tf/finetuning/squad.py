"""Extractive QA: `finetune_squad` and `predict_squad` (SQuAD v1.1/v2.0, KorQuAD), google-research/bert style."""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from bert_tf import metrics as metrics_lib
from bert_tf.data import squad as squad_data
from bert_tf.finetuning.options import FinetuneError, FinetuneOptions, TrainingOptions
from bert_tf.finetuning.outputs import write_json_atomic
from bert_tf.finetuning.predict import predict
from bert_tf.finetuning.run import run_finetuning
from bert_tf.finetuning.selection import select_dev
from bert_tf.finetuning.setup import default_output_dir, prepare


@dataclasses.dataclass
class SquadResult:
    model: object
    tokenizer: object
    eval_results: dict
    output_dir: str


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """The decoding flags of google-research/bert's run_squad.py."""

    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0


def predict_squad(model, tokenizer, predict_file: str, options: DecodeOptions, *, batch_size: int = 64,
                  output_dir: str | None = None):
    """Predicts every question of `predict_file`; writes predictions.json, nbest_predictions.json (and
    null_odds.json for v2) to `output_dir` when given. Returns `(predictions, nbest, null_odds, metrics)`;
    `metrics` is the official EM/F1 (v1.1) or the v2.0 breakdown when the file has answers, else {}."""
    examples = squad_data.read_squad(predict_file, version_2_with_negative=options.version_2_with_negative)
    feats = squad_data.convert_examples_to_features(
        examples, tokenizer, max_seq_length=options.max_seq_length, doc_stride=options.doc_stride,
        max_query_length=options.max_query_length)
    inputs, _ = squad_data.features_to_arrays(feats, options.max_seq_length)
    logits = predict(model, inputs, batch_size)
    predictions, nbest, null_odds = squad_data.postprocess(
        examples, feats, logits["start_logits"], logits["end_logits"], n_best_size=options.n_best_size,
        max_answer_length=options.max_answer_length, version_2_with_negative=options.version_2_with_negative,
        null_score_diff_threshold=options.null_score_diff_threshold)
    if output_dir:
        squad_data.write_predictions(output_dir, predictions, nbest, null_odds)
    metrics = {}
    has_answers = any(e.answers for e in examples)
    if has_answers or options.version_2_with_negative:
        dataset = squad_data.dataset_json(predict_file)
        if options.version_2_with_negative:
            metrics = metrics_lib.squad_v2_evaluate(dataset, predictions)
        else:
            metrics = metrics_lib.squad_v1_evaluate(dataset, predictions)
            metrics = {"exact_match": metrics["exact_match"], "f1": metrics["f1"], "total": metrics["total"]}
    return predictions, nbest, null_odds, metrics


def finetune_squad(train_file: str, predict_file: str | None = None, *, init_checkpoint: str | None = None,
                   vocab_file: str | None = None, bert_config_file: str | None = None, preset: str | None = None,
                   do_lower_case: bool | None = None, max_seq_length: int = 384, doc_stride: int = 128,
                   max_query_length: int = 64, n_best_size: int = 20, max_answer_length: int = 30,
                   version_2_with_negative: bool = False, null_score_diff_threshold: float = 0.0,
                   train_batch_size: int = 12, eval_batch_size: int = 32, learning_rate=3e-5,
                   num_train_epochs: float = 2.0, max_train_steps: int | None = None,
                   warmup_proportion: float = 0.1, output_dir: str | None = None,
                   distribution_strategy: str = "off", save_formats: Sequence[str] = ("keras",), seed: int = 0,
                   evals_per_epoch: int = 1, dev_file: str | None = None, dev_fraction: float | None = None,
                   head_initializer: str = "glorot_uniform",
                   max_input_chars_per_word: int = 200,
                   training_options: TrainingOptions | None = None) -> SquadResult:
    """Fine-tunes a `BertSpanQA` on SQuAD-format data. The epoch and learning rate with the best dev F1 are kept
    (`dev_file`, or `dev_fraction` of the training *articles*, written to `output_dir/dev_split/`; see
    `selection.select_dev`); `predict_file` is scored once (official EM/F1, when it has answers) with the chosen
    model, which writes its predictions.json / nbest_predictions.json / null_odds.json. Defaults are
    google-research/bert's run_squad.py values; other arguments: see `FinetuneOptions`."""
    from bert_tf.tasks import BertSpanQA

    options = FinetuneOptions.pick(locals()).replace(output_dir=default_output_dir(output_dir, "squad"))
    decode = DecodeOptions(max_seq_length, doc_stride, max_query_length, n_best_size, max_answer_length,
                           version_2_with_negative, null_score_diff_threshold)
    setup = prepare(options)
    tokenizer = setup.tokenizer
    train_file, dev_file, dev_source = _split_articles(train_file, dev_file, dev_fraction,
                                                       len(options.learning_rates), options.output_dir)
    train_examples = squad_data.read_squad(train_file, version_2_with_negative=version_2_with_negative,
                                           is_training=True)
    train_feats = squad_data.convert_examples_to_features(
        train_examples, tokenizer, max_seq_length=max_seq_length, doc_stride=doc_stride,
        max_query_length=max_query_length, is_training=True)
    train_x, train_y = squad_data.features_to_arrays(train_feats, max_seq_length)

    def scorer(path, output_dir=None):
        if not path:
            return None
        return lambda model: predict_squad(model, tokenizer, path, decode, batch_size=eval_batch_size,
                                           output_dir=output_dir)[3]

    new_encoder = setup.encoder_copies()

    def build_model(dtype):
        return BertSpanQA(new_encoder(dtype), head_initializer=head_initializer)

    best, eval_results = run_finetuning(
        options, setup, build_model, train_x, train_y, main_metric="f1", evaluate=scorer(dev_file),
        dev_source=dev_source, eval_file=predict_file, score_eval=scorer(predict_file, options.output_dir),
        results={"num_train_questions": len(train_examples), "num_train_features": len(train_feats),
                 "head_initializer": head_initializer, **dataclasses.asdict(decode)})
    return SquadResult(best.model, tokenizer, eval_results, options.output_dir)


def _split_articles(train_file, dev_file, dev_fraction, num_learning_rates, output_dir):
    """`(train_file, dev_file or None, dev description)`: a carved dev set is a fixed-seed share of the training
    file's articles (questions on one article share its context, so they stay on one side), written as SQuAD JSON
    files under `output_dir/dev_split/`."""
    if dev_file:
        if dev_fraction:
            raise FinetuneError("give a dev file or a dev fraction, not both")
        questions = squad_data.read_squad(dev_file)  # a clear error now, not after the first epoch
        return train_file, dev_file, f"dev_file {dev_file} ({len(questions)} questions)"
    if dev_fraction is None and num_learning_rates == 1:
        return train_file, None, None
    squad_data.read_squad(train_file, is_training=True)  # a clear DataError for a malformed file, before splitting
    train_articles, dev_articles, source = select_dev(
        squad_data.dataset_json(train_file), dev_fraction=dev_fraction, num_learning_rates=num_learning_rates,
        what="articles")
    if dev_articles is None:
        return train_file, None, None
    split_dir = os.path.join(output_dir, "dev_split")
    os.makedirs(split_dir, exist_ok=True)
    paths = []
    for name, data in (("train.json", train_articles), ("dev.json", dev_articles)):
        paths.append(os.path.join(split_dir, name))
        write_json_atomic(paths[-1], {"version": "1.1", "data": data})
    return paths[0], paths[1], f"{source} of {train_file}"
