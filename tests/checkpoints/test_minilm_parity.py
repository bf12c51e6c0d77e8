"""Real pre-trained weights: all-MiniLM-L6-v2 (Hugging Face BertModel) matches Hugging Face's own outputs.

All 7 hidden states (embeddings + 6 layers) and the pooled output, both reference batches, max abs diff
≤ 1e-5 on real (attention_mask == 1) positions; the same after a Google TF1 round trip and after a `.keras`
round trip; and swapping two layers' weights must break it.
"""

import numpy as np
import pytest

from bert_tf.checkpoints import detect_format, load_encoder, read_checkpoint, save_google_tf1
from checkpoint_helpers import MINILM_REFERENCE, encoder_diffs

pytestmark = pytest.mark.slow
TOL = 1e-5
BATCHES = ("singles/", "pairs/")


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(MINILM_REFERENCE))


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return load_encoder(minilm_dir)


def _assert_parity(encoder, ref):
    for batch in BATCHES:
        diffs = encoder_diffs(encoder, ref, batch)
        assert len(diffs) == 2 + 7
        assert max(diffs.values()) <= TOL, (batch, diffs)
    return diffs


def test_minilm_matches_hugging_face(minilm, minilm_dir, ref):
    assert detect_format(minilm_dir) == "hf"
    config = minilm.bert_config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.vocab_size) == \
        (6, 384, 12, 30522)
    assert config.do_lower_case is True and config.hidden_act == "gelu"
    _assert_parity(minilm, ref)


def test_minilm_key_set_is_bertmodel_with_position_ids_ignored(minilm_dir):
    checkpoint = read_checkpoint(minilm_dir)
    assert checkpoint.ignored == ["embeddings.position_ids"]
    assert not checkpoint.has_mlm and not checkpoint.has_nsp
    assert checkpoint.sources["layer_5/attention/query/kernel"] == "encoder.layer.5.attention.self.query.weight"
    assert len(checkpoint.sources) == 5 + 6 * 16 + 2


def test_minilm_after_google_tf1_round_trip(minilm, minilm_dir, ref, tmp_path):
    prefix = save_google_tf1(minilm, str(tmp_path / "google"), vocab_file=f"{minilm_dir}/vocab.txt")
    assert detect_format(str(tmp_path / "google")) == "google_tf1"
    reloaded = load_encoder(prefix)
    assert reloaded.bert_config == minilm.bert_config
    _assert_parity(reloaded, ref)


def test_minilm_after_keras_round_trip(minilm, ref, tmp_path):
    path = str(tmp_path / "minilm.keras")
    minilm.save(path)
    _assert_parity(load_encoder(path), ref)


def test_swapping_two_layers_breaks_parity(minilm_dir, ref):
    broken = load_encoder(minilm_dir)
    a, b = broken.transformer_layers[2], broken.transformer_layers[3]
    weights_a, weights_b = a.get_weights(), b.get_weights()
    a.set_weights(weights_b)
    b.set_weights(weights_a)
    diffs = encoder_diffs(broken, ref, "singles/")
    # Embeddings and the layers before the swap are untouched; from layer 3 on the outputs are far off.
    assert max(diffs[f"hidden_states[{i}]"] for i in range(3)) <= TOL
    assert diffs["hidden_states[3]"] > 0.1 and diffs["sequence_output"] > 0.1 and diffs["pooled_output"] > 1e-3, diffs
