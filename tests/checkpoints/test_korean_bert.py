"""The built-in Korean BERT: ships inside the package, verified by checksum, loads everywhere MiniLM does, and its
masked-LM head has learned Korean (held-out reviews it never saw score far below the uniform-guess loss)."""

import os
import shutil

import numpy as np
import pytest

from bert_tf import checkpoints, pretrained
from bert_tf.tokenization import BertTokenizer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NSMC_TEST = os.path.join(REPO, "bert_tf", "resources", "nsmc", "ratings_test.txt")


def test_korean_bert_dir_is_in_the_package_and_checksummed():
    path = pretrained.korean_bert_dir()
    assert path.startswith(os.path.join(REPO, "bert_tf", "resources"))
    assert pretrained.KOREAN_BERT_SHA256 is not None  # so verify=True really checks
    weights = os.path.join(path, "model.safetensors")
    assert os.path.getsize(weights) <= 25 * 2**20
    for name in ("config.json", "bert_config.json", "vocab.txt", "README.md", "1_Pooling/config.json"):
        assert os.path.isfile(os.path.join(path, name)), name


def test_a_changed_byte_fails_verification(tmp_path, monkeypatch):
    copy = tmp_path / "korean_bert"
    shutil.copytree(pretrained.korean_bert_dir(), copy)
    with open(copy / "model.safetensors", "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    monkeypatch.setattr(pretrained, "KOREAN_BERT_DIR", str(copy))
    with pytest.raises(pretrained.PretrainedNotFoundError, match="SHA-256"):
        pretrained.korean_bert_dir()
    assert pretrained.korean_bert_dir(verify=False) == str(copy)


def test_loads_cased_and_tokenizes_korean_without_unk():
    path = pretrained.korean_bert_dir()
    encoder = checkpoints.load_encoder(path)
    config = encoder.bert_config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (4, 256, 4)
    assert config.do_lower_case is False  # uncased normalization would split Hangul syllables into jamo
    tokenizer = BertTokenizer(checkpoints.find_vocab(path), do_lower_case=config.do_lower_case)
    assert tokenizer.vocab_size == config.vocab_size
    tokens = tokenizer.tokenize("배우들 연기가 정말 훌륭하고 마지막 장면에서 눈물이 났어요")
    assert "[UNK]" not in tokens and len(tokens) >= 8
    from bert_tf.tasks import default_pooling
    assert default_pooling(path) == "mean"  # MLM-only pre-training never trained the [CLS] pooler


@pytest.mark.slow
def test_masked_lm_head_predicts_held_out_korean():
    """Masked-LM loss on NSMC reviews of the bundled test file (never in the pre-training corpus): every 7th
    non-special piece masked. A model that learned nothing scores about ln(vocab) = 9.7; the shipped model measured
    6.85 (its held-out whole-word MLM loss on the pre-training corpus' held-out documents is 5.72)."""
    path = pretrained.korean_bert_dir()
    model = checkpoints.load_pretrainer(path, nsp=False)
    tokenizer = BertTokenizer(checkpoints.find_vocab(path), do_lower_case=False)
    with open(NSMC_TEST, encoding="utf-8") as f:
        texts = [line.split("\t")[1] for line in list(f)[1:201]]
    losses = []
    for text in texts:
        enc = tokenizer.encode(text, max_seq_length=64)
        n = int(enc["padding_mask"].sum())
        positions = np.arange(1, n - 1)[::7][:10]
        if not len(positions):
            continue
        ids = enc["token_ids"].copy()
        gold = ids[positions].copy()
        ids[positions] = tokenizer.mask_id
        x = {"token_ids": ids[None], "segment_ids": enc["segment_ids"][None], "padding_mask": enc["padding_mask"][None],
             "masked_positions": positions[None].astype("int32")}
        logits = np.asarray(model(x, training=False)["mlm_logits"], np.float64)[0]
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        losses.extend(-log_probs[np.arange(len(gold)), gold])
    assert len(losses) > 300
    assert np.mean(losses) < 7.3, np.mean(losses)
