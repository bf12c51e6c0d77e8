"""The library entry point the demo calls: finetune_classifier on the bundled Banking77 data with real MiniLM."""

import os

import numpy as np
import pytest

from bert_tf.finetuning import FinetuneError, finetune_classifier

TESTDATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testdata")


@pytest.mark.slow
def test_finetune_classifier_defaults_with_minilm(minilm_dir, tmp_path):
    result = finetune_classifier(init_checkpoint=minilm_dir, max_train_steps=2, max_seq_length=16,
                                 train_batch_size=8, output_dir=str(tmp_path))
    # Bundled Banking77: 77 intents; the checkpoint's 1_Pooling/config.json chose mean pooling.
    assert result.eval_results["pooling"] == "mean" and result.model.pooling == "mean"
    assert result.eval_results["num_train_examples"] == 5000 and result.eval_results["num_examples"] == 1000
    assert len(result.label_names) == 77 and "card_arrival" in result.label_names
    assert result.model.label_names == result.label_names
    assert os.path.isfile(os.path.join(str(tmp_path), "best_model.keras"))
    # No optimizer state in it (issue 13): about the 91 MB of weights, not 273 MB with AdamW's two slots.
    assert os.path.getsize(os.path.join(str(tmp_path), "best_model.keras")) < 100_000_000
    encoded = result.tokenizer.encode("how do I top up my card?", max_seq_length=result.max_seq_length)
    logits = np.asarray(result.model({k: v[None] for k, v in encoded.items()}, training=False))
    assert logits.shape == (1, len(result.label_names))


def test_finetune_classifier_needs_weights_or_architecture(tmp_path):
    with pytest.raises(FinetuneError, match="--vocab_file is required"):
        finetune_classifier(output_dir=str(tmp_path))


@pytest.mark.parametrize("vocab", [False, True])
def test_wrong_init_checkpoint_path_is_named(tmp_path, vocab):
    """A typo in --init_checkpoint says there is no checkpoint there (it said "--vocab_file is required")."""
    vocab_file = os.path.join(TESTDATA, "vocab", "uncased_vocab.txt") if vocab else None
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(FinetuneError, match=f"--init_checkpoint: no checkpoint at {missing} "):
        finetune_classifier(init_checkpoint=missing, vocab_file=vocab_file, output_dir=str(tmp_path / "out"),
                            max_train_examples=8)


def _finetune_sts(tmp_path, name, task_type):
    """A generic tsv with numeric labels: a regressor only because `task_type` says so."""
    from bert_tf import BertConfig
    config_file = tmp_path / "bert_config.json"
    BertConfig.preset("test", vocab_size=30522).to_google_json(str(config_file))
    return finetune_classifier(
        os.path.join(TESTDATA, "korsts", "sts-train.tsv"), None, data_format="tsv", text_a_column="sentence1",
        text_b_column="sentence2", label_column="score", task_type=task_type, bert_config_file=str(config_file),
        vocab_file=os.path.join(TESTDATA, "vocab", "uncased_vocab.txt"), do_lower_case=True, max_seq_length=16,
        train_batch_size=8, max_train_steps=1, output_dir=str(tmp_path / name))


def test_task_types_are_the_task_classes_and_the_old_names_warn(tmp_path):
    """`task_type` takes the task classes' names (as export does); "classification"/"regression" still work for
    one release, with a DeprecationWarning."""
    from bert_tf.finetuning import classifier
    from bert_tf.tasks import BertBiEncoder, BertClassifier, BertRegressor
    assert classifier.TASK_TYPES == (BertClassifier.task_type, BertRegressor.task_type, BertBiEncoder.task_type) \
        == ("classifier", "regressor", "bi_encoder")
    with pytest.raises(FinetuneError, match=r"task_type must be one of \('classifier', 'regressor', 'bi_encoder'\)"):
        finetune_classifier(task_type="classifcation", output_dir=str(tmp_path))
    with pytest.warns(DeprecationWarning, match="task_type='classification' is deprecated.*use 'classifier'"), \
            pytest.raises(FinetuneError, match="--vocab_file is required"):
        finetune_classifier(task_type="classification", output_dir=str(tmp_path))


@pytest.mark.slow
def test_old_task_type_name_trains_the_same_model(tmp_path):
    """task_type="regression" (deprecated) trains the same `BertRegressor` as "regressor"."""
    from bert_tf.tasks import BertRegressor
    new = _finetune_sts(tmp_path, "new", "regressor")
    with pytest.warns(DeprecationWarning, match="task_type='regression' is deprecated.*use 'regressor'"):
        old = _finetune_sts(tmp_path, "old", "regression")
    for result in (new, old):
        assert isinstance(result.model, BertRegressor) and result.eval_results["task_type"] == "regressor"
    for old_weight, new_weight in zip(old.model.get_weights(), new.model.get_weights()):
        np.testing.assert_allclose(old_weight, new_weight)


@pytest.mark.parametrize("label_mean", [4.2, 1.3])
def test_regression_head_starts_at_the_training_label_mean(tmp_path, label_mean):
    """A regressor's output bias starts at the mean of its training labels, not 0: after one step at a learning
    rate too small to move anything, the bias is that mean and the predictions sit around it. Two sets with
    distinct means, so a constant start fails one of them."""
    from bert_tf import BertConfig
    rng = np.random.default_rng(int(label_mean * 10))
    scores = np.round(np.clip(label_mean + rng.normal(0.0, 0.8, size=40), 0.0, 5.0), 4)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away"]
    train = tmp_path / "train.tsv"
    with open(train, "w", encoding="utf-8") as f:
        f.write("sentence1\tsentence2\tscore\n")
        for i, score in enumerate(scores):
            f.write(f"{' '.join(rng.choice(words, 4 + i % 3))}\t{' '.join(rng.choice(words, 3 + i % 4))}\t"
                    f"{score:.4f}\n")
    assert abs(scores.mean() - label_mean) < 0.3
    config_file = tmp_path / "bert_config.json"
    BertConfig.preset("test", vocab_size=30522).to_google_json(str(config_file))
    result = finetune_classifier(
        str(train), None, data_format="tsv", text_a_column="sentence1", text_b_column="sentence2",
        label_column="score", task_type="regressor", bert_config_file=str(config_file),
        vocab_file=os.path.join(TESTDATA, "vocab", "uncased_vocab.txt"), do_lower_case=True, max_seq_length=16,
        train_batch_size=8, max_train_steps=1, learning_rate=1e-9, output_dir=str(tmp_path / "out"))
    assert result.eval_results["num_train_examples"] == 40  # one learning rate, no dev file: nothing carved
    assert float(np.asarray(result.model.head.dense.bias)[0]) == pytest.approx(scores.mean(), abs=1e-4)
    encoded = [result.tokenizer.encode(f"{w} sat", max_seq_length=16) for w in words]
    batch = {k: np.stack([e[k] for e in encoded]) for k in encoded[0]}
    predictions = np.asarray(result.model(batch, training=False))[:, 0]
    assert abs(predictions.mean() - scores.mean()) < 0.6, (predictions.mean(), scores.mean())


def _bi_encoder_run(tmp_path, name, train_file, data_format, **kwargs):
    from bert_tf import BertConfig
    config_file = tmp_path / "bert_config.json"
    BertConfig.preset("test", vocab_size=30522).to_google_json(str(config_file))
    return finetune_classifier(
        train_file, kwargs.pop("eval_file", None), data_format=data_format, task_type="bi_encoder",
        bert_config_file=str(config_file), vocab_file=os.path.join(TESTDATA, "vocab", "uncased_vocab.txt"),
        do_lower_case=False, max_seq_length=kwargs.pop("max_seq_length", 24), train_batch_size=8,
        output_dir=str(tmp_path / name), **kwargs)


@pytest.mark.slow
def test_finetune_bi_encoder_on_korsts(tmp_path):
    """task_type="bi_encoder" trains a `BertBiEncoder`: mean pooling for a checkpoint without a pooling config,
    scores on KorSTS's published 0-5 scale (not this sample's 0.6-5.0), each sentence packed alone (so
    `max_seq_length` bounds each sentence, not the pair); evaluate_file and predict_classifier score it like a
    regressor, with the same numbers as the model on the same ids."""
    from bert_tf.data import classification_features, readers
    from bert_tf.finetuning import classifier
    from bert_tf.tasks import BertBiEncoder
    train_file = os.path.join(TESTDATA, "korsts", "sts-train.tsv")
    eval_file = os.path.join(TESTDATA, "korsts", "sts-dev.tsv")
    result = _bi_encoder_run(tmp_path, "bi", train_file, "korsts", eval_file=eval_file, max_train_steps=3,
                             max_seq_length=16)
    labels = [float(e.label) for e in readers.read_examples(train_file, "korsts")]
    assert isinstance(result.model, BertBiEncoder)
    assert (min(labels), max(labels)) == (0.6, 5.0)  # this sample's span
    assert result.model.score_range == (0.0, 5.0) and result.eval_results["score_range"] == [0.0, 5.0]
    assert result.eval_results["task_type"] == "bi_encoder" and result.eval_results["pooling"] == "mean"
    assert result.model.max_seq_length == 16 and {"pearson", "spearman"} <= set(result.eval_results)
    examples = readers.read_examples(eval_file, "korsts")
    inputs = classification_features.encode_pairs_separately(result.tokenizer, examples, 16)
    assert inputs["token_ids"].shape == (20, 2, 16)
    np.testing.assert_array_equal(inputs["token_ids"][3, 1],
                                  result.tokenizer.encode(examples[3].text_b, max_seq_length=16)["token_ids"])
    scores = np.asarray(result.model(inputs, training=False)).reshape(-1)
    assert np.all((scores >= -5.0) & (scores <= 5.0)) and np.ptp(scores) > 0
    gold = np.array([float(e.label) for e in examples])
    from bert_tf import metrics
    evaluated = classifier.evaluate_file(result.model, result.tokenizer, eval_file, data_format="korsts",
                                         max_seq_length=16)
    assert evaluated["pearson"] == pytest.approx(metrics.pearson(gold, scores), abs=1e-5)
    assert result.eval_results["pearson"] == pytest.approx(evaluated["pearson"], abs=1e-5)
    path = classifier.predict_classifier(result.model, result.tokenizer, eval_file, str(tmp_path / "pred.tsv"),
                                         data_format="korsts", max_seq_length=16)
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    np.testing.assert_allclose([float(r[1]) for r in rows], scores, atol=1e-5)
    assert rows[3][3] == examples[3].text_b


def test_bi_encoder_needs_pairs_and_a_score_range(tmp_path):
    from bert_tf.data.errors import DataError
    nsmc = os.path.join(TESTDATA, "nsmc", "ratings_train.txt")
    with pytest.raises(DataError, match=r"ratings_train.txt: a bi-encoder trains on sentence pairs with similarity "
                                        r"scores \(data_format korsts, klue_sts, csv, tsv, jsonl\); nsmc data has"):
        _bi_encoder_run(tmp_path, "nsmc", nsmc, "nsmc", max_train_steps=1)
    single = tmp_path / "single.tsv"
    single.write_text("sentence\tscore\nthe cat sat\t1.5\na dog ran\t3.0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"single.tsv:2: a bi-encoder scores sentence pairs, and this example has "
                                        r"no second text"):
        _bi_encoder_run(tmp_path, "single", str(single), "tsv", text_a_column="sentence", label_column="score",
                        max_train_steps=1)
    constant = tmp_path / "constant.tsv"
    constant.write_text("a\tb\tscore\nthe cat sat\ton the mat\t2\na dog ran\tfar away\t2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"every training score is 2; pass score_range \(--score_range\)"):
        _bi_encoder_run(tmp_path, "constant", str(constant), "tsv", text_a_column="a", text_b_column="b",
                        label_column="score", max_train_steps=1)


def test_bi_encoder_score_range(tmp_path):
    """`score_range` sets the scores cosine 0 and 1 map to; without it a generic file's scores span its training
    labels; a score outside the range, a malformed range, or a range for another task type is a clear error."""
    from bert_tf.data.errors import DataError
    scores = tmp_path / "scores.tsv"
    scores.write_text("a\tb\tscore\nthe cat sat\ton the mat\t2.5\na dog ran\tfar away\t7\n"
                      "birds sing\tin the trees\t4\n", encoding="utf-8")
    columns = dict(text_a_column="a", text_b_column="b", label_column="score", max_train_steps=1)
    spanned = _bi_encoder_run(tmp_path, "span", str(scores), "tsv", **columns)
    assert spanned.model.score_range == (2.5, 7.0) and spanned.eval_results["score_range"] == [2.5, 7.0]
    given = _bi_encoder_run(tmp_path, "given", str(scores), "tsv", score_range=["0", "10"], **columns)
    assert given.model.score_range == (0.0, 10.0)
    with pytest.raises(DataError, match=r"scores.tsv: 1 training score\(s\) lie outside the bi-encoder's score "
                                        r"range 0-5 \(for example 7\)"):
        _bi_encoder_run(tmp_path, "outside", str(scores), "tsv", score_range=(0, 5), **columns)
    with pytest.raises(FinetuneError, match=r"score_range must be finite with low < high, got \(5, 1\)"):
        _bi_encoder_run(tmp_path, "reversed", str(scores), "tsv", score_range=(5, 1), **columns)
    with pytest.raises(FinetuneError, match=r"score_range must be two numbers \(low, high\), got \['0'\]"):
        _bi_encoder_run(tmp_path, "one", str(scores), "tsv", score_range=["0"], **columns)
    with pytest.raises(FinetuneError, match="score_range applies to task_type='bi_encoder'.*not 'regressor'"):
        finetune_classifier(str(scores), data_format="tsv", task_type="regressor", score_range=(0, 5),
                            output_dir=str(tmp_path / "reg"), **columns)
