"""`PretrainingDataset`: google-research/bert pre-training records -> `(x, y)` batches for `BertPretrainer`.

Reads the records of `create_pretraining_data.py` (this project's or the original's) with the original's feature
spec (`name_to_features` of google-research/bert's `run_pretraining.py`) and maps them onto `BertPretrainer`'s
contract (names from `bert_tf.features`):

    x: token_ids, segment_ids, padding_mask, masked_positions   (int32)
    y: masked_ids (int32), masked_weights (float32), next_sentence_labels (int32, (B,))  [labels only with nsp]

With `dynamic_masking=True` the stored masks are undone (the original ids are put back at the masked positions)
and new ones are drawn in the input pipeline by keras-hub's `MaskedLMMaskGenerator` every time an example is
read, so every epoch sees different masks (RoBERTa's dynamic masking): `masked_lm_prob` of the tokens that are
not `[CLS]`, `[SEP]` or `[PAD]` (at most `max_predictions_per_seq`), 80% `[MASK]`, 10% a random token, 10%
unchanged. Masks are per WordPiece (no whole-word grouping).
"""

import keras_hub
import tensorflow as tf

from bert_tf import features
from bert_tf.data.errors import DataError

# Files whose first record is checked up front (a glob over thousands of shards should not cost a read of each).
_FILES_CHECKED = 16


def record_feature_spec(max_seq_length, max_predictions_per_seq):
    """google-research/bert run_pretraining.py's `name_to_features`."""
    return {
        features.RECORD_INPUT_IDS: tf.io.FixedLenFeature([max_seq_length], tf.int64),
        features.RECORD_INPUT_MASK: tf.io.FixedLenFeature([max_seq_length], tf.int64),
        features.RECORD_SEGMENT_IDS: tf.io.FixedLenFeature([max_seq_length], tf.int64),
        features.RECORD_MASKED_LM_POSITIONS: tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
        features.RECORD_MASKED_LM_IDS: tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
        features.RECORD_MASKED_LM_WEIGHTS: tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
        features.RECORD_NEXT_SENTENCE_LABELS: tf.io.FixedLenFeature([1], tf.int64),
    }


class PretrainingDataset:
    """A callable `input_context -> tf.data.Dataset` over pre-training records (usable with tf.distribute).

    Args:
        input_patterns: str or list of str. Comma-separated globs of TFRecord files.
        max_seq_length: int. The records' sequence length.
        max_predictions_per_seq: int. The records' prediction slots.
        batch_size: int. The *global* batch size (split per replica by the input context).
        is_training: bool. Shuffle files and records, repeat forever, drop the remainder. Defaults to True.
        nsp: bool. Include `next_sentence_labels` in `y`. Defaults to True.
        dynamic_masking: bool. Draw new masks on the fly. Defaults to False.
        vocab_size: int. Needed for `dynamic_masking` (random replacement tokens).
        mask_token_id: int. `[MASK]` id, for `dynamic_masking`.
        unselectable_token_ids: list of int. Never masked dynamically: the `[CLS]`, `[SEP]`, `[PAD]` ids.
        masked_lm_prob: float. Dynamic masking rate. Defaults to 0.15.
        shuffle_buffer_size: int. Defaults to 1000.
        seed: int, None, or a function returning the seed, called when the pipeline is built (under
            parameter_server, `distribute.per_worker_seed`: each worker its own order). A fixed seed makes the
            order reproducible, which resuming from a multi-replica checkpoint relies on. Defaults to 12345.

    Example:
    >>> dataset = PretrainingDataset("train-*.tfrecord", 128, 20, batch_size=32)()
    >>> x, y = next(iter(dataset))
    """

    def __init__(self, input_patterns, max_seq_length, max_predictions_per_seq, batch_size, is_training=True,
                 nsp=True, dynamic_masking=False, vocab_size=None, mask_token_id=None, unselectable_token_ids=None,
                 masked_lm_prob=0.15, shuffle_buffer_size=1000, seed=12345):
        if isinstance(input_patterns, str):
            input_patterns = [p for p in input_patterns.split(",") if p.strip()]
        files = []
        for pattern in input_patterns:
            matches = sorted(tf.io.gfile.glob(pattern.strip()))
            if not matches:
                raise FileNotFoundError(f"input file pattern {pattern!r} matches no file")
            files.extend(m for m in matches if m not in files)
        if dynamic_masking and (vocab_size is None or mask_token_id is None or unselectable_token_ids is None):
            raise ValueError("dynamic_masking needs vocab_size, mask_token_id and unselectable_token_ids")
        self.files = files
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self.batch_size = batch_size
        self.is_training = is_training
        self.nsp = nsp
        self.dynamic_masking = dynamic_masking
        self.vocab_size = vocab_size
        self.mask_token_id = mask_token_id
        self.unselectable_token_ids = list(unselectable_token_ids or [])
        self.masked_lm_prob = masked_lm_prob
        self.shuffle_buffer_size = shuffle_buffer_size
        self.seed = seed
        self._spec = record_feature_spec(max_seq_length, max_predictions_per_seq)
        self._check_files()
        self._masker = None
        if dynamic_masking:
            self._masker = keras_hub.layers.MaskedLMMaskGenerator(
                vocabulary_size=vocab_size, mask_selection_rate=masked_lm_prob, mask_token_id=mask_token_id,
                mask_selection_length=max_predictions_per_seq, unselectable_token_ids=self.unselectable_token_ids,
                mask_token_rate=0.8, random_token_rate=0.1)

    def _check_files(self):
        """Reads the first record of the first files, so that a file that is not TFRecord, records of another
        `max_seq_length`/`max_predictions_per_seq`, or only empty files fail here with a `DataError` naming the
        file, instead of inside the input pipeline (where an empty repeating dataset would never end)."""
        expected = {name: spec.shape[0] for name, spec in self._spec.items()}
        found_a_record = False
        for i, path in enumerate(self.files):
            if i >= _FILES_CHECKED and found_a_record:
                break
            try:
                first = list(tf.data.TFRecordDataset(path).take(1).as_numpy_iterator())
            except tf.errors.OpError as e:
                message = e.message.split("[Op:")[0].split("}}")[-1].strip()
                raise DataError(f"{path}: not a readable TFRecord file of pre-training examples ({message})") from None
            if not first:
                continue
            found_a_record = True
            try:
                example = tf.train.Example.FromString(first[0])
            except Exception:  # protobuf's DecodeError
                raise DataError(f"{path}: the first record is not a tf.train.Example") from None
            feature = example.features.feature
            for name, size in expected.items():
                if name not in feature:
                    raise DataError(f"{path}: the first record has no feature {name!r} (has {sorted(feature)}); "
                                    "not a BERT pre-training record")
                values = feature[name]
                length = len(values.int64_list.value) or len(values.float_list.value)
                if length != size:
                    flag = ("max_predictions_per_seq" if name.startswith("masked_lm") else
                            "max_seq_length" if name != features.RECORD_NEXT_SENTENCE_LABELS else None)
                    hint = f" (the records were made with {flag}={length}; pass --{flag}={length})" if flag else ""
                    raise DataError(f"{path}: feature {name!r} has {length} values per record but {size} are "
                                    f"expected{hint}")
        if not found_a_record:
            raise DataError(f"{', '.join(self.files[:5])}{' ...' if len(self.files) > 5 else ''}: no records "
                            "(the input files are empty)")

    def __call__(self, input_context=None):
        batch_size = self.batch_size
        seed = self.seed() if callable(self.seed) else self.seed
        files = tf.data.Dataset.from_tensor_slices(self.files)
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(self.batch_size)
        shard_files = input_context is not None and input_context.num_input_pipelines > 1 and \
            len(self.files) >= input_context.num_input_pipelines
        if shard_files:
            files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if self.is_training:
            files = files.shuffle(len(self.files), seed=seed).repeat()
        records = files.interleave(tf.data.TFRecordDataset, cycle_length=min(len(self.files), 4))
        if input_context is not None and input_context.num_input_pipelines > 1 and not shard_files:
            records = records.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if self.is_training:
            records = records.shuffle(self.shuffle_buffer_size, seed=seed).repeat()
        batches = records.batch(batch_size, drop_remainder=self.is_training)
        dataset = batches.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if self.dynamic_masking:
            options = tf.data.Options()
            # The mask generator draws from stateful RNG ops; checkpoints restore the input position, not
            # the RNG state (the masks after a restart are new draws, which dynamic masking means anyway).
            options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
            dataset = dataset.with_options(options)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _decode(self, serialized):
        example = tf.io.parse_example(serialized, self._spec)
        example = {k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else v for k, v in example.items()}
        token_ids = example[features.RECORD_INPUT_IDS]  # (B, T)
        positions = example[features.RECORD_MASKED_LM_POSITIONS]  # (B, P)
        masked_ids = example[features.RECORD_MASKED_LM_IDS]
        weights = example[features.RECORD_MASKED_LM_WEIGHTS]
        if self.dynamic_masking:
            token_ids = self._unmask(token_ids, positions, masked_ids, weights)
            masked = self._masker(token_ids)
            token_ids = masked["token_ids"]
            positions = tf.cast(masked["mask_positions"], tf.int32)
            masked_ids = tf.cast(masked["mask_ids"], tf.int32)
            weights = tf.cast(masked["mask_weights"], tf.float32)
        x = {
            features.TOKEN_IDS: token_ids,
            features.SEGMENT_IDS: example[features.RECORD_SEGMENT_IDS],
            features.PADDING_MASK: example[features.RECORD_INPUT_MASK],
            features.MASKED_POSITIONS: positions,
        }
        y = {features.MASKED_IDS: masked_ids, features.MASKED_WEIGHTS: weights}
        if self.nsp:
            y[features.NEXT_SENTENCE_LABELS] = tf.reshape(example[features.RECORD_NEXT_SENTENCE_LABELS], [-1])
        return x, y

    @staticmethod
    def _unmask(token_ids, positions, masked_ids, weights):
        """Puts the original ids back at the (real) masked positions: the unmasked sequence."""
        real = weights > 0  # (B, P)
        rows = tf.broadcast_to(tf.range(tf.shape(positions)[0])[:, None], tf.shape(positions))
        indices = tf.stack([tf.boolean_mask(rows, real), tf.boolean_mask(positions, real)], axis=1)
        return tf.tensor_scatter_nd_update(token_ids, indices, tf.boolean_mask(masked_ids, real))
