"""Extractive QA: `finetune_squad` and `predict_squad` (SQuAD v1.1/v2.0, KorQuAD), google-research/bert style."""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from bert_tf import metrics as metrics_lib
from bert_tf.data import squad as squad_data
from bert_tf.finetuning import common


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
    logits = common.predict(model, inputs, batch_size)
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
                   training_options: common.TrainingOptions | None = None) -> SquadResult:
    """Fine-tunes a `BertSpanQA` on SQuAD-format data. The epoch and learning rate with the best dev F1 are kept
    (`dev_file`, or `dev_fraction` of the training *articles*, written to `output_dir/dev_split/`; see
    `common.select_dev`); `predict_file` is scored once (official EM/F1, when it has answers) with the chosen
    model, which writes its predictions.json / nbest_predictions.json / null_odds.json. Defaults are
    google-research/bert's run_squad.py values."""
    from bert_tf.tasks import BertSpanQA
    from bert_tf.tokenization import load_vocab

    output_dir = common.default_output_dir(output_dir, "squad")
    options = DecodeOptions(max_seq_length, doc_stride, max_query_length, n_best_size, max_answer_length,
                            version_2_with_negative, null_score_diff_threshold)
    vocab_file = common.resolve_vocab(vocab_file, init_checkpoint)
    strategy = common.get_strategy(distribution_strategy, training_options)
    with strategy.scope():
        base = common.build_encoder(seed=seed, init_checkpoint=init_checkpoint, bert_config_file=bert_config_file,
                                    preset=preset, vocab_size=len(load_vocab(vocab_file)),
                                    do_lower_case=do_lower_case)
    if do_lower_case is None:
        do_lower_case = base.bert_config.lowercase
    tokenizer = common.make_tokenizer(vocab_file, do_lower_case, max_input_chars_per_word)
    learning_rates = common.parse_learning_rates(learning_rate)
    train_file, dev_file, dev_source = _split_articles(train_file, dev_file, dev_fraction, len(learning_rates),
                                                       output_dir)
    train_examples = squad_data.read_squad(train_file, version_2_with_negative=version_2_with_negative,
                                           is_training=True)
    train_feats = squad_data.convert_examples_to_features(
        train_examples, tokenizer, max_seq_length=max_seq_length, doc_stride=doc_stride,
        max_query_length=max_query_length, is_training=True)
    train_x, train_y = squad_data.features_to_arrays(train_feats, max_seq_length)
    main_metric = "f1"
    evaluate = None
    if dev_file:
        def evaluate(model):
            return predict_squad(model, tokenizer, dev_file, options, batch_size=eval_batch_size)[3]

    config, weights = base.get_config(), base.get_weights()

    def build_model():
        encoder = common.copy_encoder(config, weights)
        return BertSpanQA(encoder, head_initializer=head_initializer)

    best = common.sweep(build_model, train_x, train_y, training_options=training_options,
                        learning_rates=learning_rates, output_dir=output_dir, evaluate=evaluate, main_metric=main_metric,
                        num_train_epochs=num_train_epochs, train_batch_size=train_batch_size,
                        warmup_proportion=warmup_proportion, max_train_steps=max_train_steps, strategy=strategy,
                        seed=seed, evals_per_epoch=evals_per_epoch, run_config={"dev": dev_source})
    eval_metrics = None
    if predict_file:
        eval_metrics = predict_squad(best.model, tokenizer, predict_file, options, batch_size=eval_batch_size,
                                     output_dir=output_dir)[3]
    eval_results = common.selection_results(best, main_metric=main_metric, dev_source=dev_source,
                                            eval_file=predict_file, eval_metrics=eval_metrics)
    eval_results.update({"num_train_questions": len(train_examples), "num_train_features": len(train_feats),
                         "head_initializer": head_initializer, **dataclasses.asdict(options)})
    eval_results["exports"] = common.export_formats(best.model, output_dir, save_formats, vocab_file)
    common.write_json_atomic(os.path.join(output_dir, common.EVAL_RESULTS), eval_results)
    return SquadResult(best.model, tokenizer, eval_results, output_dir)


def _split_articles(train_file, dev_file, dev_fraction, num_learning_rates, output_dir):
    """`(train_file, dev_file or None, dev description)`: a carved dev set is a fixed-seed share of the training
    file's articles (questions on one article share its context, so they stay on one side), written as SQuAD JSON
    files under `output_dir/dev_split/`."""
    if dev_file:
        if dev_fraction:
            raise common.FinetuneError("give a dev file or a dev fraction, not both")
        questions = squad_data.read_squad(dev_file)  # a clear error now, not after the first epoch
        return train_file, dev_file, f"dev_file {dev_file} ({len(questions)} questions)"
    if dev_fraction is None and num_learning_rates == 1:
        return train_file, None, None
    squad_data.read_squad(train_file, is_training=True)  # a clear DataError for a malformed file, before splitting
    train_articles, dev_articles, source = common.select_dev(
        squad_data.dataset_json(train_file), dev_fraction=dev_fraction, num_learning_rates=num_learning_rates,
        what="articles")
    if dev_articles is None:
        return train_file, None, None
    split_dir = os.path.join(output_dir, "dev_split")
    os.makedirs(split_dir, exist_ok=True)
    paths = []
    for name, data in (("train.json", train_articles), ("dev.json", dev_articles)):
        paths.append(os.path.join(split_dir, name))
        common.write_json_atomic(paths[-1], {"version": "1.1", "data": data})
    return paths[0], paths[1], f"{source} of {train_file}"
