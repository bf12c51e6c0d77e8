"""bert_tf: BERT for TensorFlow 2 / Keras 3."""

from bert_tf.config import BertConfig, ConfigError

__all__ = ["BertConfig", "BertEncoder", "ConfigError"]
__version__ = "0.1.0"


def __getattr__(name):
    # `BertEncoder` is imported on first use (PEP 562), so that importing a TensorFlow-free part of bert_tf
    # (`bert_tf.pretrained`, `bert_tf.config`; e.g. `python -c 'from bert_tf.pretrained import minilm_l6_dir'`)
    # does not load TensorFlow (seconds, and its start-up log lines).
    if name == "BertEncoder":
        from bert_tf.encoder import BertEncoder
        return BertEncoder
    raise AttributeError(f"module 'bert_tf' has no attribute {name!r}")
