"""bert_tf's bi-encoder against sentence-transformers on the built-in Korean BERT: the same cosines, the same
`CosineSimilarityLoss` and the same gradient for every weight (reference made by
`benchmarks/bi_encoder_reference.py` with sentence-transformers 6.3.0, see the JSON's `made_by`)."""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # benchmarks/
from benchmarks.bi_encoder_reference import OUTPUT as REFERENCE, projection_of  # noqa: E402


def test_bi_encoder_matches_sentence_transformers_cosines_loss_and_gradients():
    import tensorflow as tf
    from bert_tf import checkpoints
    from bert_tf.checkpoints import model_weights, names
    from bert_tf.data import classification_features
    from bert_tf.data.examples import TextExample
    from bert_tf.pretrained import KOREAN_BERT_SHA256, korean_bert_dir
    from bert_tf.tasks import BertBiEncoder
    from bert_tf.tokenization import BertTokenizer
    with open(REFERENCE, encoding="utf-8") as f:
        ref = json.load(f)
    assert ref["model_sha256"] == KOREAN_BERT_SHA256  # regenerate the reference when the built-in model changes
    path = korean_bert_dir()
    encoder = checkpoints.load_encoder(path)
    tokenizer = BertTokenizer(checkpoints.find_vocab(path), do_lower_case=encoder.bert_config.do_lower_case)
    model = BertBiEncoder(encoder, pooling="mean", score_range=(0.0, ref["score_scale"]))
    model.compile()  # the task's own loss and loss weight: what fine-tuning trains
    examples = [TextExample(str(p["row"]), p["text_a"], p["text_b"], str(p["score"])) for p in ref["pairs"]]
    x = classification_features.encode_pairs_separately(tokenizer, examples, ref["max_seq_length"])
    y = np.array([[p["score"]] for p in ref["pairs"]], np.float32)
    variables = model_weights.encoder_variables(encoder)
    with tf.GradientTape() as tape:
        scores = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=scores, training=False)
    np.testing.assert_allclose(np.asarray(scores)[:, 0] / ref["score_scale"], ref["cosines"], atol=2e-6)
    assert float(loss) == pytest.approx(ref["loss"], rel=2e-5)
    canonical = list(variables)
    grads = tape.gradient(loss, [variables[c] for c in canonical])
    config = encoder.bert_config
    got = {}
    for name, grad in zip(canonical, grads):
        if grad is None:
            continue
        key = names.foreign_name(names.HUGGING_FACE, name, config.num_hidden_layers)
        shape = model_weights._canonical_shape_of(name, variables[name])  # (H, N, D) query kernel -> (H, N*D)
        grad = np.reshape(np.asarray(tf.convert_to_tensor(grad)), shape)
        got[key] = names.from_canonical(names.HUGGING_FACE, name, grad, config)  # as save_hf writes the weight
    assert sorted(got) == sorted(ref["gradients"])  # the same weights get a gradient (not the unused pooler)
    for key, expected in ref["gradients"].items():
        assert np.linalg.norm(got[key]) == pytest.approx(expected["norm"], rel=1e-3, abs=1e-8), key
        assert projection_of(key, got[key]) == pytest.approx(expected["projection"], rel=1e-3, abs=1e-6), key
