"""Sentence pairs whose relation is known by construction, made from unlabeled text (`scripts/prepare_pair_data.py`,
the built-in Korean model's pair probe).

From a pre-training text file (one sentence per line, blank lines between documents) premises are lines of
`min_words` to `max_words` words; each gets one hypothesis of one of three kinds, a third each, all with the same
length distribution (50-90% of the premise's words, at least 3):

- `part`: the premise's words with the rest deleted (a contiguous span, or scattered deletions), order kept;
- `altered`: such a part with 30% of its words (at least one) replaced by words of a line from another document;
- `other`: a span of that length from another line of the same document (a premise whose document has no other
  line of 3 words gets an `altered` hypothesis instead).
"""

from __future__ import annotations

KINDS = ("part", "altered", "other")
REPLACED = 0.3  # share of an `altered` hypothesis's words taken from another document


def read_documents(path):
    """The documents of a pre-training text file, each a list of its lines' word lists."""
    docs, doc = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if words:
                doc.append(words)
            elif doc:
                docs.append(doc)
                doc = []
    if doc:
        docs.append(doc)
    return docs


def _part(words, length, rng):
    """`length` of `words`, order kept: a contiguous span or scattered deletions (half each)."""
    if rng.random() < 0.5:
        start = int(rng.integers(0, len(words) - length + 1))
        return words[start:start + length]
    return [words[i] for i in sorted(rng.choice(len(words), length, replace=False))]


def pair_examples(path: str, num_pairs: int, min_words: int = 5, max_words: int = 20, seed: int = 0):
    """(rows as `{"premise", "hypothesis", "label"}` dicts in a seeded order, counts per label)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    docs = read_documents(path)
    if len(docs) < 2:
        raise ValueError(f"{path}: pairs need at least two documents (blank lines separate them), found {len(docs)}")
    premises = [(d, i) for d, doc in enumerate(docs) for i, words in enumerate(doc)
                if min_words <= len(words) <= max_words]
    order = rng.permutation(len(premises))[:num_pairs]
    rows, counts = [], dict.fromkeys(KINDS, 0)
    for n, index in enumerate(order):
        d, i = premises[index]
        words = docs[d][i]
        length = max(3, int(round(len(words) * rng.uniform(0.5, 0.9))))
        length = min(length, len(words) - 1)
        kind = KINDS[n % 3]
        if kind == "other":
            others = [j for j in range(len(docs[d])) if j != i and len(docs[d][j]) >= 3]
            if not others:  # a one-line document: a line of another document instead
                kind = "altered"
            else:
                line = docs[d][others[int(rng.integers(len(others)))]]
                take = min(length, len(line))
                start = int(rng.integers(0, len(line) - take + 1))
                hypothesis = line[start:start + take]
        if kind in ("part", "altered"):
            hypothesis = _part(words, length, rng)
        if kind == "altered":
            while True:
                e = int(rng.integers(len(docs)))
                if e != d:
                    break
            foreign = [w for line in docs[e] for w in line if w not in words]
            if not foreign:
                foreign = ["[UNK]"]
            k = max(1, int(round(REPLACED * len(hypothesis))))
            for pos in rng.choice(len(hypothesis), k, replace=False):
                hypothesis[pos] = foreign[int(rng.integers(len(foreign)))]
        counts[kind] += 1
        rows.append({"premise": " ".join(words), "hypothesis": " ".join(hypothesis), "label": kind})
    return rows, counts
