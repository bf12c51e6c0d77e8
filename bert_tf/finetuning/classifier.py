"""Sentence and sentence-pair classification and regression: `finetune_classifier` and `predict_classifier`."""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from typing import Sequence

import numpy as np

from bert_tf import metrics as metrics_lib
from bert_tf.atomic_files import atomic_write
from bert_tf.data import classification_features, readers
from bert_tf.data.errors import DataError
from bert_tf.finetuning.options import FinetuneError, FinetuneOptions, TrainingOptions
from bert_tf.finetuning.predict import predict, softmax
from bert_tf.finetuning.run import run_finetuning
from bert_tf.finetuning.selection import select_dev_from
from bert_tf.finetuning.setup import default_output_dir, prepare

logger = logging.getLogger(__name__)

# BertClassifier.task_type, BertRegressor.task_type, BertBiEncoder.task_type (export's names too)
TASK_TYPES = ("classifier", "regressor", "bi_encoder")
SCORING_TASK_TYPES = ("regressor", "bi_encoder")  # one float score per input, trained with MSE
# The names before issue 15, accepted for one release with a DeprecationWarning.
DEPRECATED_TASK_TYPES = {"classification": "classifier", "regression": "regressor"}
RESOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources")
BANKING77_TRAIN = os.path.join(RESOURCES, "banking77", "train.csv")
BANKING77_TEST = os.path.join(RESOURCES, "banking77", "test.csv")
NSMC_TRAIN = os.path.join(RESOURCES, "nsmc", "ratings_train.txt")  # the Korean demo's data (CC0)
NSMC_TEST = os.path.join(RESOURCES, "nsmc", "ratings_test.txt")


@dataclasses.dataclass
class ClassifierResult:
    """What `finetune_classifier` returns.

    Attributes:
        model: the trained `BertClassifier` (or `BertRegressor`, `BertBiEncoder`), the best epoch of the best
            learning rate.
        tokenizer: the `BertTokenizer` it was trained with.
        label_names: class names in output order (empty for regression).
        eval_results: dict, the chosen model's metrics on the eval file (scored once) plus `dev` (its dev
            metrics), `dev_source`, `selection`, `learning_rate`, `best_step`, `sweep` (see
            `selection.selection_results`).
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
    outputs = np.asarray(predict(model, inputs, batch_size), np.float64)
    if regression:
        scores = outputs.reshape(-1)
        return {"pearson": metrics_lib.pearson(labels, scores), "spearman": metrics_lib.spearman(labels, scores),
                "mse": float(np.mean((scores - labels) ** 2)), "loss": float(np.mean((scores - labels) ** 2))}
    probabilities = softmax(outputs)
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
                        task_type: str = "classifier", text_a_column: str | None = None,
                        text_b_column: str | None = None, label_column: str | None = None, has_header: bool = True,
                        max_seq_length: int = 128, train_batch_size: int = 32, eval_batch_size: int = 64,
                        learning_rate: float | str | Sequence[float] = 5e-5, num_train_epochs: float = 3.0,
                        max_train_steps: int | None = None, warmup_proportion: float = 0.1,
                        dropout: float = 0.1, output_dir: str | None = None, distribution_strategy: str = "off",
                        save_formats: Sequence[str] = ("keras",), seed: int = 0, evals_per_epoch: int = 1,
                        max_train_examples: int | None = None, dev_file: str | None = None,
                        dev_fraction: float | None = None, head_initializer: str = "glorot_uniform",
                        max_input_chars_per_word: int = 200, score_range: Sequence[float] | None = None,
                        training_options: TrainingOptions | None = None) -> ClassifierResult:
    """Fine-tunes BERT for sentence(-pair) classification or regression and returns the best model.

    With no `train_file`, trains on the bundled Banking77 sample (`bert_tf/resources/banking77`, 77 intents,
    5,000 train / 1,000 test rows, CC BY 4.0) and evaluates on its test split. `eval_file` is scored once, with
    the chosen model (never used to choose).

    Args (the others: see `FinetuneOptions`, which gathers them):
        data_format: str. One of `bert_tf.data.DATA_FORMATS` (`csv`, `tsv`, `jsonl`, `nsmc`, `klue_nli`,
            `korsts`, `klue_sts`, `banking77`, `poem_sentiment`). Defaults to `banking77` for the bundled data,
            else guessed from the file extension (`.csv`, `.tsv`, `.jsonl`).
        pooling: str or None. `"cls"`, `"cls_token"`, `"mean"`, `"max"`. None uses the checkpoint's own
            (sentence-transformers' `1_Pooling/config.json`: all-MiniLM-L6-v2 → `"mean"`), else `"cls"`
            (`"mean"` for a bi-encoder, sentence-transformers' default).
        task_type: `"classifier"`, `"regressor"` (one output, MSE; default for korsts/klue_sts: a cross-encoder,
            the paper's STS-B setup) or `"bi_encoder"` (sentence pairs scored by the cosine of the two
            sentences encoded alone, sentence-transformers' setup, see `BertBiEncoder`; its scores span
            `score_range`): the task classes' `task_type`, as in `export_saved_model`.
            `"classification"`/`"regression"`, the old names, are deprecated (one release).
        text_a_column, text_b_column, label_column, has_header: column names for csv/tsv/jsonl.
        dropout: float. Dropout on the pooled vector. Defaults to 0.1.
        max_train_examples: int or None. Use only the first N training examples (after shuffling with `seed`).
        score_range: `(low, high)` or None, bi-encoder only: the scores that cosine 0 and 1 map to (as
            sentence-transformers divides STS scores by 5). None: the data format's published scale
            (`korsts`, `klue_sts`: 0-5), else the training labels' minimum and maximum.

    Returns:
        `ClassifierResult` (model, tokenizer, label_names, eval_results, output_dir, max_seq_length).

    Example:
        from bert_tf.pretrained import minilm_l6_dir
        result = finetune_classifier(init_checkpoint=minilm_l6_dir(), max_train_steps=100)
        result.eval_results["accuracy"], result.label_names[:3]
    """
    if task_type in DEPRECATED_TASK_TYPES:
        warnings.warn(f"task_type={task_type!r} is deprecated and will be removed in the next release; use "
                      f"{DEPRECATED_TASK_TYPES[task_type]!r}", DeprecationWarning, stacklevel=2)
        task_type = DEPRECATED_TASK_TYPES[task_type]
    if task_type not in TASK_TYPES:
        raise FinetuneError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
    if score_range is not None:
        score_range = _check_score_range(score_range, task_type)
    if train_file is None:
        train_file, data_format = BANKING77_TRAIN, data_format or "banking77"
        eval_file = eval_file or BANKING77_TEST
    options = FinetuneOptions.pick(locals()).replace(output_dir=default_output_dir(output_dir, "classifier"))
    data_format = data_format or _guess_format(train_file)
    data = _ClassificationData.read(options, train_file, eval_file, data_format,
                                    (text_a_column, text_b_column, label_column, has_header),
                                    task_type, max_train_examples)
    if data.task_type == "bi_encoder":
        score_range = _bi_encoder_score_range(score_range, data_format, data.train, train_file)
    setup = prepare(options, load_task=True)
    if max_seq_length > setup.encoder.bert_config.max_position_embeddings:
        raise FinetuneError(f"max_seq_length {max_seq_length} exceeds the model's max_position_embeddings "
                            f"{setup.encoder.bert_config.max_position_embeddings}")
    if pooling is None:
        pooling = getattr(setup.pretrained_task, "pooling", None) or _default_pooling(init_checkpoint, task_type)
    logger.info("pooling: %s", pooling)
    train_x, train_y = data.encode(setup.tokenizer, data.train, max_seq_length)
    main_metric = "pearson" if data.regression else "accuracy"
    best, eval_results = run_finetuning(
        options, setup, _model_builder(setup, data, pooling, dropout, head_initializer, train_y, score_range),
        train_x, train_y, main_metric=main_metric, evaluate=data.scorer(setup.tokenizer, data.dev, options),
        dev_source=data.dev_source, eval_file=eval_file, score_eval=data.scorer(setup.tokenizer, data.eval, options),
        results={"pooling": pooling, "head_initializer": head_initializer,
                 "task_type": data.task_type, "train_file": train_file,
                 "num_train_examples": len(data.train),
                 **({"score_range": list(score_range)} if data.task_type == "bi_encoder" else {})})
    return ClassifierResult(best.model, setup.tokenizer, data.label_names, eval_results, options.output_dir,
                            max_seq_length)


def _check_score_range(score_range, task_type):
    """`score_range` as a `(low, high)` tuple of floats, or a FinetuneError naming what is wrong with it."""
    from bert_tf.heads.cosine_similarity_head import check_score_range
    if task_type != "bi_encoder":
        raise FinetuneError(f"score_range applies to task_type='bi_encoder' (the cosine's scale), not {task_type!r}")
    try:
        return check_score_range(score_range)
    except ValueError as e:
        raise FinetuneError(str(e)) from None


def _bi_encoder_score_range(score_range, data_format, train, train_file):
    """The scores a bi-encoder's cosine 0 and 1 map to: `score_range` if given, else the format's published scale,
    else the training labels' span; a DataError if a training score falls outside it."""
    scores = [float(e.label) for e in train]  # float64: 0.6 stays 0.6
    if score_range is None:
        score_range = readers.SCORE_SCALES.get(data_format) or (min(scores), max(scores))
        if not score_range[0] < score_range[1]:
            raise DataError(f"a bi-encoder maps cosines to the training scores' range, and every training score "
                            f"is {score_range[0]:g}; pass score_range (--score_range) to give the scale")
    outside = [s for s in scores if not score_range[0] <= s <= score_range[1]]
    if outside:
        raise DataError(f"{train_file}: {len(outside)} training score(s) lie outside the bi-encoder's score range "
                        f"{score_range[0]:g}-{score_range[1]:g} (for example {outside[0]:g}), which its cosine "
                        f"cannot reach; pass score_range (--score_range) to give the data's scale")
    return score_range


def _default_pooling(init_checkpoint, task_type):
    """The checkpoint's own pooling (sentence-transformers' 1_Pooling), else BERT's pooler ("cls"), except that a
    bi-encoder without one mean-pools, as sentence-transformers does by default."""
    from bert_tf.tasks import default_pooling
    pooling = default_pooling(init_checkpoint)
    return "mean" if task_type == "bi_encoder" and pooling == "cls" else pooling


@dataclasses.dataclass
class _ClassificationData:
    """The examples of one classification run: train, dev (or None), eval (or None), labels."""

    train: list
    dev: list | None
    eval: list | None
    dev_source: str | None
    label_names: list
    task_type: str

    @property
    def regression(self):
        return self.task_type in SCORING_TASK_TYPES

    @classmethod
    def read(cls, options, train_file, eval_file, data_format, columns, task_type, max_train_examples):
        if task_type == "classifier" and data_format in readers.REGRESSION_FORMATS:
            task_type = "regressor"
        pair_score_formats = readers.REGRESSION_FORMATS + readers.GENERIC_FORMATS
        if task_type == "bi_encoder" and data_format not in pair_score_formats:
            raise DataError(f"{train_file}: a bi-encoder trains on sentence pairs with similarity scores "
                            f"(data_format {', '.join(pair_score_formats)}); {data_format} data has class labels")
        regression = task_type in SCORING_TASK_TYPES
        train = _read(train_file, data_format, columns, regression)
        if max_train_examples:
            order = np.random.default_rng(options.seed).permutation(len(train))[:max_train_examples]
            train = [train[i] for i in sorted(order)]
        evals = _read(eval_file, data_format, columns, regression) if eval_file else None
        label_names = [] if regression else readers.label_names_of(train)
        if not regression and len(label_names) < 2:
            raise DataError(f"{train_file}: classification needs at least 2 labels, found {label_names}")
        # Rows sharing their first text (an NLI premise with its three hypotheses, a duplicated sentence) stay on
        # one side of a carved dev split.
        train, dev, dev_source = select_dev_from(options, train,
                                                 lambda path: _read(path, data_format, columns, regression),
                                                 group=lambda e: e.text_a)
        return cls(train, dev, evals, dev_source, label_names, task_type)

    def encode(self, tokenizer, examples, max_seq_length, split="train"):
        """`(inputs, labels)` arrays of `examples`."""
        x = _encoder_inputs(self.task_type, tokenizer, examples, max_seq_length)
        if self.regression:
            return x, np.array([float(e.label) for e in examples], np.float64 if split != "train" else np.float32)
        if split == "train":
            return x, classification_features.label_ids(examples, self.label_names, split="train")
        return x, classification_features.label_ids(examples, self.label_names)

    def scorer(self, tokenizer, examples, options):
        """`model -> metrics` on `examples` (None without examples)."""
        if examples is None:
            return None
        x, y = self.encode(tokenizer, examples, options.max_seq_length, split="eval")
        return lambda model: classification_eval(model, x, y, regression=self.regression,
                                                 batch_size=options.eval_batch_size,
                                                 num_classes=len(self.label_names))


def _encoder_inputs(task_type, tokenizer, examples, max_seq_length):
    """The model inputs of `examples`: each pair packed as one sequence, or (bi-encoder) each sentence alone."""
    if task_type == "bi_encoder":
        return classification_features.encode_pairs_separately(tokenizer, examples, max_seq_length)
    return classification_features.encode_examples(tokenizer, examples, max_seq_length)


def _model_builder(setup, data, pooling, dropout, head_initializer, train_y, score_range):
    """A fresh task model on a fresh copy of the starting encoder (one per learning rate of the sweep); a
    pre-trained task of the same type gives its head's weights; a new regressor's bias starts at `train_y`'s mean;
    a bi-encoder's scores span `score_range`."""
    from bert_tf.tasks import BertBiEncoder, BertClassifier, BertRegressor
    new_encoder = setup.encoder_copies()
    pretrained_task = setup.pretrained_task
    label_mean = float(np.mean(train_y)) if data.task_type == "regressor" else None

    def build_model(dtype):
        if data.task_type == "bi_encoder":
            # dropout and head_initializer do not apply: the head is a cosine, with no weights of its own.
            model = BertBiEncoder(new_encoder(dtype), pooling=pooling, score_range=score_range)
        elif data.regression:
            model = BertRegressor(new_encoder(dtype), pooling=pooling, dropout=dropout,
                                  head_initializer=head_initializer)
            # The output bias starts at the training labels' mean (STS scores are 0-5, mean ~2.7): Adam moves
            # a weight by about the learning rate per step, so from 0 the bias alone could not reach it in a
            # few hundred steps and the encoder's features would be bent to make up the offset.
            model.head.dense.bias.assign([label_mean])
        else:
            model = BertClassifier(new_encoder(dtype), len(data.label_names), pooling=pooling, dropout=dropout,
                                   label_names=data.label_names, head_initializer=head_initializer)
        if pretrained_task is not None and pretrained_task.task_type == model.task_type:
            model.head.set_weights(pretrained_task.head.get_weights())
        return model
    return build_model


def evaluate_file(model, tokenizer, eval_file: str, *, data_format: str | None, max_seq_length: int,
                  batch_size: int = 64, columns=(None, None, None, True)) -> dict:
    """Metrics of a fine-tuned classifier/regressor on a labelled file (labels must be the model's)."""
    data_format = data_format or _guess_format(eval_file)
    regression = _is_regressor(model)
    examples = _read(eval_file, data_format, columns, regression)
    inputs = _encoder_inputs(getattr(model, "task_type", None), tokenizer, examples, max_seq_length)
    if regression:
        labels = np.array([float(e.label) for e in examples], np.float64)
    else:
        names = model.label_names or [str(i) for i in range(model.num_classes)]
        labels = classification_features.label_ids(examples, names)
    return classification_eval(model, inputs, labels, regression=regression, batch_size=batch_size,
                               num_classes=getattr(model, "num_classes", None))


def guess_format(path):
    """The data format of a file from its extension (`.csv`, `.tsv`/`.txt`, `.jsonl`)."""
    ext = os.path.splitext(path)[1].lower()
    formats = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".txt": "tsv"}
    if ext not in formats:
        raise FinetuneError(f"cannot guess the data format of {path}; pass data_format")
    return formats[ext]


_guess_format = guess_format  # the old private name (scripts/run_classifier.py used it)


def predict_classifier(model, tokenizer, predict_file: str, output_path: str, *, data_format: str,
                       max_seq_length: int, batch_size: int = 64, text_a_column=None, text_b_column=None,
                       label_column=None, has_header=True) -> str:
    """Writes `guid<TAB>prediction<TAB>probability-or-score` (plus the text) for every row of `predict_file`."""
    regression = _is_regressor(model)
    examples = _read(predict_file, data_format, (text_a_column, text_b_column, label_column, has_header),
                     regression, labeled=False)
    inputs = _encoder_inputs(getattr(model, "task_type", None), tokenizer, examples, max_seq_length)
    outputs = np.asarray(predict(model, inputs, batch_size), np.float64)
    with atomic_write(output_path) as f:
        if regression:
            f.write("guid\tscore\ttext_a\ttext_b\n")
            for example, score in zip(examples, outputs.reshape(-1)):
                f.write(f"{example.guid}\t{score:.6f}\t{_clean(example.text_a)}\t{_clean(example.text_b or '')}\n")
        else:
            names = model.label_names or [str(i) for i in range(model.num_classes)]
            probabilities = softmax(outputs)
            f.write("guid\tprediction\tprobability\ttext_a\ttext_b\n")
            for example, p in zip(examples, probabilities):
                k = int(p.argmax())
                f.write(f"{example.guid}\t{names[k]}\t{p[k]:.6f}\t{_clean(example.text_a)}\t"
                        f"{_clean(example.text_b or '')}\n")
    return output_path


def _is_regressor(model):
    """Whether `model` outputs one score per input (a regressor or a bi-encoder), not class logits."""
    return getattr(model, "task_type", None) in SCORING_TASK_TYPES


def _clean(text):
    return text.replace("\t", " ").replace("\n", " ")
