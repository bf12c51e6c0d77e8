"""Tiny SavedModels for the serving tests (and for running the contract suite against a real TF Serving).

`write_toy_classifier(dir)` writes one version folder of a toy raw-text classifier with the signatures an
exported bert_tf classifier has, plus a few extra ones the protocol tests need:

| signature | inputs | outputs |
|---|---|---|
| serving_default | text [B] string | probabilities [B,3] float, label_ids [B] int64, labels [B] string |
| pair | text, text_b [B] string | probabilities [B,3] float |
| classify (method tensorflow/serving/classify) | inputs [B] serialized tf.Example (feature `text`) | classes [B,3] string, scores [B,3] float |
| regress (method tensorflow/serving/regress) | inputs [B] serialized tf.Example | outputs [B] float |
| numeric | x [B,4] float | y [B,2] float |
| echo | text [B] string | text_bytes [B] string, length [B] int32 |
| calls | text [B] string | calls [B] int64: how many serving_default calls this version has run |

The classifier's logits are `[len(text)/10, count("a")] @ W + b`, so outputs can be checked in numpy.
`write_toy_classifier(dir, variant=2)` writes the same model with another bias (`BIASES[2]`), so an answer shows
which version computed it (`reference_probabilities(texts, variant=2)`).

`write_slow_model(dir)` writes a model whose work grows with the rows sent (for cancellation tests):
| serving_default | text [B] string | y [B] float |
| progress | text [B] string | rows [B] int64: rows serving_default has finished so far |

Usage for a real server: `python tests/serving/toy_models.py OUT_DIR` writes OUT_DIR/toy/1, OUT_DIR/toy/2 and
OUT_DIR/models.config (labels stable=1, canary=2), then:
    docker run -p 8500:8500 -p 8501:8501 -v OUT_DIR:/models tensorflow/serving \
        --model_config_file=/models/models.config
    BERT_TF_SERVING_GRPC=localhost:8500 BERT_TF_SERVING_REST=http://localhost:8501 pytest tests/serving -k contract
(the config must then name base_path /models/toy).
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np

LABELS = ("negative", "neutral", "positive")
WEIGHTS = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6]], np.float32)
BIAS = np.array([0.05, -0.1, 0.2], np.float32)
BIASES = {1: BIAS, 2: np.array([1.05, -0.1, -0.8], np.float32)}
NUMERIC_W = np.arange(8, dtype=np.float32).reshape(4, 2) / 7.0


def reference_probabilities(texts, variant: int = 1) -> np.ndarray:
    """What the toy classifier (of `variant`) computes, in numpy."""
    raw = [t.encode("utf-8") if isinstance(t, str) else t for t in texts]
    features = np.array([[len(t) / 10.0, t.count(b"a")] for t in raw], np.float32)
    logits = features @ WEIGHTS + BIASES[variant]
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def write_toy_classifier(export_dir: str, variant: int = 1) -> str:
    """Writes the toy classifier SavedModel into `export_dir` (a version folder); returns it. `variant` 2
    has another bias, so its probabilities differ from variant 1's."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    class ToyClassifier(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(WEIGHTS)
            self.b = tf.Variable(BIASES[variant])
            self.numeric_w = tf.Variable(NUMERIC_W)
            self.labels = tf.constant(LABELS)
            self.call_count = tf.Variable(0, dtype=tf.int64)

        def _probabilities(self, text):
            length = tf.cast(tf.strings.length(text, unit="BYTE"), tf.float32) / 10.0
            a_count = tf.reduce_sum(tf.cast(tf.equal(tf.strings.bytes_split(text), "a"), tf.float32), axis=-1)
            features = tf.stack([length, a_count], axis=-1)
            return tf.nn.softmax(tf.matmul(features, self.w) + self.b)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False)
        def serving_default(self, text):
            self.call_count.assign_add(1)
            probabilities = self._probabilities(text)
            label_ids = tf.argmax(probabilities, axis=-1)
            return {"probabilities": probabilities, "label_ids": label_ids,
                    "labels": tf.gather(self.labels, label_ids)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                      tf.TensorSpec([None], tf.string, name="text_b")], autograph=False)
        def pair(self, text, text_b):
            return {"probabilities": self._probabilities(tf.strings.join([text, text_b], separator=" "))}

        def _parse(self, inputs):
            parsed = tf.io.parse_example(inputs, {"text": tf.io.FixedLenFeature([], tf.string, default_value="")})
            return parsed["text"]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")], autograph=False)
        def classify(self, inputs):
            scores = self._probabilities(self._parse(inputs))
            classes = tf.tile(self.labels[tf.newaxis, :], [tf.shape(scores)[0], 1])
            return {"classes": classes, "scores": scores}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")], autograph=False)
        def regress(self, inputs):
            return {"outputs": tf.cast(tf.strings.length(self._parse(inputs), unit="BYTE"), tf.float32) / 10.0}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")], autograph=False)
        def numeric(self, x):
            return {"y": tf.matmul(x, self.numeric_w)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False)
        def echo(self, text):
            return {"text_bytes": text, "length": tf.strings.length(text, unit="BYTE")}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False)
        def calls(self, text):
            return {"calls": tf.fill(tf.shape(text), self.call_count.read_value())}

    module = ToyClassifier()
    signatures = {name: getattr(module, name) for name in
                  ("serving_default", "pair", "classify", "regress", "numeric", "echo", "calls")}
    tf.saved_model.save(module, export_dir, signatures=signatures)
    # TF 2 saves every signature with the predict method name; give classify/regress theirs, as exporters do.
    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    signature_defs = saved_model.meta_graphs[0].signature_def
    signature_defs["classify"].method_name = "tensorflow/serving/classify"
    signature_defs["regress"].method_name = "tensorflow/serving/regress"
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())
    return export_dir


def write_slow_model(export_dir: str, iterations: int = 800, width: int = 256) -> str:
    """Writes a SavedModel whose serving_default does `iterations` [B, width] x [width, width] matmuls (work
    proportional to the rows B) and counts the rows it finished; its `progress` signature reads that count."""
    import tensorflow as tf

    class Slow(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.eye(width, dtype=np.float32) * 0.5)
            self.rows_done = tf.Variable(0, dtype=tf.int64)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False)
        def serving_default(self, text):
            length = tf.cast(tf.strings.length(text), tf.float32)
            x0 = tf.tile(length[:, tf.newaxis], [1, width])
            _, x = tf.while_loop(lambda i, x: i < iterations, lambda i, x: (i + 1, tf.tanh(tf.matmul(x, self.w))),
                                 [tf.constant(0), x0])
            y = tf.reduce_sum(x, axis=-1)
            done = self.rows_done.assign_add(tf.cast(tf.size(y), tf.int64))  # runs once y is computed
            with tf.control_dependencies([done]):
                return {"y": tf.identity(y)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False)
        def progress(self, text):
            return {"rows": tf.fill(tf.shape(text), self.rows_done.read_value())}

    module = Slow()
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serving_default,
                                                        "progress": module.progress})
    return export_dir


def copy_version(src: str, base: str, version: int, atomic: bool = True) -> str:
    """Copies a version folder to base/<version>, under a temporary name first when `atomic`."""
    os.makedirs(base, exist_ok=True)
    final = os.path.join(base, str(version))
    if not atomic:
        shutil.copytree(src, final)
        return final
    tmp = os.path.join(base, f".tmp-{version}")
    shutil.copytree(src, tmp)
    os.rename(tmp, final)
    return final


def main(out_dir: str) -> None:
    from serving.server.config import write_model_config
    first = write_toy_classifier(os.path.join(out_dir, "toy", "1"))
    shutil.copytree(first, os.path.join(out_dir, "toy", "2"))
    write_model_config(os.path.join(out_dir, "models.config"), [
        {"name": "toy", "base_path": os.path.join(out_dir, "toy"), "version_policy": {"all": True},
         "version_labels": {"stable": 1, "canary": 2}}])
    print(f"wrote {out_dir}/toy/1, {out_dir}/toy/2 and {out_dir}/models.config")


if __name__ == "__main__":
    main(sys.argv[1])
