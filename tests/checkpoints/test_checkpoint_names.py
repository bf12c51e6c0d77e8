"""The foreign-name tables and the strict planner, on names and shapes alone (no tensors)."""

import os
import re

import numpy as np
import pytest

from bert_tf import BertConfig
from bert_tf.checkpoints import CheckpointError, names
from checkpoint_helpers import PARITY

CHINESE = os.path.join(PARITY, "google_tf1_chinese_base")
# Distinct sizes: hidden 12 (3 heads of 4), intermediate 37, vocab 41, 2 layers, 17 positions, 3 segment types.
TINY = BertConfig(vocab_size=41, hidden_size=12, num_hidden_layers=2, num_attention_heads=3, intermediate_size=37,
                  max_position_embeddings=17, type_vocab_size=3)


def _read_variables_txt():
    shapes = {}
    with open(os.path.join(CHINESE, "variables.txt"), encoding="utf-8") as f:
        for line in f:
            match = re.match(r"^(\S+) \[([0-9, ]*)\]$", line.strip())
            assert match, line
            shapes[match.group(1)] = tuple(int(s) for s in match.group(2).split(",") if s.strip())
    return shapes


def _shapes(fmt, config, mlm=True, nsp=True, prefix=""):
    return {names.foreign_name(fmt, c, config.num_hidden_layers, prefix): names.foreign_shape(fmt, c, config)
            for c in names.canonical_names(config.num_hidden_layers, mlm=mlm, nsp=nsp)}


def test_google_chinese_base_fully_accounted_for():
    shapes = _read_variables_txt()
    assert len(shapes) == 206
    config = BertConfig.from_google_json(os.path.join(CHINESE, "bert_config.json"))
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (21128, 768, 12)
    plan = names.plan(names.GOOGLE_TF1, shapes, config, source="variables.txt")
    assert plan.has_mlm and plan.has_nsp
    assert not plan.ignored and not plan.tied
    assert sorted(plan.mapping.values()) == sorted(shapes)  # every one of the 206 is used, each once
    assert len(plan.mapping) == 206
    assert plan.mapping["nsp/kernel"] == "cls/seq_relationship/output_weights"
    assert plan.mapping["layer_11/attention/query/kernel"] == "bert/encoder/layer_11/attention/self/query/kernel"


def test_google_chinese_base_index_file_reads_without_data():
    import tensorflow as tf
    listed = dict(tf.train.list_variables(os.path.join(CHINESE, "bert_model.ckpt")))
    assert {k: tuple(v) for k, v in listed.items()} == _read_variables_txt()


def test_google_chinese_base_wrong_config_is_a_clear_error():
    shapes = _read_variables_txt()
    base = BertConfig.preset("base", vocab_size=30522)  # English vocabulary size: wrong for this checkpoint
    with pytest.raises(CheckpointError, match=r"bert/embeddings/word_embeddings.*\[21128, 768\].*\[30522, 768\]"):
        names.plan(names.GOOGLE_TF1, shapes, base, source="variables.txt")
    with pytest.raises(CheckpointError, match="12 transformer layers.*num_hidden_layers=6"):
        names.plan(names.GOOGLE_TF1, shapes, base.replace(vocab_size=21128, num_hidden_layers=6))
    with pytest.raises(CheckpointError, match=r"intermediate/dense/kernel.*\[768, 3072\].*\[768, 1024\]"):
        names.plan(names.GOOGLE_TF1, shapes, base.replace(vocab_size=21128, intermediate_size=1024))


def test_google_optimizer_slots_are_listed_as_ignored():
    shapes = _shapes(names.GOOGLE_TF1, TINY)
    shapes.update({name + "/adam_m": s for name, s in list(shapes.items())})
    shapes.update({name.replace("adam_m", "adam_v"): s for name, s in list(shapes.items()) if name.endswith("adam_m")})
    shapes["global_step"] = ()
    plan = names.plan(names.GOOGLE_TF1, shapes, TINY)
    assert len(plan.ignored) == 2 * len(plan.mapping) + 1
    assert "global_step" in plan.ignored


@pytest.mark.parametrize("fmt", [names.GOOGLE_TF1, names.HUGGING_FACE, names.MODEL_GARDEN])
def test_unknown_variable_is_an_error(fmt):
    shapes = _shapes(fmt, TINY, nsp=fmt != names.MODEL_GARDEN)
    shapes["some/extra_classifier/kernel"] = (12, 5)
    with pytest.raises(CheckpointError, match="extra_classifier"):
        names.plan(fmt, shapes, TINY)


@pytest.mark.parametrize("fmt", [names.GOOGLE_TF1, names.HUGGING_FACE, names.MODEL_GARDEN])
def test_missing_variable_is_an_error(fmt):
    shapes = _shapes(fmt, TINY, mlm=False, nsp=False)
    dropped = names.foreign_name(fmt, "layer_1/output_layer_norm/beta", 2)
    del shapes[dropped]
    with pytest.raises(CheckpointError, match=re.escape(dropped)):
        names.plan(fmt, shapes, TINY)


def test_gpt2_keys_are_rejected_as_another_architecture():
    gpt2 = {"wte.weight": (50257, 768), "wpe.weight": (1024, 768), "h.0.attn.c_attn.weight": (768, 2304),
            "h.0.ln_1.weight": (768,), "ln_f.weight": (768,)}
    with pytest.raises(CheckpointError, match="not a Hugging Face BERT.*wte.weight"):
        names.plan(names.HUGGING_FACE, gpt2, TINY)
    with pytest.raises(CheckpointError, match="not a TF Model Garden BERT"):
        names.plan(names.MODEL_GARDEN, gpt2, TINY)
    with pytest.raises(CheckpointError, match="not a google-research/bert checkpoint"):
        names.plan(names.GOOGLE_TF1, {"model/h0/attn/c_attn/w": (1, 768, 2304)}, TINY)


def test_hf_key_sets_bertmodel_and_pretraining():
    bert_model = _shapes(names.HUGGING_FACE, TINY, mlm=False, nsp=False)
    bert_model["embeddings.position_ids"] = (1, 17)
    assert "embeddings.word_embeddings.weight" in bert_model
    plan = names.plan(names.HUGGING_FACE, bert_model, TINY)
    assert plan.ignored == ["embeddings.position_ids"] and not plan.has_mlm
    pretraining = _shapes(names.HUGGING_FACE, TINY, prefix="bert.")
    pretraining["cls.predictions.decoder.weight"] = (41, 12)
    pretraining["cls.predictions.decoder.bias"] = (41,)
    assert "bert.encoder.layer.1.attention.self.query.weight" in pretraining
    plan = names.plan(names.HUGGING_FACE, pretraining, TINY)
    assert plan.has_mlm and plan.has_nsp
    assert plan.tied == {"cls.predictions.decoder.weight": "embeddings/token",
                         "cls.predictions.decoder.bias": "mlm/output_bias"}
    assert plan.mapping["nsp/kernel"] == "cls.seq_relationship.weight"


def test_model_garden_config_is_inferred_from_shapes():
    shapes = _shapes(names.MODEL_GARDEN, TINY, nsp=False)
    assert shapes["encoder/layer_with_weights-4/_attention_layer/_query_dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"] \
        == (12, 3, 4)
    assert "encoder/layer_with_weights-6/kernel/.ATTRIBUTES/VARIABLE_VALUE" in shapes  # pooler after 2 layers
    inferred = names.infer_config(names.MODEL_GARDEN, shapes, hidden_act="gelu_approximate", do_lower_case=False)
    assert inferred == TINY.replace(hidden_act="gelu_approximate", do_lower_case=False)
    with pytest.raises(CheckpointError, match="needs a config file"):
        names.infer_config(names.GOOGLE_TF1, _shapes(names.GOOGLE_TF1, TINY))


@pytest.mark.parametrize("fmt", [names.GOOGLE_TF1, names.HUGGING_FACE, names.MODEL_GARDEN])
def test_layout_transforms_round_trip_and_transpose_exactly_the_kernels(fmt):
    rng = np.random.default_rng(0)
    for canonical in names.canonical_names(2, mlm=True, nsp=True):
        if fmt == names.MODEL_GARDEN and canonical.startswith("nsp/"):
            continue
        value = rng.normal(size=names.canonical_shape(canonical, TINY)).astype("float32")
        foreign = names.from_canonical(fmt, canonical, value, TINY)
        assert foreign.shape == names.foreign_shape(fmt, canonical, TINY), canonical
        np.testing.assert_array_equal(names.to_canonical(fmt, canonical, foreign, TINY), value)
    # Square kernels must still be transposed for torch's (out, in) layout: decided by kind, not by shape.
    square = rng.normal(size=(12, 12)).astype("float32")
    np.testing.assert_array_equal(names.from_canonical(names.HUGGING_FACE, "layer_0/attention/query/kernel",
                                                       square, TINY), square.T)
    np.testing.assert_array_equal(names.from_canonical(names.GOOGLE_TF1, "layer_0/attention/query/kernel",
                                                       square, TINY), square)
    # Model Garden's einsum kernel: column h*D + d of the flat kernel is [.., h, d].
    flat = np.arange(144, dtype="float32").reshape(12, 12)
    einsum = names.from_canonical(names.MODEL_GARDEN, "layer_0/attention/query/kernel", flat, TINY)
    assert einsum[5, 2, 1] == flat[5, 2 * 4 + 1]
