"""Multiple choice (SWAG-style): `finetune_multiple_choice` and `predict_multiple_choice`."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from bert_tf import metrics as metrics_lib
from bert_tf.atomic_files import atomic_write
from bert_tf.data import swag
from bert_tf.finetuning.options import FinetuneError, FinetuneOptions, TrainingOptions
from bert_tf.finetuning.predict import predict, softmax
from bert_tf.finetuning.run import run_finetuning
from bert_tf.finetuning.selection import select_dev_from
from bert_tf.finetuning.setup import default_output_dir, prepare


@dataclasses.dataclass
class MultipleChoiceResult:
    model: object
    tokenizer: object
    eval_results: dict
    output_dir: str


def choice_eval(model, inputs, labels, batch_size):
    logits = predict(model, inputs, batch_size)
    probabilities = softmax(logits)
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
                             training_options: TrainingOptions | None = None) -> MultipleChoiceResult:
    """Fine-tunes a `BertMultipleChoice` on SWAG-format CSV files (see `bert_tf.data.swag`); the best dev
    accuracy is kept (`dev_file`/`dev_fraction`, see `selection.select_dev`), `eval_file` is scored once.
    `pooling=None` follows the checkpoint (`bert_tf.tasks.default_pooling`), else `"cls"`. Other arguments: see
    `FinetuneOptions`. `train_batch_size` counts examples (each has C sequences)."""
    from bert_tf.tasks import BertMultipleChoice, default_pooling

    options = FinetuneOptions.pick(locals()).replace(output_dir=default_output_dir(output_dir, "multiple_choice"))
    train_examples = swag.read_swag(train_file)
    eval_examples = swag.read_swag(eval_file) if eval_file else None
    train_examples, dev_examples, dev_source = select_dev_from(options, train_examples, swag.read_swag)
    setup = prepare(options)
    pooling = pooling or default_pooling(init_checkpoint)
    train_x, train_y = swag.encode_choices(setup.tokenizer, train_examples, max_seq_length)

    def scorer(examples, path):
        if examples is None:
            return None
        x, y = swag.encode_choices(setup.tokenizer, examples, max_seq_length)
        if x["token_ids"].shape[1] != train_x["token_ids"].shape[1]:
            raise FinetuneError(f"{path} has {x['token_ids'].shape[1]} choices per example, "
                                f"{train_file} has {train_x['token_ids'].shape[1]}")
        return lambda model: choice_eval(model, x, y, eval_batch_size)

    new_encoder = setup.encoder_copies()

    def build_model(dtype):
        return BertMultipleChoice(new_encoder(dtype), pooling=pooling, dropout=dropout,
                                  head_initializer=head_initializer)

    best, eval_results = run_finetuning(
        options, setup, build_model, train_x, train_y, main_metric="accuracy",
        evaluate=scorer(dev_examples, dev_file or train_file), dev_source=dev_source, eval_file=eval_file,
        score_eval=scorer(eval_examples, eval_file),
        results={"pooling": pooling, "head_initializer": head_initializer, "num_train_examples": len(train_examples)})
    return MultipleChoiceResult(best.model, setup.tokenizer, eval_results, options.output_dir)


def predict_multiple_choice(model, tokenizer, predict_file: str, output_path: str, *, max_seq_length: int,
                            batch_size: int = 32) -> str:
    """Writes `guid<TAB>predicted index<TAB>probabilities...` for every example of a SWAG-format file."""
    examples = swag.read_swag(predict_file, labeled=False)
    inputs, _ = swag.encode_choices(tokenizer, examples, max_seq_length)
    probabilities = softmax(predict(model, inputs, batch_size))
    with atomic_write(output_path) as f:
        f.write("guid\tprediction\t" + "\t".join(f"p{i}" for i in range(probabilities.shape[1])) + "\n")
        for example, p in zip(examples, probabilities):
            f.write(f"{example.guid}\t{int(p.argmax())}\t" + "\t".join(f"{x:.6f}" for x in p) + "\n")
    return output_path
