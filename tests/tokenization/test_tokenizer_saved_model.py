"""A SavedModel holding CoreOpsBertTokenizer loads and runs in a fresh process that never imports
tensorflow_text, and its graph has only core TF ops; the tensorflow-text tokenizer's graph does not."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from bert_tf import features

TF_TEXT_OP_PREFIXES = ("FastBert", "FastWordpiece", "CaseFold", "NormalizeUTF8", "Wordpiece", "RegexSplit",
                       "WhitespaceTokenize", "UnicodeScript", "SentencepieceOp", "RoundRobin")
TEXTS = ["Héllo [MASK] naïve café!", "안녕하세요, 세계! BERT는 양방향 인코더입니다.", "",
         "control\x00chars\x07here\ufffdx"]

# Runs in the child: lists every op type in the SavedModel's graphs, checks each against the op registry of
# a TF without tensorflow_text, loads the model, runs it and reports whether tensorflow_text got imported.
CHILD = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

def op_types(path):
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    ops = set()
    for mg in sm.meta_graphs:
        ops.update(n.op for n in mg.graph_def.node)
        for fn in mg.graph_def.library.function:
            ops.update(n.op for n in fn.node_def)
    return sorted(ops)

core_ops = op_types(sys.argv[1])
tf_text_ops = op_types(sys.argv[2])
result = {
    "core_ops": core_ops,
    "core_unregistered": [op for op in core_ops if op_def_registry.get(op) is None],
    "tf_text_ops": tf_text_ops,
    "tf_text_unregistered": [op for op in tf_text_ops if op_def_registry.get(op) is None],
}
loaded = tf.saved_model.load(sys.argv[1])
out = loaded.signatures["serving_default"](text=tf.constant(json.loads(sys.argv[3])))
result["token_ids"] = out["token_ids"].numpy().tolist()
result["segment_ids"] = out["segment_ids"].numpy().tolist()
result["tensorflow_text_imported"] = "tensorflow_text" in sys.modules
print("RESULT" + json.dumps(result))
"""


def _export(tokenizer, path, pack):
    module = tf.Module()
    module.tokenizer = tokenizer
    module.packer = tokenizer.packer(24)
    spec = [tf.TensorSpec([None], tf.string, name=features.TEXT)]
    if pack:
        serving_default = tf.function(lambda text: module.packer(tokenizer(text)), input_signature=spec,
                                      autograph=False)
    else:
        serving_default = tf.function(lambda text: {"ids": tokenizer(text).to_tensor(-1)}, input_signature=spec,
                                      autograph=False)
    tf.saved_model.save(module, path, signatures={"serving_default": serving_default})


@pytest.mark.slow
def test_core_op_saved_model_runs_without_tensorflow_text(tmp_path, tokenizers, vocab_file):
    core_path, tf_text_path = str(tmp_path / "core"), str(tmp_path / "tf_text")
    _export(tokenizers[("core", True)], core_path, pack=True)
    _export(tokenizers[("tf_text", True)], tf_text_path, pack=False)
    # The vocabulary travels as an asset, byte for byte.
    with open(os.path.join(core_path, "assets", "uncased_vocab.txt"), "rb") as f, open(vocab_file, "rb") as g:
        assert f.read() == g.read()

    # The child imports only TensorFlow (not bert_tf, not tensorflow_text).
    proc = subprocess.run([sys.executable, "-c", CHILD, core_path, tf_text_path, json.dumps(TEXTS)],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])

    assert result["tensorflow_text_imported"] is False
    assert result["core_unregistered"] == []
    assert not [op for op in result["core_ops"] if op.startswith(TF_TEXT_OP_PREFIXES)]
    assert {"StringSplitV2", "Substr", "UnicodeDecode"} & set(result["core_ops"])
    # The audit can fail: the tensorflow-text graph uses ops unknown to plain TF.
    assert "FastWordpieceTokenizeWithOffsets" in result["tf_text_unregistered"]

    expected = tokenizers[("core", True)].encode_tf(tf.constant(TEXTS), max_seq_length=24)
    assert result["token_ids"] == expected[features.TOKEN_IDS].numpy().tolist()
    assert result["segment_ids"] == expected[features.SEGMENT_IDS].numpy().tolist()
    assert result["token_ids"][0][:8] == [101, 7592, 1031, 7308, 1033, 15743, 7668, 999]
