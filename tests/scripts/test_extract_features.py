"""scripts/extract_features.py on the real MiniLM weights reproduces Hugging Face's hidden states."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARITY = os.path.join(REPO_ROOT, "tests", "testdata", "parity")

SINGLES = [
    "The quick brown fox jumps over the lazy dog.",
    "BERT is designed to pre-train deep bidirectional representations from unlabeled text.",
    "Héllo, Wörld! naïve café résumé",
    "I can't believe it's 2026 already... wow!!!",
    "Unaffable tokenization of supercalifragilisticexpialidocious words",
]
PAIRS = [
    ("The man went to the store.", "He bought a gallon of milk."),
    ("The man went to the store.", "Penguins are flightless birds."),
    ("What is BERT?", "BERT stands for Bidirectional Encoder Representations from Transformers."),
]


def _run(args, tmp_path):
    return subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts", "extract_features.py"), *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)


@pytest.mark.slow
def test_extract_features_matches_hugging_face_reference(minilm_dir, tmp_path):
    reference = np.load(os.path.join(PARITY, "minilm_l6_reference.npz"))
    input_file = tmp_path / "input.txt"
    input_file.write_text("\n".join(SINGLES + [f"{a} ||| {b}" for a, b in PAIRS]) + "\n", encoding="utf-8")
    output_file = tmp_path / "features.jsonl"
    result = _run([f"--input_file={input_file}", f"--output_file={output_file}", f"--init_checkpoint={minilm_dir}",
                   "--layers=-1,-2,-6", "--max_seq_length=40", "--batch_size=3"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in output_file.read_text(encoding="utf-8").splitlines()]
    assert [r["linex_index"] for r in records] == list(range(8))
    vocab = [line.rstrip("\n") for line in open(os.path.join(minilm_dir, "vocab.txt"), encoding="utf-8")]
    rows = [("singles", i) for i in range(5)] + [("pairs", i) for i in range(3)]
    worst = 0.0
    for record, (batch, row) in zip(records, rows):
        mask = reference[f"{batch}/attention_mask"][row].astype(bool)
        ids = reference[f"{batch}/input_ids"][row][mask]
        assert [f["token"] for f in record["features"]] == [vocab[i] for i in ids]
        hidden = reference[f"{batch}/hidden_states"][:, row][:, mask]  # (7, n, 384): embeddings, layers 1..6
        for position, feature in enumerate(record["features"]):
            assert [layer["index"] for layer in feature["layers"]] == [-1, -2, -6]
            for layer in feature["layers"]:
                expected = hidden[7 + layer["index"], position]  # index -1 is hidden_states[6]
                values = np.asarray(layer["values"])
                assert values.shape == (384,)
                worst = max(worst, float(np.abs(values - expected).max()))
    assert worst <= 1e-5, worst


@pytest.mark.slow
def test_extract_features_mean_pooling_and_bad_input(minilm_dir, tmp_path):
    reference = np.load(os.path.join(PARITY, "minilm_l6_reference.npz"))
    input_file = tmp_path / "input.txt"
    input_file.write_text(SINGLES[0] + "\n" + SINGLES[2] + "\n", encoding="utf-8")
    output_file = tmp_path / "pooled.jsonl"
    result = _run([f"--input_file={input_file}", f"--output_file={output_file}", f"--init_checkpoint={minilm_dir}",
                   "--pooling=mean", "--layers=-1"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in output_file.read_text(encoding="utf-8").splitlines()]
    for record, row in zip(records, (0, 2)):
        mask = reference["singles/attention_mask"][row].astype(bool)
        expected = reference["singles/sequence_output"][row][mask].mean(axis=0)
        assert record["pooling"] == "mean"
        np.testing.assert_allclose(record["layers"][0]["values"], expected, atol=1e-5)

    # An empty line is a clear error naming the line, not a traceback.
    bad = tmp_path / "bad.txt"
    bad.write_text("fine text\n\nmore\n", encoding="utf-8")
    result = _run([f"--input_file={bad}", f"--output_file={tmp_path / 'x.jsonl'}", f"--init_checkpoint={minilm_dir}"],
                  tmp_path)
    assert result.returncode != 0
    assert "bad.txt:2: empty line" in result.stderr
    assert "Traceback" not in result.stderr
    # A missing file too.
    result = _run([f"--input_file={tmp_path / 'nope.txt'}", f"--output_file={tmp_path / 'x.jsonl'}",
                   f"--init_checkpoint={minilm_dir}"], tmp_path)
    assert result.returncode != 0 and "input file not found" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.slow
def test_extract_features_truncates_long_text_with_warning(minilm_dir, tmp_path):
    input_file = tmp_path / "input.txt"
    input_file.write_text(" ".join(["word"] * 50) + " ||| " + " ".join(["other"] * 5) + "\n", encoding="utf-8")
    output_file = tmp_path / "features.jsonl"
    result = _run([f"--input_file={input_file}", f"--output_file={output_file}", f"--init_checkpoint={minilm_dir}",
                   "--max_seq_length=16", "--layers=-1"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "line 1: 42 word pieces truncated" in result.stderr
    tokens = [f["token"] for f in json.loads(output_file.read_text(encoding="utf-8"))["features"]]
    # Longest-first: the long side is cut until both fit; the short side stays whole.
    assert len(tokens) == 16 and tokens.count("other") == 5 and tokens.count("word") == 8


def _tiny_batch():
    """A tiny random encoder and three lines of different lengths, packed as extract_features packs one batch
    (padded to the longest line): (encoder, tokenizer, examples, the batch's encoder inputs)."""
    from bert_tf import BertConfig, BertEncoder, feature_extraction, features
    from bert_tf.tokenization import BertTokenizer
    keras.utils.set_random_seed(5)
    encoder = BertEncoder.from_bert_config(BertConfig.preset("test", vocab_size=30522))
    tokenizer = BertTokenizer(os.path.join(REPO_ROOT, "tests", "testdata", "vocab", "uncased_vocab.txt"),
                              do_lower_case=True)
    examples = [feature_extraction.LineExample(0, "a much longer line than the others, with many more words"),
                feature_extraction.LineExample(1, "short"),
                feature_extraction.LineExample(2, "a pair", "of two texts")]
    encoded = [feature_extraction._encode(tokenizer, example, 64) for example in examples]
    length = max(len(ids) for _, ids, _ in encoded)
    inputs = {name: np.zeros((len(examples), length), np.int32) for name in features.ENCODER_INPUTS}
    for row, (_, ids, segments) in enumerate(encoded):
        inputs[features.TOKEN_IDS][row, :len(ids)] = ids
        inputs[features.SEGMENT_IDS][row, :len(ids)] = segments
        inputs[features.PADDING_MASK][row, :len(ids)] = 1
    return encoder, tokenizer, examples, inputs


def test_mean_pooling_is_masked_mean_on_a_padded_batch():
    """extract_features' `mean` is bert_tf.heads' masked_mean (the encoder export's): equal on a padded batch,
    and equal to the plain numpy mean over each line's real tokens (what it computed before)."""
    from bert_tf import feature_extraction, features
    from bert_tf.heads.sequence_pooling import masked_mean
    encoder, tokenizer, examples, inputs = _tiny_batch()
    mask = inputs[features.PADDING_MASK]
    assert (mask == 0).any() and mask.sum(axis=1).tolist()[1] < mask.shape[1]  # real padding in the batch
    records = list(feature_extraction.extract_features(encoder, tokenizer, examples, layers=[-1, 0], batch_size=3,
                                                       max_seq_length=64, pooling="mean"))
    all_layers = encoder(inputs, training=False)[features.ENCODER_OUTPUTS]
    for position, layer in enumerate([-1, 0]):
        expected = np.asarray(masked_mean(np.asarray(all_layers[layer], np.float32), mask))
        for row, record in enumerate(records):
            assert record["pooling"] == "mean" and record["layers"][position]["index"] == layer
            assert record["layers"][position]["values"] == [round(float(v), 6) for v in expected[row]]
            values = np.asarray(record["layers"][position]["values"])
            n = int(mask[row].sum())
            np.testing.assert_allclose(values, np.asarray(all_layers[layer])[row, :n].mean(axis=0), atol=2e-6)


def test_cls_token_pooling_and_the_deprecated_cls():
    """`cls_token` is the raw [CLS] vector (SequencePooling's name); `cls`, its old name here, warns and gives
    the same records; other names are refused with the list of modes."""
    from bert_tf import feature_extraction, features
    encoder, tokenizer, examples, inputs = _tiny_batch()
    new = list(feature_extraction.extract_features(encoder, tokenizer, examples, layers=[-1], max_seq_length=64,
                                                   pooling="cls_token"))
    cls_vectors = np.asarray(encoder(inputs, training=False)[features.ENCODER_OUTPUTS][-1])[:, 0]
    for row, record in enumerate(new):
        assert record["pooling"] == "cls_token"
        np.testing.assert_allclose(record["layers"][0]["values"], cls_vectors[row], atol=1e-6)
    with pytest.warns(DeprecationWarning, match="extract_features: pooling='cls' for the raw .CLS. vector"):
        old = list(feature_extraction.extract_features(encoder, tokenizer, examples, layers=[-1],
                                                       max_seq_length=64, pooling="cls"))
    assert old == new
    with pytest.raises(ValueError, match=r"pooling must be one of \('none', 'cls_token', 'mean'\)"):
        list(feature_extraction.extract_features(encoder, tokenizer, examples, pooling="max"))


@pytest.mark.slow
def test_extract_features_cls_token_flag_and_the_deprecated_cls(minilm_dir, tmp_path):
    input_file = tmp_path / "input.txt"
    input_file.write_text(SINGLES[0] + "\n", encoding="utf-8")
    outputs = {}
    for pooling in ("cls_token", "cls"):
        outputs[pooling] = tmp_path / f"{pooling}.jsonl"
        result = _run([f"--input_file={input_file}", f"--output_file={outputs[pooling]}",
                       f"--init_checkpoint={minilm_dir}", f"--pooling={pooling}", "--layers=-1"], tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert ("WARNING: --pooling=cls is deprecated" in result.stderr) == (pooling == "cls")
    reference = np.load(os.path.join(PARITY, "minilm_l6_reference.npz"))
    record = json.loads(outputs["cls_token"].read_text(encoding="utf-8"))
    assert record["pooling"] == "cls_token"
    np.testing.assert_allclose(record["layers"][0]["values"], reference["singles/sequence_output"][0][0], atol=1e-5)
    assert outputs["cls"].read_text(encoding="utf-8") == outputs["cls_token"].read_text(encoding="utf-8")
