"""The piece-match stage (`scripts/run_piece_match.py`; the built-in Korean model's, docs/RESULTS.md "Matching
pieces across the pair"): teach an encoder, at every piece of a sentence pair, whether the same piece is also in
the other segment.

The pairs come from unlabeled text (`bert_tf.data.text_pairs.match_pairs`); their kinds are not the target. Every
piece of the premise is labelled "this piece is also in the hypothesis" and every piece of the hypothesis "this
piece is also in the premise" (`piece_match_example`; exact piece ids after packing; [CLS], [SEP] and padding are
not scored). A Dense(1) on the last layer is trained with binary cross-entropy and bert_tf's fine-tuning optimizer
(AdamW, 10% warmup, linear decay), so the comparison natural-language inference needs is taught at every
position instead of once per pair. The encoder is written as a Hugging Face directory beside its start's
companions (generator/, 1_Pooling/, pretraining.json), with the stage's record in `piece_match.json`.

The stage resumes: after every epoch the model, the optimizer and the dropout RNGs are checkpointed in
`output_dir/checkpoints` (`bert_tf.training.checkpointing.TrainingCheckpoints`, the trainer's own), so rerunning the
same call after an interruption continues from the last finished epoch and writes the same bytes as an
uninterrupted run; a rerun with other settings (pairs, start, hyperparameters) is refused, naming what differs.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np

from bert_tf.finetuning.options import FinetuneError

INPUTS = ("token_ids", "segment_ids", "padding_mask")


def piece_match_arrays(rows, tokenizer, seq_len: int):
    """`[token_ids, segment_ids, padding_mask, labels, weights]`, int32 arrays of shape (len(rows), seq_len), for
    `{"premise", "hypothesis"}` rows and a tokenizer with `.tokenize` and `.vocab`."""
    from bert_tf.data.text_pairs import piece_match_example
    vocab = tokenizer.vocab

    def ids(text):
        return [vocab[p] for p in tokenizer.tokenize(text)]
    columns = list(zip(*[piece_match_example(ids(r["premise"]), ids(r["hypothesis"]), seq_len, vocab["[CLS]"],
                                             vocab["[SEP]"]) for r in rows]))
    return [np.array(c, "int32") for c in columns]


class _EpochSummaries(keras.callbacks.Callback):
    """Each epoch's losses and accuracies as TensorBoard scalars (`summaries/train`, `summaries/eval`), step =
    the epoch."""

    def __init__(self, output_dir):
        super().__init__()
        from bert_tf.training.summaries import SummaryWriters
        self.writers = SummaryWriters(output_dir, is_chief=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.writers.write("train", {k: v for k, v in logs.items() if not k.startswith("val_")}, epoch + 1)
        self.writers.write("eval", {k[4:]: v for k, v in logs.items() if k.startswith("val_")}, epoch + 1)


STATE = "piece_match_state.json"  # beside the checkpoints: the settings and each finished epoch's logs


def _fit_epochs(model, train_dataset, dev_dataset, num_train_epochs, output_dir, settings):
    """`model.fit` (compiled, its optimizer unbuilt or built) one epoch at a time from the last checkpoint in
    `output_dir/checkpoints`, a checkpoint after each epoch. Returns `(history, earlier_seconds)`: every epoch's
    logs as `model.fit`'s History gives them, and the seconds the epochs restored from an earlier process took.

    Exact resume: the checkpoint holds weights, optimizer (step and moments) and every Keras `SeedGenerator`
    (the dropout RNGs); `train_dataset`'s shuffle (`reshuffle_each_iteration`) draws its next order each time an
    iterator is made, so as many iterators as a whole run's finished epochs made are made before training on:
    the resumed epochs see the orders an uninterrupted run would have (tests/scripts/test_run_piece_match.py
    checks the bytes)."""
    import json

    import tensorflow as tf

    from bert_tf.atomic_files import write_json_atomic
    from bert_tf.finetuning.history import check_same_run
    from bert_tf.training.checkpointing import TrainingCheckpoints
    directory = os.path.join(output_dir, "checkpoints")
    os.makedirs(directory, exist_ok=True)
    state_path = os.path.join(directory, STATE)
    epochs = []
    if os.path.isfile(state_path):
        try:
            with open(state_path, encoding="utf-8") as f:
                recorded = json.load(f)
        except (OSError, ValueError) as e:
            raise FinetuneError(f"{state_path} is unreadable ({e}): delete {directory} to start the stage afresh")
        check_same_run(recorded, settings, output_dir)
        epochs = recorded.get("epochs", [])
    model.optimizer.build(model.trainable_variables)  # its moments exist before a restore fills them
    epoch = tf.Variable(0, dtype="int64", trainable=False)
    weights = {id(w) for w in model.weights}
    checkpoints = TrainingCheckpoints(directory, {"model": model, "optimizer": model.optimizer, "epoch": epoch},
                                      [v for v in model.variables if id(v) not in weights], is_chief=True,
                                      save_dir=directory, max_to_keep=2)
    if checkpoints.restore(epoch) is not None:
        print(f"resumed the piece-match stage after epoch {int(epoch.numpy())} of {num_train_epochs} "
              f"({directory})", flush=True)
    done = int(epoch.numpy())
    epochs = epochs[:done]  # an epoch logged but not checkpointed (interrupted in between) is trained again
    if len(epochs) < done:
        raise FinetuneError(f"{state_path} records {len(epochs)} epochs but the checkpoint is after epoch {done}: "
                            f"delete {directory} to start the stage afresh")
    earlier = sum(x.get("seconds", 0.0) for x in epochs)
    for _ in range(2 * done):  # Keras 3's fit makes two iterators of the training data per epoch (the second
        iter(train_dataset)     # unused): advance the shuffle to the order the next epoch has in a whole run
    callbacks = [_EpochSummaries(output_dir)]
    for e in range(done, num_train_epochs):
        began = time.time()
        print(f"piece-match epoch {e + 1} of {num_train_epochs}", flush=True)
        logs = model.fit(train_dataset, validation_data=dev_dataset, initial_epoch=e, epochs=e + 1, verbose=2,
                         callbacks=callbacks).history
        epochs.append({**{k: float(v[-1]) for k, v in logs.items()}, "seconds": round(time.time() - began, 1)})
        write_json_atomic(state_path, {"config": settings, "epochs": epochs, "done": e + 1 == num_train_epochs})
        epoch.assign(e + 1)
        checkpoints.save(e + 1)
    history = {k: [x[k] for x in epochs] for k in epochs[0] if k != "seconds"} if epochs else {}
    return history, earlier


class PieceMatchStart:
    """What the stage trains from (`start_piece_match`): the encoder, its tokenizer, the packed arrays
    (`piece_match_arrays`), the train and dev row indices, the share of scored pieces that match, the start time."""

    def __init__(self, init_checkpoint, rows, seq_len, seed, dev_rows):
        from bert_tf.checkpoints import load_encoder
        from bert_tf.tokenization import ReferenceTokenizer
        if len(rows) <= dev_rows:
            raise FinetuneError(f"the piece-match stage holds out {dev_rows} pairs and trains on the rest, but only "
                                f"{len(rows)} pairs were made: give more pairs or a larger text file")
        from bert_tf.pretrained import sha256_of
        self.init_checkpoint, self.rows, self.started = init_checkpoint, rows, time.time()
        self.start_sha256 = sha256_of(os.path.join(init_checkpoint, "model.safetensors"))
        keras.utils.set_random_seed(seed)
        self.encoder = load_encoder(init_checkpoint)  # its config carries the model's casing
        self.vocab_file = os.path.join(init_checkpoint, "vocab.txt")
        self.tokenizer = ReferenceTokenizer(self.vocab_file, do_lower_case=self.encoder.bert_config.do_lower_case)
        self.arrays = piece_match_arrays(rows, self.tokenizer, seq_len)
        order = np.random.default_rng(seed).permutation(len(rows))
        self.dev, self.train = order[:dev_rows], order[dev_rows:]
        scored = self.arrays[4][self.train]
        self.share = float((self.arrays[3][self.train] * scored).sum() / scored.sum())
        print(f"{len(rows)} pairs ({len(self.train)} train, {len(self.dev)} dev); share of scored pieces that match: "
              f"{self.share:.3f}", flush=True)

    def settings(self, max_seq_length, learning_rate, num_train_epochs, train_batch_size, seed, coverage_weight,
                 cue_weight):
        """What defines the stage's result, recorded beside its checkpoints: a resume must match it."""
        import hashlib
        import json
        pairs = hashlib.sha256(json.dumps(self.rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
        return {"start_sha256": self.start_sha256,
                "pairs_sha256": pairs, "num_pairs": len(self.rows), "dev_pairs": len(self.dev),
                "max_seq_length": max_seq_length, "learning_rate": learning_rate,
                "num_train_epochs": num_train_epochs, "train_batch_size": train_batch_size, "seed": seed,
                "coverage_weight": coverage_weight, "cue_weight": cue_weight}

    def save(self, output_dir, history, *, dtype="float16", command="", coverage_weight=0.0, cue_weight=0.0,
             earlier_seconds=0.0):
        """Writes the encoder to `output_dir/model` (weights in `dtype`, the start's companions beside) and the
        stage's record, `piece_match.json`, there; returns the record. `earlier_seconds`: the epochs an earlier,
        interrupted process trained (added to this process's time)."""
        from bert_tf.atomic_files import write_json_atomic
        from bert_tf.checkpoints import save_hf
        from bert_tf.pretrained import sha256_of
        model_dir = os.path.join(output_dir, "model")
        save_hf(self.encoder, model_dir, vocab_file=self.vocab_file, dtype=dtype, companions_from=self.init_checkpoint)
        record = {"command": command,
                  "start_sha256": self.start_sha256,
                  "sha256": sha256_of(os.path.join(model_dir, "model.safetensors")),
                  "num_pairs": len(self.rows), "train_pairs": len(self.train), "dev_pairs": len(self.dev),
                  "matching_share_of_scored_pieces": round(self.share, 4), "coverage_weight": coverage_weight,
                  "cue_weight": cue_weight,
                  "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.items()},
                  "seconds": round(time.time() - self.started + earlier_seconds, 1)}
        write_json_atomic(os.path.join(model_dir, "piece_match.json"), record, ensure_ascii=False)
        return record


def train_piece_match(init_checkpoint: str, rows, output_dir: str, *, max_seq_length: int = 64,
                      learning_rate: float = 1e-4, num_train_epochs: int = 3, train_batch_size: int = 32,
                      dev_rows: int = 600, seed: int = 3, dtype: str = "float16", command: str = "",
                      coverage_weight: float = 0.0, cue_weight: float = 0.0) -> dict:
    """Trains the stage from `init_checkpoint` (a model directory) on `rows`, the first `dev_rows` of a seeded
    permutation held out for the match accuracy, and writes the encoder to `output_dir/model` (weights in
    `dtype`), TensorBoard scalars to `output_dir/summaries`. Returns the record written to
    `output_dir/model/piece_match.json` (SHA-256 of the start and of the result, per-epoch history, seconds).

    `coverage_weight` > 0 adds a second target read from the mean-pooled last layer (`masked_mean`, the pooling
    the Korean model declares): a Dense(2) regresses each segment's coverage (the share of its scored pieces that
    match, `coverage_targets`) with squared error times `coverage_weight`, so the pooled vector a fine-tuning head
    reads carries the comparison per segment. 0 (the default) trains the stage as recorded.

    `cue_weight` > 0 adds a target on the same pooled vector: a Dense(2) names, with binary cross-entropy times
    `cue_weight`, whether one segment is negated and the other not and whether the hypothesis has a number the
    premise lacks (`bert_tf.data.text_pairs.cue_targets`, read from each row's text; give it rows made with
    `match_pairs(..., cues=True)` so that both occur often)."""
    import tensorflow as tf

    from bert_tf.training.optimization import create_optimizer
    for name, weight in (("coverage_weight", coverage_weight), ("cue_weight", cue_weight)):
        if weight < 0:
            raise FinetuneError(f"{name} must be 0 (off) or positive, got {weight}")
    start = PieceMatchStart(init_checkpoint, rows, max_seq_length, seed, dev_rows)
    encoder, arrays, dev, train = start.encoder, start.arrays, start.dev, start.train
    if coverage_weight or cue_weight:
        return _train_with_pooled(start, output_dir, max_seq_length=max_seq_length, learning_rate=learning_rate,
                                  num_train_epochs=num_train_epochs, train_batch_size=train_batch_size, seed=seed,
                                  dtype=dtype, command=command, coverage_weight=coverage_weight,
                                  cue_weight=cue_weight)

    def dataset(index, shuffle):
        x = dict(zip(INPUTS, (arrays[i][index] for i in range(3))))
        ds = tf.data.Dataset.from_tensor_slices((x, arrays[3][index][..., None], arrays[4][index].astype("float32")))
        if shuffle:
            ds = ds.shuffle(len(index), seed=seed)
        return ds.batch(train_batch_size).prefetch(2)
    inputs = {k: keras.Input((max_seq_length,), dtype="int32", name=k) for k in INPUTS}
    logits = keras.layers.Dense(1, kernel_initializer="glorot_uniform", name="match")(
        encoder(inputs)["sequence_output"])
    model = keras.Model(inputs, logits)  # (B, T, 1): the loss reduces the last axis, the weights are (B, T)
    steps = num_train_epochs * int(np.ceil(len(train) / train_batch_size))
    optimizer = create_optimizer(learning_rate, steps, int(0.1 * steps))  # bert_tf's fine-tuning recipe
    model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  weighted_metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)])
    return _fit_and_save(start, model, dataset(train, True), dataset(dev, False), output_dir,
                         max_seq_length=max_seq_length, learning_rate=learning_rate,
                         num_train_epochs=num_train_epochs, train_batch_size=train_batch_size, seed=seed,
                         dtype=dtype, command=command, coverage_weight=0.0, cue_weight=0.0)


def _fit_and_save(start, model, train_dataset, dev_dataset, output_dir, *, max_seq_length, learning_rate,
                  num_train_epochs, train_batch_size, seed, dtype, command, coverage_weight, cue_weight):
    """Trains the compiled stage model (`_fit_epochs`, resuming) and writes the encoder and its record."""
    settings = start.settings(max_seq_length, learning_rate, num_train_epochs, train_batch_size, seed,
                              coverage_weight, cue_weight)
    history, seconds = _fit_epochs(model, train_dataset, dev_dataset, num_train_epochs, output_dir, settings)
    return start.save(output_dir, history, dtype=dtype, command=command, coverage_weight=coverage_weight,
                      cue_weight=cue_weight, earlier_seconds=seconds)


def coverage_targets(arrays):
    """`(N, 2)` float32: per packed pair, the share of segment A's scored pieces that match and of segment B's
    (`piece_match_arrays` order: token_ids, segment_ids, padding_mask, labels, weights; 0 for an empty segment)."""
    _, segments, _, labels, weights = arrays
    out = []
    for seg in (0, 1):
        scored = (weights == 1) & (segments == seg)
        out.append((labels * scored).sum(1) / np.maximum(scored.sum(1), 1))
    return np.stack(out, 1).astype("float32")


def _train_with_pooled(start, output_dir, *, max_seq_length, learning_rate, num_train_epochs, train_batch_size,
                       seed, dtype, command, coverage_weight, cue_weight):
    """`train_piece_match` with the pooled targets (coverage, cues; its docstring) beside the per-piece one."""
    import tensorflow as tf

    from bert_tf.data.text_pairs import cue_targets
    from bert_tf.heads.sequence_pooling import masked_mean
    from bert_tf.training.optimization import create_optimizer
    encoder, arrays, dev, train = start.encoder, start.arrays, start.dev, start.train
    pooled = {}  # output name: (targets, loss, weight, metrics)
    if coverage_weight:
        pooled["coverage"] = (coverage_targets(arrays), "mse", coverage_weight, ["mae"])
    if cue_weight:
        cues = np.array([cue_targets(r["premise"], r["hypothesis"]) for r in start.rows], "float32")
        pooled["cues"] = (cues, keras.losses.BinaryCrossentropy(from_logits=True), cue_weight,
                          [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])

    def dataset(index, shuffle):
        x = dict(zip(INPUTS, (arrays[i][index] for i in range(3))))
        y = {"match": np.stack([arrays[3][index], arrays[4][index]], -1).astype("float32"),
             **{name: target[0][index] for name, target in pooled.items()}}
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(index), seed=seed)
        return ds.batch(train_batch_size).prefetch(2)

    def match_loss(y, logits):  # y: (B, T, 2) = label, weight; the weighted mean over scored pieces
        label, weight = y[..., 0], y[..., 1]
        bce = keras.ops.binary_crossentropy(label, logits[..., 0], from_logits=True)
        return keras.ops.sum(bce * weight) / keras.ops.maximum(keras.ops.sum(weight), 1.0)

    class MatchAccuracy(keras.metrics.Mean):
        def update_state(self, y, logits, sample_weight=None):
            hit = keras.ops.cast(keras.ops.equal(keras.ops.cast(logits[..., 0] > 0, "float32"), y[..., 0]),
                                 "float32")
            return super().update_state(hit, sample_weight=y[..., 1])

    inputs = {k: keras.Input((max_seq_length,), dtype="int32", name=k) for k in INPUTS}
    sequence = encoder(inputs)["sequence_output"]
    outputs = {"match": keras.layers.Dense(1, kernel_initializer="glorot_uniform", name="match")(sequence)}
    mean = masked_mean(sequence, inputs["padding_mask"])
    for name in pooled:  # coverage first: a coverage-only stage builds its heads as before cues existed
        outputs[name] = keras.layers.Dense(2, kernel_initializer="glorot_uniform", name=name)(mean)
    model = keras.Model(inputs, outputs)
    steps = num_train_epochs * int(np.ceil(len(train) / train_batch_size))
    optimizer = create_optimizer(learning_rate, steps, int(0.1 * steps))  # bert_tf's fine-tuning recipe
    model.compile(optimizer=optimizer, loss={"match": match_loss, **{n: t[1] for n, t in pooled.items()}},
                  loss_weights={"match": 1.0, **{n: t[2] for n, t in pooled.items()}},
                  metrics={"match": [MatchAccuracy(name="accuracy")], **{n: t[3] for n, t in pooled.items()}})
    return _fit_and_save(start, model, dataset(train, True), dataset(dev, False), output_dir,
                         max_seq_length=max_seq_length, learning_rate=learning_rate,
                         num_train_epochs=num_train_epochs, train_batch_size=train_batch_size, seed=seed,
                         dtype=dtype, command=command, coverage_weight=coverage_weight, cue_weight=cue_weight)
