"""Every fine-tuning head: shapes, get_config round trip, `.keras` round trip inside a model, training vs inference."""

import os
import warnings

import keras
import numpy as np
import pytest

from bert_tf import heads

B, T, H, C, CHOICES = 2, 7, 12, 5, 3


def _sequence(seed=0, batch=B):
    return np.random.default_rng(seed).normal(size=(batch, T, H)).astype("float32")


def _mask(batch=B):
    mask = np.ones((batch, T), "int32")
    mask[1, 4:] = 0
    return mask


def _roundtrip(layer, build_model, feed, tmp_path):
    """Config round trip, then the layer inside a functional model saved as .keras and reloaded."""
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    model = build_model(layer)
    expected = model(feed, training=False)
    path = os.path.join(str(tmp_path), "head.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    for a, b in zip(keras.tree.flatten(expected), keras.tree.flatten(restored(feed, training=False))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    return model


@pytest.mark.parametrize("pooling", heads.POOLING_MODES)
def test_classification_head(pooling, tmp_path):
    head = heads.ClassificationHead(C, pooling=pooling, dropout=0.5)
    seq, pooled, mask = _sequence(), np.random.default_rng(1).normal(size=(B, H)).astype("float32"), _mask()
    out = head(seq, pooled_output=pooled, padding_mask=mask)
    assert tuple(out.shape) == (B, C)
    assert not np.allclose(head(seq, pooled_output=pooled, padding_mask=mask, training=True), out)

    def build(layer):
        s = keras.Input((T, H))
        p = keras.Input((H,))
        m = keras.Input((T,), dtype="int32")
        return keras.Model([s, p, m], layer(s, pooled_output=p, padding_mask=m))
    _roundtrip(head, build, [seq, pooled, mask], tmp_path)


def test_sequence_pooling_values():
    seq = _sequence()
    mask = _mask()
    pooled = np.full((B, H), 7.0, "float32")
    np.testing.assert_allclose(heads.SequencePooling("cls")(seq, pooled_output=pooled), pooled)
    np.testing.assert_allclose(heads.SequencePooling("cls_token")(seq), seq[:, 0])
    np.testing.assert_allclose(heads.SequencePooling("mean")(seq, padding_mask=mask)[1], seq[1, :4].mean(0),
                               rtol=1e-5)
    np.testing.assert_allclose(heads.SequencePooling("max")(seq, padding_mask=mask)[1], seq[1, :4].max(0))
    with pytest.raises(ValueError, match="needs the padding_mask"):
        heads.SequencePooling("mean")(seq)


def test_cls_token_alias_of_feature_extraction_and_export():
    """Where "cls" meant the raw [CLS] vector (feature extraction, the encoder export) it is read as "cls_token",
    with a warning; SequencePooling's own "cls" (the pooler) is untouched."""
    from bert_tf.heads.sequence_pooling import cls_token_alias
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [cls_token_alias(mode, "x") for mode in ("cls_token", "mean", "none")] == ["cls_token", "mean", "none"]
    with pytest.warns(DeprecationWarning, match="somewhere: pooling='cls' for the raw .CLS. vector is deprecated.*"
                                                "use pooling='cls_token'"):
        assert cls_token_alias("cls", "somewhere") == "cls_token"
    assert heads.SequencePooling("cls").mode == "cls"


def test_token_classification_head(tmp_path):
    head = heads.TokenClassificationHead(C, dropout=0.5)
    seq = _sequence()
    out = head(seq)
    assert tuple(out.shape) == (B, T, C)
    assert not np.allclose(head(seq, training=True), out)

    def build(layer):
        s = keras.Input((T, H))
        return keras.Model(s, layer(s))
    _roundtrip(head, build, seq, tmp_path)


def test_span_head(tmp_path):
    head = heads.SpanHead()
    seq, mask = _sequence(), _mask()
    start, end = head(seq, padding_mask=mask)
    assert tuple(start.shape) == tuple(end.shape) == (B, T)
    start_free, end_free = head(seq)
    # The two outputs are the two columns of one dense layer: different numbers.
    assert not np.allclose(start_free, end_free)
    np.testing.assert_allclose(np.asarray(start)[1, 4:], np.asarray(start_free)[1, 4:] - 10000.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(start)[0], np.asarray(start_free)[0])

    def build(layer):
        s = keras.Input((T, H))
        m = keras.Input((T,), dtype="int32")
        return keras.Model([s, m], list(layer(s, padding_mask=m)))
    _roundtrip(head, build, [seq, mask], tmp_path)


def test_multiple_choice_head(tmp_path):
    head = heads.MultipleChoiceHead(pooling="mean", dropout=0.5)
    seq = _sequence(batch=B * CHOICES)
    ids = np.ones((B, CHOICES, T), "int32")
    mask = np.ones((B * CHOICES, T), "int32")
    out = head(seq, ids, padding_mask=mask)
    assert tuple(out.shape) == (B, CHOICES)
    # Row-major grouping: flat row i*C + j is example i, choice j.
    single = head(seq[5:6], ids[:1, :1], padding_mask=mask[5:6])
    np.testing.assert_allclose(np.asarray(single)[0, 0], np.asarray(out)[1, 2], rtol=1e-5)
    assert not np.allclose(head(seq, ids, padding_mask=mask, training=True), out)

    def build(layer):
        s = keras.Input((T, H))
        i = keras.Input((None, T), dtype="int32")
        m = keras.Input((T,), dtype="int32")
        return keras.Model([s, i, m], layer(s, i, padding_mask=m))
    _roundtrip(head, build, [seq, ids, mask], tmp_path)
