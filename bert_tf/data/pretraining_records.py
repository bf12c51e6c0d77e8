"""Pre-training records: `tf.train.Example` bytes built without TensorFlow (so `PretrainingDataCreator`'s
worker processes need none), and their atomic writing as TFRecord files.

The features are google-research/bert's `create_pretraining_data.py` ones (`RECORD_FEATURES`, names in
`bert_tf.features`); the bytes are those `tf.io.parse_single_example` reads (tests/data check it).
"""

from __future__ import annotations

import contextlib
import struct

from bert_tf import features
from bert_tf.atomic_files import atomic_path

# google-research/bert's run_pretraining.py feature spec, as (name, dtype, length key).
RECORD_FEATURES = (
    (features.RECORD_INPUT_IDS, "int64", "max_seq_length"),
    (features.RECORD_INPUT_MASK, "int64", "max_seq_length"),
    (features.RECORD_SEGMENT_IDS, "int64", "max_seq_length"),
    (features.RECORD_MASKED_LM_POSITIONS, "int64", "max_predictions_per_seq"),
    (features.RECORD_MASKED_LM_IDS, "int64", "max_predictions_per_seq"),
    (features.RECORD_MASKED_LM_WEIGHTS, "float32", "max_predictions_per_seq"),
    (features.RECORD_NEXT_SENTENCE_LABELS, "int64", None),
)


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):  # length-delimited field
    n = len(payload)
    return _TAGS[number] + (_VARINTS[n] if n < len(_VARINTS) else _varint(n)) + payload


_VARINTS = []  # _VARINTS[i] == _varint(i) for the small non-negative ints records hold (ids, positions)


def _varints_upto(n):
    if len(_VARINTS) < n:
        _VARINTS.extend(_varint(i) for i in range(len(_VARINTS), n))
    return _VARINTS


_TAGS = {number: _varint((number << 3) | 2) for number in (1, 2, 3)}
_varints_upto(4096)


def _int64_feature(values):
    table = _VARINTS
    try:
        packed = b"".join([table[v] for v in values])
    except (IndexError, TypeError):
        packed = b"".join(_varint(int(v)) for v in values)
    return _field(3, _field(1, packed))  # Feature.int64_list = 3, Int64List.value = 1 (packed)


def _float_feature(values):
    return _field(2, _field(1, struct.pack(f"<{len(values)}f", *values)))  # Feature.float_list = 2


def serialize_example(feature_map):
    """Serializes `{name: ("int64" | "float32", values)}` as a `tf.train.Example` (same bytes TF parses)."""
    entries = []
    for name, (kind, values) in feature_map.items():
        feature = _int64_feature(values) if kind == "int64" else _float_feature(values)
        entries.append(_field(1, _field(1, name.encode("utf-8")) + _field(2, feature)))  # map<string, Feature>
    return _field(1, b"".join(entries))  # Example.features = 1


def instance_to_example(instance, vocab, max_seq_length, max_predictions_per_seq):
    """The record bytes of one `TrainingInstance` (ids from `vocab`, padded as the original)."""
    _varints_upto(max(len(vocab), max_seq_length) + 1)
    input_ids = [vocab[t] for t in instance.tokens]
    if len(input_ids) > max_seq_length:
        raise AssertionError(f"instance of {len(input_ids)} tokens > max_seq_length {max_seq_length}")
    pad = max_seq_length - len(input_ids)
    input_mask = [1] * len(input_ids) + [0] * pad
    segment_ids = list(instance.segment_ids) + [0] * pad
    input_ids = input_ids + [0] * pad
    n = len(instance.masked_lm_positions)
    positions = list(instance.masked_lm_positions) + [0] * (max_predictions_per_seq - n)
    ids = [vocab[t] for t in instance.masked_lm_labels] + [0] * (max_predictions_per_seq - n)
    weights = [1.0] * n + [0.0] * (max_predictions_per_seq - n)
    values = {
        features.RECORD_INPUT_IDS: input_ids,
        features.RECORD_INPUT_MASK: input_mask,
        features.RECORD_SEGMENT_IDS: segment_ids,
        features.RECORD_MASKED_LM_POSITIONS: positions,
        features.RECORD_MASKED_LM_IDS: ids,
        features.RECORD_MASKED_LM_WEIGHTS: weights,
        features.RECORD_NEXT_SENTENCE_LABELS: [1 if instance.is_random_next else 0],
    }
    return serialize_example({name: (dtype, values[name]) for name, dtype, _ in RECORD_FEATURES})


def write_records(examples, output_files):
    """Writes serialized examples round-robin over `output_files`; each file appears only when complete."""
    import tensorflow as tf

    with contextlib.ExitStack() as stack:  # every file is renamed into place only after all were written
        temps = [stack.enter_context(atomic_path(path, makedirs=True)) for path in output_files]
        writers = [tf.io.TFRecordWriter(t) for t in temps]
        try:
            for i, example in enumerate(examples):
                writers[i % len(writers)].write(example)
        finally:
            for writer in writers:
                writer.close()
