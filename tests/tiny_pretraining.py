"""A tiny pre-training corpus for tests: a 41-piece vocabulary (5 specials + w0..w35) and random documents of
2-6 sentences, written as records by bert_tf's own creator (max_seq_length 23, 5 predictions per sequence)."""

import random

from bert_tf.data import pretraining_data as pd
from bert_tf.tokenization import ReferenceTokenizer

MAX_SEQ_LENGTH = 23
MAX_PREDICTIONS_PER_SEQ = 5


def write_records(directory, name="train.tfrecord", num_documents=10, dupe_factor=1):
    """Writes `directory/vocab.txt`, `directory/corpus.txt` and `directory/name`; returns the records' path."""
    words = [f"w{i}" for i in range(36)]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    rng = random.Random(0)
    with open(directory / "corpus.txt", "w") as f:
        for _ in range(num_documents):
            for _ in range(rng.randint(2, 6)):
                f.write(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) + "\n")
            f.write("\n")
    records = str(directory / name)
    pd.PretrainingDataCreator(ReferenceTokenizer(vocab), max_seq_length=MAX_SEQ_LENGTH,
                              max_predictions_per_seq=MAX_PREDICTIONS_PER_SEQ, dupe_factor=dupe_factor,
                              num_workers=1).create(str(directory / "corpus.txt"), records)
    return records
