"""Packing token ids into BERT inputs: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, padded to `max_seq_length`.

Truncation is google-research/bert's (`run_classifier.py` `_truncate_seq_pair`): while the pair is too long,
drop the last token of the longer segment (of B on a tie). A single segment keeps its first
`max_seq_length - 2` tokens. Segment ids are 0 for `[CLS]`, A and the first `[SEP]`, 1 for B and the last `[SEP]`.

The TF packer uses only core ops, so it runs in `tf.data` and in portable SavedModels. For two segments,
longest-first gives the same lengths as keras-hub's `MultiSegmentPacker(truncate="round_robin")`, but
that layer is built on tensorflow-text's trimmer ops.
"""

import warnings

import numpy as np
import tensorflow as tf

from bert_tf import features
from bert_tf.deprecation import renamed_kwargs


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens):
    """Truncates a pair of token lists in place to at most `max_num_tokens` in total (longest-first).

    Args:
        tokens_a: list. The first segment (modified in place).
        tokens_b: list. The second segment (modified in place).
        max_num_tokens: int. The budget for both (`max_seq_length - 3` for BERT pairs).
    """
    if max_num_tokens < 0:
        raise ValueError(f"max_num_tokens must be >= 0, got {max_num_tokens}")
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def truncated_lengths(len_a, len_b, max_num_tokens):
    """The lengths `truncate_seq_pair` leaves, in closed form (works on ints, numpy arrays and tensors)."""
    half_up = (max_num_tokens + 1) // 2
    if isinstance(len_a, tf.Tensor) or isinstance(len_b, tf.Tensor):
        new_a = tf.minimum(len_a, tf.maximum(max_num_tokens - len_b, half_up))
        new_b = tf.minimum(len_b, max_num_tokens - new_a)
        return new_a, new_b
    new_a = np.minimum(len_a, np.maximum(max_num_tokens - len_b, half_up))
    new_b = np.minimum(len_b, max_num_tokens - new_a)
    return new_a, new_b


class BertPacker(tf.Module):
    """Packs one or two batches of token ids into `token_ids`, `segment_ids`, `padding_mask` (core TF ops).

    Args:
        max_seq_length: int. The packed length (>= 3 for pairs, >= 2 for single segments). The old keyword
            `seq_length` (and attribute `.seq_length`) still works for one release, with a DeprecationWarning.
        cls_id: int. Id of `[CLS]`.
        sep_id: int. Id of `[SEP]`.
        pad_id: int. Id of `[PAD]`. Defaults to 0.

    Call with `segment_a` and optionally `segment_b`: int `tf.RaggedTensor` [B, (tokens)] (a dense [B, T]
    tensor counts as all tokens; a 1-D ragged/list-of-ids input is one example). Returns a dict of int32
    tensors [B, max_seq_length] keyed by `bert_tf.features` names (`token_ids`, `segment_ids`, `padding_mask`;
    the mask is 1 on real tokens, 0 on padding).

    Example:
    >>> packer = BertPacker(max_seq_length=8, cls_id=101, sep_id=102)
    >>> out = packer(tf.ragged.constant([[7, 8, 9]]), tf.ragged.constant([[5, 6, 4, 3]]))
    >>> out["token_ids"].numpy().tolist()
    [[101, 7, 8, 102, 5, 6, 4, 102]]
    """

    @renamed_kwargs(seq_length="max_seq_length")
    def __init__(self, max_seq_length, cls_id, sep_id, pad_id=0, name=None):
        super().__init__(name=name)
        if int(max_seq_length) < 2:
            raise ValueError(f"max_seq_length must be >= 2, got {max_seq_length}")
        self.max_seq_length = int(max_seq_length)
        self.cls_id = int(cls_id)
        self.sep_id = int(sep_id)
        self.pad_id = int(pad_id)

    def get_config(self):
        return {"max_seq_length": self.max_seq_length, "cls_id": self.cls_id, "sep_id": self.sep_id,
                "pad_id": self.pad_id}

    def __getattr__(self, name):
        # Only for names not found the usual way: the old attribute `seq_length`, kept for one release. Not a
        # property, so SavedModel export (which reads every attribute `dir()` lists) does not warn.
        if name == "seq_length":
            warnings.warn("BertPacker.seq_length is deprecated and will be removed in the next release; use "
                          "max_seq_length", DeprecationWarning, stacklevel=2)
            return self.max_seq_length
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @staticmethod
    def _as_ragged(x):
        if isinstance(x, tf.RaggedTensor):
            rt = x
        else:
            x = tf.convert_to_tensor(x)
            if x.shape.rank == 1:
                x = x[None, :]
            rt = tf.RaggedTensor.from_tensor(x)
        if rt.shape.rank != 2:
            raise ValueError(f"segments must be [batch, (tokens)], got rank {rt.shape.rank}")
        return tf.cast(rt, tf.int32)

    @tf.autograph.experimental.do_not_convert  # plain TF ops; skips slow AutoGraph conversion
    def __call__(self, segment_a, segment_b=None):
        a = self._as_ragged(segment_a)
        batch = a.nrows()
        cls = tf.fill([batch, 1], self.cls_id)
        sep = tf.fill([batch, 1], self.sep_id)
        cls = tf.RaggedTensor.from_tensor(cls)
        sep = tf.RaggedTensor.from_tensor(sep)
        if segment_b is None:
            len_a = tf.minimum(a.row_lengths(), self.max_seq_length - 2)
            a = tf.ragged.boolean_mask(a, tf.ragged.range(a.row_lengths()) < tf.expand_dims(len_a, 1))
            ids = tf.concat([cls, a, sep], axis=1)
            segments = tf.zeros_like(ids)
        else:
            if self.max_seq_length < 3:
                raise ValueError(f"max_seq_length must be >= 3 for pairs, got {self.max_seq_length}")
            b = self._as_ragged(segment_b)
            len_a, len_b = truncated_lengths(a.row_lengths(), b.row_lengths(), self.max_seq_length - 3)
            a = tf.ragged.boolean_mask(a, tf.ragged.range(a.row_lengths()) < tf.expand_dims(len_a, 1))
            b = tf.ragged.boolean_mask(b, tf.ragged.range(b.row_lengths()) < tf.expand_dims(len_b, 1))
            first = tf.concat([cls, a, sep], axis=1)
            second = tf.concat([b, sep], axis=1)
            ids = tf.concat([first, second], axis=1)
            segments = tf.concat([tf.zeros_like(first), tf.ones_like(second)], axis=1)
        shape = [None, self.max_seq_length]
        return {
            features.TOKEN_IDS: ids.to_tensor(default_value=self.pad_id, shape=shape),
            features.SEGMENT_IDS: segments.to_tensor(default_value=0, shape=shape),
            features.PADDING_MASK: tf.ones_like(ids).to_tensor(default_value=0, shape=shape),
        }

    def pack_python(self, ids_a, ids_b=None):
        """The same packing for one example of Python int lists; returns a dict of int32 numpy arrays."""
        ids_a = list(ids_a)
        if ids_b is None:
            ids = [self.cls_id] + ids_a[:self.max_seq_length - 2] + [self.sep_id]
            segments = [0] * len(ids)
        else:
            if self.max_seq_length < 3:
                raise ValueError(f"max_seq_length must be >= 3 for pairs, got {self.max_seq_length}")
            ids_b = list(ids_b)
            truncate_seq_pair(ids_a, ids_b, self.max_seq_length - 3)
            ids = [self.cls_id] + ids_a + [self.sep_id] + ids_b + [self.sep_id]
            segments = [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1)
        n = len(ids)
        pad = self.max_seq_length - n
        return {
            features.TOKEN_IDS: np.asarray(ids + [self.pad_id] * pad, np.int32),
            features.SEGMENT_IDS: np.asarray(segments + [0] * pad, np.int32),
            features.PADDING_MASK: np.asarray([1] * n + [0] * pad, np.int32),
        }
