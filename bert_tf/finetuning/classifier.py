"""Sentence and sentence-pair classification and regression: `finetune_classifier` and `predict_classifier`."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Sequence

import numpy as np

from bert_tf import metrics as metrics_lib
from bert_tf.data import classification_features, readers
from bert_tf.data.errors import DataError
from bert_tf.finetuning import common

logger = logging.getLogger(__name__)

TASK_TYPES = ("classification", "regression")
RESOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources")
BANKING77_TRAIN = os.path.join(RESOURCES, "banking77", "train.csv")
BANKING77_TEST = os.path.join(RESOURCES, "banking77", "test.csv")
NSMC_TRAIN = os.path.join(RESOURCES, "nsmc", "ratings_train.txt")  # the Korean demo's data (CC0)
NSMC_TEST = os.path.join(RESOURCES, "nsmc", "ratings_test.txt")


@dataclasses.dataclass
class ClassifierResult:
    """What `finetune_classifier` returns.

    Attributes:
        model: the trained `BertClassifier` (or `BertRegressor`), the best epoch of the best learning rate.
        tokenizer: the `BertTokenizer` it was trained with.
        label_names: class names in output order (empty for regression).
        eval_results: dict, the chosen model's metrics on the eval file (scored once) plus `dev` (its dev
            metrics), `dev_source`, `selection`, `learning_rate`, `best_step`, `sweep` (see
            `common.selection_results`).
        output_dir: where `best_model.keras`, `eval_results.json`, `training_curves.png`, summaries went.
        max_seq_length: the packing length used.
    """

    model: object
    tokenizer: object
    label_names: list
    eval_results: dict
    output_dir: str
    max_seq_length: int


def _read(path, data_format, columns, regression, labeled=True):
    return readers.read_examples(path, data_format, text_a_column=columns[0], text_b_column=columns[1],
                                 label_column=columns[2], has_header=columns[3], regression=regression,
                                 labeled=labeled)


def classification_eval(model, inputs, labels, *, regression, batch_size, num_classes=None):
    """Accuracy/macro-F1/MCC/loss (classification) or Pearson/Spearman/MSE (regression) on arrays."""
    outputs = np.asarray(common.predict(model, inputs, batch_size), np.float64)
    if regression:
        scores = outputs.reshape(-1)
        return {"pearson": metrics_lib.pearson(labels, scores), "spearman": metrics_lib.spearman(labels, scores),
                "mse": float(np.mean((scores - labels) ** 2)), "loss": float(np.mean((scores - labels) ** 2))}
    probabilities = common.softmax(outputs)
    predictions = probabilities.argmax(-1)
    # Macro-F1 over the classes present in the eval labels or predictions (scikit-learn's default): a training
    # class absent from a small eval set and never predicted (poem sentiment's dev set has no "mixed" verse)
    # would otherwise add an F1 of 0 and cap macro-F1 at (k-1)/k. `num_classes` stays in the signature.
    result = metrics_lib.classification_metrics(labels, predictions)
    result["loss"] = float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12)))
    return result


def finetune_classifier(train_file: str | None = None, eval_file: str | None = None, *,
                        data_format: str | None = None, init_checkpoint: str | None = None,
                        vocab_file: str | None = None, bert_config_file: str | None = None, preset: str | None = None,
                        do_lower_case: bool | None = None, pooling: str | None = None,
                        task_type: str = "classification", text_a_column: str | None = None,
                        text_b_column: str | None = None, label_column: str | None = None, has_header: bool = True,
                        max_seq_length: int = 128, train_batch_size: int = 32, eval_batch_size: int = 64,
                        learning_rate: float | str | Sequence[float] = 5e-5, num_train_epochs: float = 3.0,
                        max_train_steps: int | None = None, warmup_proportion: float = 0.1,
                        dropout: float = 0.1, output_dir: str | None = None, distribution_strategy: str = "off",
                        save_formats: Sequence[str] = ("keras",), seed: int = 0, evals_per_epoch: int = 1,
                        max_train_examples: int | None = None, dev_file: str | None = None,
                        dev_fraction: float | None = None, head_initializer: str = "glorot_uniform",
                        max_input_chars_per_word: int = 200,
                        training_options: common.TrainingOptions | None = None) -> ClassifierResult:
    """Fine-tunes BERT for sentence(-pair) classification or regression and returns the best model.

    With no `train_file`, trains on the bundled Banking77 sample (`bert_tf/resources/banking77`, 77 intents,
    5,000 train / 1,000 test rows, CC BY 4.0) and evaluates on its test split.

    Args:
        train_file: str or None. Training data (see `data_format`). Defaults to the bundled Banking77 train.csv.
        eval_file: str or None. Scored once, with the chosen model (never used to choose). Defaults to
            Banking77's test.csv when `train_file` is None.
        data_format: str. One of `bert_tf.data.DATA_FORMATS` (`csv`, `tsv`, `jsonl`, `nsmc`, `klue_nli`,
            `korsts`, `klue_sts`, `banking77`, `poem_sentiment`). Defaults to `banking77` for the bundled data,
            else guessed from the file extension (`.csv`, `.tsv`, `.jsonl`).
        init_checkpoint: str or None. Pre-trained weights in any format `bert_tf.checkpoints.load_encoder`
            reads (Hugging Face directory, Google TF1, Model Garden, bert_tf outputs). None trains from random
            initialization (needs `bert_config_file` or `preset`): the no-pre-training baseline.
        vocab_file: str or None. Defaults to the `vocab.txt` beside `init_checkpoint`.
        bert_config_file, preset: the architecture for random initialization (or to override the checkpoint's).
        do_lower_case: bool or None. Defaults to the checkpoint's config (`lowercase`).
        pooling: str or None. `"cls"`, `"cls_token"`, `"mean"`, `"max"`. None uses the checkpoint's own
            (sentence-transformers' `1_Pooling/config.json`: all-MiniLM-L6-v2 → `"mean"`), else `"cls"`.
        task_type: `"classification"` or `"regression"` (one output, MSE; default for korsts/klue_sts).
        text_a_column, text_b_column, label_column, has_header: column names for csv/tsv/jsonl.
        max_seq_length, train_batch_size, eval_batch_size: as google-research/bert.
        learning_rate: float, or a list / comma-separated string: one run per rate, the best on the eval set
            is kept (the paper's sweep: "5e-5,4e-5,3e-5,2e-5").
        num_train_epochs: float. Defaults to 3.
        max_train_steps: int or None. Caps the optimizer steps (quick demos).
        warmup_proportion: float. Linear warmup over this fraction of the steps. Defaults to 0.1.
        dropout: float. Dropout on the pooled vector. Defaults to 0.1.
        output_dir: str or None. Defaults to a new temporary directory.
        distribution_strategy: str. See `bert_tf.training.distribute.get_strategy`. Defaults to `"off"`.
        save_formats: subset of `("keras", "hf", "google")`; `hf`/`google` also write the fine-tuned encoder.
        seed: int. Shuffling and initialization seed.
        evals_per_epoch: int. Evaluations (and curve points) per epoch. Defaults to 1.
        max_train_examples: int or None. Use only the first N training examples (after shuffling with `seed`).
        dev_file: str or None. Evaluated after every epoch (`evals_per_epoch`); the epoch and learning rate with
            the best dev metric are kept. Same format as `train_file`.
        dev_fraction: float or None. Carve this fraction of the training examples as the dev set instead (fixed
            split seed, see `common.select_dev`). A sweep of several learning rates with neither carves 0.1.
            With one learning rate and no dev set the final model is kept.
        head_initializer: str. `"glorot_uniform"` (default, as keras-hub and Keras' Dense) or
            `"truncated_normal"` (google-research/bert's stddev-0.02 head), see README "Fine-tuning recipe".
        max_input_chars_per_word: int. Words longer than this many characters become [UNK]. Defaults to 200
            (google-research/bert's limit; Hugging Face's tokenizer uses 100).

    Returns:
        `ClassifierResult` (model, tokenizer, label_names, eval_results, output_dir, max_seq_length).

    Example:
        from bert_tf.pretrained import minilm_l6_dir
        result = finetune_classifier(init_checkpoint=minilm_l6_dir(), max_train_steps=100)
        result.eval_results["accuracy"], result.label_names[:3]
    """
    from bert_tf.tasks import BertClassifier, BertRegressor, default_pooling
    from bert_tf.training import distribute

    if task_type not in TASK_TYPES:
        raise common.FinetuneError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
    if train_file is None:
        train_file, data_format = BANKING77_TRAIN, data_format or "banking77"
        eval_file = eval_file or BANKING77_TEST
    data_format = data_format or _guess_format(train_file)
    regression = task_type == "regression" or data_format in readers.REGRESSION_FORMATS
    columns = (text_a_column, text_b_column, label_column, has_header)
    output_dir = common.default_output_dir(output_dir, "classifier")
    learning_rates = common.parse_learning_rates(learning_rate)

    train_examples = _read(train_file, data_format, columns, regression)
    if max_train_examples:
        order = np.random.default_rng(seed).permutation(len(train_examples))[:max_train_examples]
        train_examples = [train_examples[i] for i in sorted(order)]
    eval_examples = _read(eval_file, data_format, columns, regression) if eval_file else None
    label_names = [] if regression else readers.label_names_of(train_examples)
    if not regression and len(label_names) < 2:
        raise DataError(f"{train_file}: classification needs at least 2 labels, found {label_names}")
    train_examples, dev_examples, dev_source = common.select_dev(
        train_examples, _read(dev_file, data_format, columns, regression) if dev_file else None, dev_file=dev_file,
        dev_fraction=dev_fraction, num_learning_rates=len(learning_rates))

    vocab_file = common.resolve_vocab(vocab_file, init_checkpoint)
    pretrained_task = common.load_task_model(init_checkpoint) if init_checkpoint else None
    strategy = common.get_strategy(distribution_strategy, training_options)
    with strategy.scope():
        encoder_template = None
        if pretrained_task is None:
            from bert_tf.tokenization import load_vocab
            encoder_template = common.build_encoder(seed=seed, 
                init_checkpoint=init_checkpoint, bert_config_file=bert_config_file, preset=preset,
                vocab_size=len(load_vocab(vocab_file)), do_lower_case=do_lower_case)
    base = pretrained_task.encoder if pretrained_task is not None else encoder_template
    if do_lower_case is None:
        do_lower_case = base.bert_config.lowercase
    if max_seq_length > base.bert_config.max_position_embeddings:
        raise common.FinetuneError(f"max_seq_length {max_seq_length} exceeds the model's max_position_embeddings "
                                   f"{base.bert_config.max_position_embeddings}")
    if pooling is None:
        pooling = getattr(pretrained_task, "pooling", None) or default_pooling(init_checkpoint)
    logger.info("pooling: %s", pooling)
    tokenizer = common.make_tokenizer(vocab_file, do_lower_case, max_input_chars_per_word)

    train_x = classification_features.encode_examples(tokenizer, train_examples, max_seq_length)
    if regression:
        train_y = np.array([float(e.label) for e in train_examples], np.float32)
    else:
        train_y = classification_features.label_ids(train_examples, label_names, split="train")
    def scorer(examples):
        if examples is None:
            return None
        x = classification_features.encode_examples(tokenizer, examples, max_seq_length)
        y = (np.array([float(e.label) for e in examples], np.float64) if regression
             else classification_features.label_ids(examples, label_names))
        return lambda model: classification_eval(model, x, y, regression=regression, batch_size=eval_batch_size,
                                                 num_classes=len(label_names))

    evaluate, score_eval = scorer(dev_examples), scorer(eval_examples)

    encoder_config = base.get_config()
    encoder_weights = base.get_weights()

    def build_model():
        # A fresh copy of the starting encoder for every learning rate of the sweep.
        encoder = common.copy_encoder(encoder_config, encoder_weights)
        if regression:
            model = BertRegressor(encoder, pooling=pooling, dropout=dropout, head_initializer=head_initializer)
        else:
            model = BertClassifier(encoder, len(label_names), pooling=pooling, dropout=dropout,
                                   label_names=label_names, head_initializer=head_initializer)
        if pretrained_task is not None and type(pretrained_task) is type(model):
            model.head.set_weights(pretrained_task.head.get_weights())
        return model

    main_metric = "pearson" if regression else "accuracy"
    best = common.sweep(build_model, train_x, train_y, training_options=training_options,
                        learning_rates=learning_rates, output_dir=output_dir,
                        evaluate=evaluate, main_metric=main_metric, num_train_epochs=num_train_epochs,
                        train_batch_size=train_batch_size, warmup_proportion=warmup_proportion,
                        max_train_steps=max_train_steps, strategy=strategy, seed=seed,
                        evals_per_epoch=evals_per_epoch, run_config={"dev": dev_source})
    eval_results = common.selection_results(best, main_metric=main_metric, dev_source=dev_source,
                                            eval_file=eval_file, eval_metrics=score_eval and score_eval(best.model))
    eval_results.update({"pooling": pooling, "head_initializer": head_initializer,
                         "task_type": "regression" if regression else "classification", "train_file": train_file,
                         "num_train_examples": len(train_examples)})
    eval_results["exports"] = common.export_formats(best.model, output_dir, save_formats, vocab_file)
    common.write_json_atomic(os.path.join(output_dir, common.EVAL_RESULTS), eval_results)
    return ClassifierResult(best.model, tokenizer, label_names, eval_results, output_dir, max_seq_length)


def evaluate_file(model, tokenizer, eval_file: str, *, data_format: str | None, max_seq_length: int,
                  batch_size: int = 64, columns=(None, None, None, True)) -> dict:
    """Metrics of a fine-tuned classifier/regressor on a labelled file (labels must be the model's)."""
    data_format = data_format or _guess_format(eval_file)
    regression = not hasattr(model, "num_classes")
    examples = _read(eval_file, data_format, columns, regression)
    inputs = classification_features.encode_examples(tokenizer, examples, max_seq_length)
    if regression:
        labels = np.array([float(e.label) for e in examples], np.float64)
    else:
        names = model.label_names or [str(i) for i in range(model.num_classes)]
        labels = classification_features.label_ids(examples, names)
    return classification_eval(model, inputs, labels, regression=regression, batch_size=batch_size,
                               num_classes=getattr(model, "num_classes", None))


def _guess_format(path):
    ext = os.path.splitext(path)[1].lower()
    formats = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".txt": "tsv"}
    if ext not in formats:
        raise common.FinetuneError(f"cannot guess the data format of {path}; pass data_format")
    return formats[ext]


def predict_classifier(model, tokenizer, predict_file: str, output_path: str, *, data_format: str,
                       max_seq_length: int, batch_size: int = 64, text_a_column=None, text_b_column=None,
                       label_column=None, has_header=True) -> str:
    """Writes `guid<TAB>prediction<TAB>probability-or-score` (plus the text) for every row of `predict_file`."""
    regression = not hasattr(model, "num_classes")
    examples = _read(predict_file, data_format, (text_a_column, text_b_column, label_column, has_header),
                     regression, labeled=False)
    inputs = classification_features.encode_examples(tokenizer, examples, max_seq_length)
    outputs = np.asarray(common.predict(model, inputs, batch_size), np.float64)
    tmp = f"{output_path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        if regression:
            f.write("guid\tscore\ttext_a\ttext_b\n")
            for example, score in zip(examples, outputs.reshape(-1)):
                f.write(f"{example.guid}\t{score:.6f}\t{_clean(example.text_a)}\t{_clean(example.text_b or '')}\n")
        else:
            names = model.label_names or [str(i) for i in range(model.num_classes)]
            probabilities = common.softmax(outputs)
            f.write("guid\tprediction\tprobability\ttext_a\ttext_b\n")
            for example, p in zip(examples, probabilities):
                k = int(p.argmax())
                f.write(f"{example.guid}\t{names[k]}\t{p[k]:.6f}\t{_clean(example.text_a)}\t"
                        f"{_clean(example.text_b or '')}\n")
    os.replace(tmp, output_path)
    return output_path


def _clean(text):
    return text.replace("\t", " ").replace("\n", " ")
