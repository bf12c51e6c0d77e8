"""Multiple choice (SWAG-style): `finetune_multiple_choice` and `predict_multiple_choice`."""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from bert_tf import metrics as metrics_lib
from bert_tf.data import swag
from bert_tf.finetuning import common


@dataclasses.dataclass
class MultipleChoiceResult:
    model: object
    tokenizer: object
    eval_results: dict
    output_dir: str


def choice_eval(model, inputs, labels, batch_size):
    logits = common.predict(model, inputs, batch_size)
    probabilities = common.softmax(logits)
    return {"accuracy": metrics_lib.accuracy(labels, probabilities.argmax(-1)),
            "loss": float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12))),
            "num_examples": len(labels)}


def finetune_multiple_choice(train_file: str, eval_file: str | None = None, *, init_checkpoint: str | None = None,
                             vocab_file: str | None = None, bert_config_file: str | None = None,
                             preset: str | None = None, do_lower_case: bool | None = None, pooling: str | None = None,
                             max_seq_length: int = 128, train_batch_size: int = 16, eval_batch_size: int = 32,
                             learning_rate=2e-5, num_train_epochs: float = 3.0, max_train_steps: int | None = None,
                             warmup_proportion: float = 0.1, dropout: float = 0.1, output_dir: str | None = None,
                             distribution_strategy: str = "off", save_formats: Sequence[str] = ("keras",),
                             seed: int = 0, evals_per_epoch: int = 1, dev_file: str | None = None,
                             dev_fraction: float | None = None, head_initializer: str = "glorot_uniform",
                             max_input_chars_per_word: int = 200,
                             training_options: common.TrainingOptions | None = None) -> MultipleChoiceResult:
    """Fine-tunes a `BertMultipleChoice` on SWAG-format CSV files (see `bert_tf.data.swag`); the best dev
    accuracy is kept (`dev_file`/`dev_fraction`, see `common.select_dev`), `eval_file` is scored once. `pooling=None` follows the checkpoint (`bert_tf.tasks.default_pooling`), else `"cls"`.
    Other arguments as `finetune_classifier`. `train_batch_size` counts examples (each has C sequences)."""
    from bert_tf.tasks import BertMultipleChoice, default_pooling
    from bert_tf.tokenization import load_vocab

    output_dir = common.default_output_dir(output_dir, "multiple_choice")
    train_examples = swag.read_swag(train_file)
    eval_examples = swag.read_swag(eval_file) if eval_file else None
    learning_rates = common.parse_learning_rates(learning_rate)
    train_examples, dev_examples, dev_source = common.select_dev(
        train_examples, swag.read_swag(dev_file) if dev_file else None, dev_file=dev_file, dev_fraction=dev_fraction,
        num_learning_rates=len(learning_rates))
    vocab_file = common.resolve_vocab(vocab_file, init_checkpoint)
    strategy = common.get_strategy(distribution_strategy, training_options)
    with strategy.scope():
        base = common.build_encoder(seed=seed, init_checkpoint=init_checkpoint, bert_config_file=bert_config_file,
                                    preset=preset, vocab_size=len(load_vocab(vocab_file)),
                                    do_lower_case=do_lower_case)
    if do_lower_case is None:
        do_lower_case = base.bert_config.lowercase
    pooling = pooling or default_pooling(init_checkpoint)
    tokenizer = common.make_tokenizer(vocab_file, do_lower_case, max_input_chars_per_word)
    train_x, train_y = swag.encode_choices(tokenizer, train_examples, max_seq_length)
    def scorer(examples, path):
        if examples is None:
            return None
        x, y = swag.encode_choices(tokenizer, examples, max_seq_length)
        if x["token_ids"].shape[1] != train_x["token_ids"].shape[1]:
            raise common.FinetuneError(f"{path} has {x['token_ids'].shape[1]} choices per example, "
                                       f"{train_file} has {train_x['token_ids'].shape[1]}")
        return lambda model: choice_eval(model, x, y, eval_batch_size)

    evaluate, score_eval = scorer(dev_examples, dev_file or train_file), scorer(eval_examples, eval_file)

    config, weights = base.get_config(), base.get_weights()

    def build_model():
        encoder = common.copy_encoder(config, weights)
        return BertMultipleChoice(encoder, pooling=pooling, dropout=dropout, head_initializer=head_initializer)

    best = common.sweep(build_model, train_x, train_y, training_options=training_options,
                        learning_rates=learning_rates, output_dir=output_dir, evaluate=evaluate,
                        main_metric="accuracy",
                        num_train_epochs=num_train_epochs, train_batch_size=train_batch_size,
                        warmup_proportion=warmup_proportion, max_train_steps=max_train_steps, strategy=strategy,
                        seed=seed, evals_per_epoch=evals_per_epoch, run_config={"dev": dev_source})
    eval_results = common.selection_results(best, main_metric="accuracy", dev_source=dev_source,
                                            eval_file=eval_file, eval_metrics=score_eval and score_eval(best.model))
    eval_results.update({"pooling": pooling, "head_initializer": head_initializer,
                         "num_train_examples": len(train_examples)})
    eval_results["exports"] = common.export_formats(best.model, output_dir, save_formats, vocab_file)
    common.write_json_atomic(os.path.join(output_dir, common.EVAL_RESULTS), eval_results)
    return MultipleChoiceResult(best.model, tokenizer, eval_results, output_dir)


def predict_multiple_choice(model, tokenizer, predict_file: str, output_path: str, *, max_seq_length: int,
                            batch_size: int = 32) -> str:
    """Writes `guid<TAB>predicted index<TAB>probabilities...` for every example of a SWAG-format file."""
    examples = swag.read_swag(predict_file, labeled=False)
    inputs, _ = swag.encode_choices(tokenizer, examples, max_seq_length)
    probabilities = common.softmax(common.predict(model, inputs, batch_size))
    tmp = f"{output_path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("guid\tprediction\t" + "\t".join(f"p{i}" for i in range(probabilities.shape[1])) + "\n")
        for example, p in zip(examples, probabilities):
            f.write(f"{example.guid}\t{int(p.argmax())}\t" + "\t".join(f"{x:.6f}" for x in p) + "\n")
    os.replace(tmp, output_path)
    return output_path
