import json
import os

import keras
import numpy as np
import pytest

from bert_tf import tasks
import task_harness as harness
from task_harness import BATCH, CHOICES, CLASSES, SEQ


@pytest.mark.parametrize("pooling", ["cls", "mean", "cls_token", "max"])
def test_classifier(pooling, tmp_path):
    model = tasks.BertClassifier(harness.tiny_encoder(), CLASSES, pooling=pooling,
                                 label_names=[f"l{i}" for i in range(CLASSES)])
    x = harness.encoder_inputs()
    harness.run_task_harness(model, x, np.array([3, 1]), (BATCH, CLASSES), tmp_path)
    assert model.get_config()["pooling"] == pooling
    assert keras.models.load_model(os.path.join(tmp_path, "model.keras")).label_names == \
        ["l0", "l1", "l2", "l3", "l4"]


def test_classifier_mean_pooling_ignores_padding():
    model = tasks.BertClassifier(harness.tiny_encoder(), CLASSES, pooling="mean")
    x = harness.encoder_inputs()
    changed = {k: v.copy() for k, v in x.items()}
    changed["token_ids"][1, 5] = 9  # a padded position: must not change row 1's logits
    a, b = model(x, training=False), model(changed, training=False)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_classifier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pooling must be one of"):
        tasks.BertClassifier(harness.tiny_encoder(), CLASSES, pooling="avg")
    with pytest.raises(ValueError, match="2 label_names for num_classes=5"):
        tasks.BertClassifier(harness.tiny_encoder(), CLASSES, label_names=["a", "b"])
    with pytest.raises(TypeError, match="needs a bert_tf BertEncoder"):
        tasks.BertClassifier(keras.layers.Dense(3), CLASSES)


def test_regressor(tmp_path):
    model = tasks.BertRegressor(harness.tiny_encoder(), pooling="mean")
    harness.run_task_harness(model, harness.encoder_inputs(), np.array([4.2, 0.5], "float32"), (BATCH, 1), tmp_path)


def test_token_classifier(tmp_path):
    model = tasks.BertTokenClassifier(harness.tiny_encoder(), CLASSES)
    labels = np.full((BATCH, SEQ), -100, "int32")
    labels[0, 1:4] = [1, 2, 0]
    labels[1, 2] = 4
    history = harness.run_task_harness(model, harness.encoder_inputs(), labels, (BATCH, SEQ, CLASSES), tmp_path)
    assert "token_accuracy" in history.history


def test_token_classifier_loss_ignores_minus_100():
    model = tasks.BertTokenClassifier(harness.tiny_encoder(), CLASSES, dropout=0.0)
    model.compile()
    x = harness.encoder_inputs()
    labels = np.full((BATCH, SEQ), -100, "int32")
    labels[0, 2] = 3
    logits = np.asarray(model(x, training=False))
    shifted = logits[0, 2] - logits[0, 2].max()
    expected = -(shifted[3] - np.log(np.exp(shifted).sum()))
    loss = model.compute_loss(x=x, y=labels, y_pred=model(x, training=False))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)


def test_span_qa(tmp_path):
    model = tasks.BertSpanQA(harness.tiny_encoder())
    y = {"start_logits": np.array([2, 0]), "end_logits": np.array([4, 0])}
    harness.run_task_harness(model, harness.encoder_inputs(), y,
                             {"end_logits": (BATCH, SEQ), "start_logits": (BATCH, SEQ)}, tmp_path)
    out = model(harness.encoder_inputs(), training=False)
    assert np.all(np.asarray(out["start_logits"])[1, 4:] < -1000)  # padding


def test_multiple_choice(tmp_path):
    model = tasks.BertMultipleChoice(harness.tiny_encoder(), pooling="cls")
    x = harness.encoder_inputs(shape=(BATCH, CHOICES, SEQ))
    harness.run_task_harness(model, x, np.array([2, 0]), (BATCH, CHOICES), tmp_path)


def test_multiple_choice_scores_each_choice_independently():
    model = tasks.BertMultipleChoice(harness.tiny_encoder(), pooling="mean", dropout=0.0)
    x = harness.encoder_inputs(shape=(BATCH, CHOICES, SEQ))
    scores = np.asarray(model(x, training=False))
    # Scoring one (example, choice) pair alone as a 1-choice batch gives the same score.
    single = {k: v[1:2, 2:3] for k, v in x.items()}
    np.testing.assert_allclose(np.asarray(model(single, training=False))[0, 0], scores[1, 2], rtol=1e-5, atol=1e-5)
    # The number of choices may change between calls.
    assert tuple(model({k: v[:, :2] for k, v in x.items()}, training=False).shape) == (BATCH, 2)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_bi_encoder(pooling, tmp_path):
    model = tasks.BertBiEncoder(harness.tiny_encoder(), pooling=pooling, score_range=(1, 4))
    x = harness.encoder_inputs(shape=(BATCH, 2, SEQ))
    harness.run_task_harness(model, x, np.array([3.5, 1.25], "float32"), (BATCH, 1), tmp_path)
    assert model.get_config()["score_range"] == (1.0, 4.0)
    restored = keras.models.load_model(os.path.join(tmp_path, "model.keras"))
    assert restored.score_range == (1.0, 4.0) and restored.pooling == pooling and restored.task_type == "bi_encoder"


def test_bi_encoder_scores_the_cosine_of_each_sentence_encoded_alone():
    """score = low + (high - low) * cos(mean-pool(encoder(a)), mean-pool(encoder(b))), each row encoded alone;
    symmetric in the two sentences; padding changes nothing."""
    encoder = harness.tiny_encoder()
    model = tasks.BertBiEncoder(encoder, score_range=(-1.5, 3.5))
    x = harness.encoder_inputs(shape=(BATCH, 2, SEQ))
    scores = np.asarray(model(x, training=False)).reshape(-1)
    for i in range(BATCH):
        pooled = []
        for side in range(2):
            mask = x["padding_mask"][i, side].astype(bool)
            alone = {k: v[i:i + 1, side, :mask.sum()] for k, v in x.items()}  # no padding at all
            pooled.append(np.asarray(encoder(alone, training=False)["sequence_output"])[0].mean(0))
        cosine = pooled[0] @ pooled[1] / np.linalg.norm(pooled[0]) / np.linalg.norm(pooled[1])
        np.testing.assert_allclose(scores[i], -1.5 + 5.0 * cosine, rtol=1e-5, atol=1e-5)
    # The compiled loss is sentence-transformers' CosineSimilarityLoss: MSE of the cosine against score / 5 here.
    model.compile()
    gold = np.array([3.0, 0.5], "float32")
    loss = float(model.compute_loss(x=x, y=gold, y_pred=model(x, training=False)))
    np.testing.assert_allclose(loss, np.mean(((scores + 1.5) / 5.0 - (gold + 1.5) / 5.0) ** 2), rtol=1e-5)
    swapped = {k: v[:, ::-1] for k, v in x.items()}
    np.testing.assert_allclose(np.asarray(model(swapped, training=False)).reshape(-1), scores, rtol=1e-5, atol=1e-5)
    assert abs(scores[0] - scores[1]) > 1e-3  # distinct pairs, distinct scores


def test_bi_encoder_rejects_bad_arguments():
    for bad in [(3, 3), (4, 1), (0, float("nan")), (1,), "ab", None]:
        with pytest.raises(ValueError, match="score_range must be"):
            tasks.BertBiEncoder(harness.tiny_encoder(), score_range=bad)
    with pytest.raises(ValueError, match="pooling must be one of"):
        tasks.BertBiEncoder(harness.tiny_encoder(), pooling="avg")
    with pytest.raises(TypeError, match="needs a bert_tf BertEncoder"):
        tasks.BertBiEncoder(keras.layers.Dense(3))


def test_default_pooling(tmp_path, minilm_dir):
    assert tasks.default_pooling(minilm_dir) == "mean"
    assert tasks.default_pooling(os.path.join(minilm_dir, "model.safetensors")) == "mean"
    assert tasks.default_pooling(None) == "cls"
    assert tasks.default_pooling(str(tmp_path)) == "cls"
    os.makedirs(tmp_path / "1_Pooling")
    with open(tmp_path / "1_Pooling" / "config.json", "w") as f:
        json.dump({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, f)
    assert tasks.default_pooling(str(tmp_path)) == "cls_token"


@pytest.mark.parametrize("pooling", ["mean", "max", "cls_token"])
def test_write_pooling_config_is_what_default_pooling_reads(tmp_path, pooling):
    path = tasks.write_pooling_config(str(tmp_path / "model"), pooling, 48)
    assert tasks.default_pooling(str(tmp_path / "model")) == pooling
    with open(path) as f:
        values = json.load(f)
    assert values["word_embedding_dimension"] == 48 and sum(v is True for v in values.values()) == 1
    # "cls" (BERT's pooler) is what a directory without the file means: a stale declaration goes.
    assert tasks.write_pooling_config(str(tmp_path / "model"), "cls", 48) is None
    assert not os.path.exists(path) and tasks.default_pooling(str(tmp_path / "model")) == "cls"
    with pytest.raises(ValueError, match="unknown pooling 'avg'"):
        tasks.write_pooling_config(str(tmp_path / "model"), "avg", 48)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_the_fine_tuned_encoder_declares_the_pooling_its_head_used(tmp_path, pooling):
    """`--save_formats=hf` writes best_hf/; fine-tuning from it must pool the way the head it came from did
    (a mean-pooled MiniLM head's encoder read with BERT's untrained pooler would start near chance)."""
    from bert_tf.finetuning.outputs import export_formats
    encoder = harness.tiny_encoder()
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(f"t{i}" for i in range(encoder.bert_config.vocab_size)) + "\n")
    out = tmp_path / "out"
    out.mkdir()  # the fine-tuning run's output directory
    paths = export_formats(tasks.BertClassifier(encoder, CLASSES, pooling=pooling), str(out), ("keras", "hf"),
                           str(vocab))
    assert paths["hf"] == str(out / "best_hf") and os.path.isfile(out / "best_hf" / "model.safetensors")
    assert tasks.default_pooling(paths["hf"]) == pooling
    assert os.path.exists(out / "best_hf" / "1_Pooling") == (pooling != "cls")


@pytest.mark.parametrize("make", [
    lambda encoder: tasks.BertClassifier(encoder, CLASSES), lambda encoder: tasks.BertRegressor(encoder),
    lambda encoder: tasks.BertTokenClassifier(encoder, CLASSES), lambda encoder: tasks.BertSpanQA(encoder),
    lambda encoder: tasks.BertMultipleChoice(encoder), lambda encoder: tasks.BertBiEncoder(encoder)])
def test_max_seq_length_is_saved_with_the_model(make, tmp_path):
    """Fine-tuning records the length inputs were padded to (`max_seq_length`); the `.keras` file keeps it, and a
    model saved without it (before it was recorded) loads with None."""
    model = make(harness.tiny_encoder())
    assert model.max_seq_length is None and "max_seq_length" not in model.get_config()
    model.save(tmp_path / "before.keras")
    assert keras.models.load_model(tmp_path / "before.keras").max_seq_length is None
    model.max_seq_length = 24
    assert model.get_config()["max_seq_length"] == 24
    assert type(model).from_config(model.get_config()).max_seq_length == 24
    model.save(tmp_path / "model.keras")
    assert keras.models.load_model(tmp_path / "model.keras").max_seq_length == 24
