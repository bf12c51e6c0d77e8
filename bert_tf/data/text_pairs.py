"""Sentence pairs whose relation is known by construction, made from unlabeled text (`scripts/prepare_pair_data.py`,
the built-in Korean model's pair probe).

From a pre-training text file (one sentence per line, blank lines between documents) premises are lines of
`min_words` to `max_words` words; each gets one hypothesis of one of three kinds, a third each, all with the same
length distribution (50-90% of the premise's words, at least 3):

- `part`: the premise's words with the rest deleted (a contiguous span, or scattered deletions), order kept;
- `altered`: such a part with 30% of its words (at least one) replaced by words of a line from another document;
- `other`: a span of that length from another line of the same document (a premise whose document has no other
  line of 3 words gets an `altered` hypothesis instead).

`style="graded"` makes pairs closer to how NLI hypotheses are written (a premise with a small change contradicts
it, one with added information is neutral, each premise gets one hypothesis of every kind, so no premise-only cue
names the kind), and varies words' particles so that matching stems, not exact pieces, is what pays:

- `part`: as above;
- `altered`: a part with about 15% of its words (at least one) changed: a word with a digit gets other digits
  (half the time), otherwise the word is replaced by a word of another document whose stem is not the premise's;
- `added`: a shorter part (30-60% of the premise's words, at least 2) with 2-5 consecutive words of another line of
  the same document inserted before or after it (a premise whose document has no other line of 2 words gets an
  `altered` hypothesis instead).

In every graded hypothesis each word ending in a common particle (은, 는, 이, 가, 을, 를, 에, 에서, 의, 도, 로, 으로,
와, 과, 만, ...) has it dropped or swapped for another with probability 0.3, whatever the kind.

The piece-match stage (`match_pairs`, `piece_match_example`; `scripts/run_piece_match.py`) ignores the kinds: it
labels every piece of a pair by whether the same piece is in the other segment. With `cues=True` its pairs also
get negation and numbers changed (`cue_pair`), and `cue_targets` names, from the text, the two cues a premise and
its contradiction most often differ in: one segment negated and the other not, and a number in the hypothesis
that the premise does not have.
"""

from __future__ import annotations

import re

from bert_tf.data.documents import read_documents

KINDS = ("part", "altered", "other")
GRADED_KINDS = ("part", "altered", "added")
REPLACED = 0.3  # share of an `altered` hypothesis's words taken from another document
GRADED_CHANGED = 0.15  # share of a graded `altered` hypothesis's words changed
PARTICLES = ("에서", "으로", "에게", "까지", "부터", "처럼", "보다", "한테", "은", "는", "이", "가", "을", "를", "에", "의",
             "도", "로", "와", "과", "만")  # longest first: a word's particle is its longest matching ending
VARIED = 0.3  # probability that a graded hypothesis's word has its particle dropped or swapped
# Korean negation cues: 않다 (long negation), 없다, 못 / 못하다, 아니다, the adverb 안 (as a word).
NEGATION = re.compile("않|없|못|아니|안 ")
DIGITS = re.compile(r"\d+")
# How `cue_pair` changes a pair (probabilities): the hypothesis's negation toggled, the premise's toggled, a
# negation added to both (so that a cue on one side alone, not a cue anywhere, is what differs), nothing; and,
# independently, a number of the hypothesis given other digits.
CUE_MODES = (("hypothesis", 0.3), ("premise", 0.15), ("both", 0.15), ("none", 0.4))
CUE_NUMBER = 0.3


def _length(words, rng):
    """A hypothesis length: 50-90% of the premise's words, at least 3 and fewer than the premise's."""
    return min(max(3, int(round(len(words) * rng.uniform(0.5, 0.9)))), len(words) - 1)


def _part(words, length, rng):
    """`length` of `words`, order kept: a contiguous span or scattered deletions (half each)."""
    if rng.random() < 0.5:
        start = int(rng.integers(0, len(words) - length + 1))
        return words[start:start + length]
    return [words[i] for i in sorted(rng.choice(len(words), length, replace=False))]


def _foreign_words(docs, d, words, rng):
    """The words of a random document other than `d` that are not in `words`."""
    while True:
        e = int(rng.integers(len(docs)))
        if e != d:
            break
    return [w for line in docs[e] for w in line if w not in words] or ["[UNK]"]


def stem(word):
    """`word` without its particle (the longest of `PARTICLES` it ends in, if more is left)."""
    for p in PARTICLES:
        if word.endswith(p) and len(word) > len(p):
            return word[:-len(p)]
    return word


def _vary_particle(word, rng):
    """`word` with its particle dropped or swapped for another (unchanged if it ends in none or is only one)."""
    base = stem(word)
    if base == word:
        return word
    choices = ["", *(q for q in PARTICLES if q != word[len(base):])]
    return base + choices[int(rng.integers(len(choices)))]


def _new_digits(word, rng):
    """`word` with each decimal digit replaced by a different one (other digit characters, ③ or ², kept)."""
    return "".join(str((int(c) + int(rng.integers(1, 10))) % 10) if c.isdecimal() else c for c in word)


def _graded(docs, d, i, kind, rng):
    """One graded hypothesis of `kind` for premise line `i` of document `d` (the kind actually made, its words)."""
    words = docs[d][i]
    if kind == "added":
        others = [j for j in range(len(docs[d])) if j != i and len(docs[d][j]) >= 2]
        if others:
            line = docs[d][others[int(rng.integers(len(others)))]]
            keep = min(max(2, int(round(len(words) * rng.uniform(0.3, 0.6)))), len(words) - 1)
            take = min(int(rng.integers(2, 6)), len(line))
            start = int(rng.integers(0, len(line) - take + 1))
            part, new = _part(words, keep, rng), line[start:start + take]
            hypothesis = part + new if rng.random() < 0.5 else new + part
        else:
            kind = "altered"
    if kind in ("part", "altered"):
        hypothesis = _part(words, _length(words, rng), rng)
    if kind == "altered":
        k = max(1, int(round(GRADED_CHANGED * len(hypothesis))))
        stems = {stem(w) for w in words}
        foreign = [w for w in _foreign_words(docs, d, words, rng) if stem(w) not in stems] or ["[UNK]"]
        for pos in rng.choice(len(hypothesis), k, replace=False):
            word = hypothesis[pos]
            if any(c.isdigit() for c in word) and rng.random() < 0.5:
                hypothesis[pos] = _new_digits(word, rng)
            else:
                hypothesis[pos] = foreign[int(rng.integers(len(foreign)))]
    return kind, [_vary_particle(w, rng) if rng.random() < VARIED else w for w in hypothesis]


def pair_examples(path: str, num_pairs: int, min_words: int = 5, max_words: int = 20, seed: int = 0,
                  style: str = "copy"):
    """(rows as `{"premise", "hypothesis", "label"}` dicts in a seeded order, counts per label).

    `style` is "copy" (the kinds `KINDS`, one hypothesis per premise) or "graded" (`GRADED_KINDS`, one of each kind
    per premise, adjacent rows)."""
    import numpy as np
    if style not in ("copy", "graded"):
        raise ValueError(f"unknown pair style {style!r}: expected 'copy' or 'graded'")
    rng = np.random.default_rng(seed)
    docs = [[line.split() for line in doc] for doc in read_documents(path)]
    if len(docs) < 2:
        raise ValueError(f"{path}: pairs need at least two documents (blank lines separate them), found {len(docs)}")
    premises = [(d, i) for d, doc in enumerate(docs) for i, words in enumerate(doc)
                if min_words <= len(words) <= max_words]
    if style == "graded":
        rows, counts = [], dict.fromkeys(GRADED_KINDS, 0)
        for index in rng.permutation(len(premises))[:max(1, num_pairs // 3)]:
            d, i = premises[index]
            for kind in GRADED_KINDS:
                made, hypothesis = _graded(docs, d, i, kind, rng)
                counts[made] += 1
                rows.append({"premise": " ".join(docs[d][i]), "hypothesis": " ".join(hypothesis), "label": made})
        return rows, counts
    order = rng.permutation(len(premises))[:num_pairs]
    rows, counts = [], dict.fromkeys(KINDS, 0)
    for n, index in enumerate(order):
        d, i = premises[index]
        words = docs[d][i]
        length = _length(words, rng)
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
            foreign = _foreign_words(docs, d, words, rng)
            k = max(1, int(round(REPLACED * len(hypothesis))))
            for pos in rng.choice(len(hypothesis), k, replace=False):
                hypothesis[pos] = foreign[int(rng.integers(len(foreign)))]
        counts[kind] += 1
        rows.append({"premise": " ".join(words), "hypothesis": " ".join(hypothesis), "label": kind})
    return rows, counts


def negated(text: str) -> bool:
    """Whether `text` carries a Korean negation cue (`NEGATION`)."""
    return bool(NEGATION.search(text))


def _add_negation(words, rng):
    """`words` with one negation added to its predicate (the last word, or a random one a third of the time):
    the adverb 안 or 못 before it, or, for a word ending in 다, the long form (좋다 -> 좋지 않다)."""
    words = list(words)
    pos = len(words) - 1 if rng.random() < 2 / 3 else int(rng.integers(len(words)))
    word = words[pos]
    form = int(rng.integers(3))
    if form == 2 and word.endswith("다") and len(word) > 1:
        words[pos:pos + 1] = [word[:-1] + "지", "않다"]
    else:
        words.insert(pos, ("안", "못")[form % 2])
    return words


def _remove_negation(words):
    """`words` with its negation cues taken out where a rule knows how: the words 안 and 못 dropped, the long
    form joined back (좋지 않다 -> 좋다), 없 -> 있, 아니 -> 이. A cue no rule undoes stays."""
    out = []
    for word in words:
        if word in ("안", "못"):
            continue
        if word.startswith("않") and out and out[-1].endswith("지") and len(out[-1]) > 1:
            out[-1] = out[-1][:-1] + (word[1:] or "다")
            continue
        out.append(word.replace("없", "있").replace("아니", "이"))
    return out or list(words)


def toggle_negation(words, rng):
    """`words` negated when they carry no negation cue, or with their cues removed when they do."""
    return _remove_negation(words) if negated(" ".join(words)) else _add_negation(words, rng)


def cue_pair(premise, hypothesis, rng):
    """(premise, hypothesis) word lists with negation changed by one of `CUE_MODES` and, with probability
    `CUE_NUMBER`, a number of the hypothesis given other digits (`cue_targets` reads the result from the text)."""
    r, mode = rng.random(), "none"
    for name, p in CUE_MODES:
        if r < p:
            mode = name
            break
        r -= p
    if mode in ("hypothesis", "both"):
        hypothesis = _add_negation(hypothesis, rng) if mode == "both" else toggle_negation(hypothesis, rng)
    if mode in ("premise", "both"):
        premise = _add_negation(premise, rng) if mode == "both" else toggle_negation(premise, rng)
    numbers = [i for i, w in enumerate(hypothesis) if any(c.isdecimal() for c in w)]
    if numbers and rng.random() < CUE_NUMBER:
        hypothesis = list(hypothesis)
        pos = numbers[int(rng.integers(len(numbers)))]
        hypothesis[pos] = _new_digits(hypothesis[pos], rng)
    return premise, hypothesis


def cue_targets(premise: str, hypothesis: str) -> list[float]:
    """[one segment negated and the other not, a number in the hypothesis that is not in the premise], as 0/1."""
    return [float(negated(premise) != negated(hypothesis)),
            float(bool(set(DIGITS.findall(hypothesis)) - set(DIGITS.findall(premise))))]


def match_pairs(path: str, num_pairs: int, seed: int, cues: bool = False):
    """The piece-match stage's pairs: `num_pairs // 2` graded pairs (`seed`) then as many copy-style pairs
    (`seed + 100`), as `{"premise", "hypothesis", "label"}` rows (the label is not the stage's target). With
    `cues`, every pair then goes through `cue_pair` (a generator seeded `seed + 200`)."""
    import numpy as np
    rows = []
    for style, style_seed in (("graded", seed), ("copy", seed + 100)):
        rows += pair_examples(path, num_pairs // 2, seed=style_seed, style=style)[0]
    if cues:
        rng = np.random.default_rng(seed + 200)
        for row in rows:
            premise, hypothesis = cue_pair(row["premise"].split(), row["hypothesis"].split(), rng)
            row["premise"], row["hypothesis"] = " ".join(premise), " ".join(hypothesis)
    return rows


def piece_match_example(ids_a, ids_b, seq_len: int, cls_id: int, sep_id: int):
    """Packs `[CLS] a [SEP] b [SEP]` (google-research/bert's longest-first truncation to `seq_len`) and labels each
    piece of a segment 1 if its id occurs in the other segment's kept pieces: (token_ids, segment_ids,
    padding_mask, labels, weights), lists of `seq_len`; weights are 1 on the pieces of the two segments and 0 on
    [CLS], [SEP] and padding."""
    from bert_tf.tokenization.packer import truncate_seq_pair
    a, b = list(ids_a), list(ids_b)
    truncate_seq_pair(a, b, seq_len - 3)
    set_a, set_b = set(a), set(b)
    tokens = [cls_id] + a + [sep_id] + b + [sep_id]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    labels = [0] + [int(t in set_b) for t in a] + [0] + [int(t in set_a) for t in b] + [0]
    weights = [0] + [1] * len(a) + [0] + [1] * len(b) + [0]
    pad = seq_len - len(tokens)
    return (tokens + [0] * pad, segments + [0] * pad, [1] * len(tokens) + [0] * pad, labels + [0] * pad,
            weights + [0] * pad)
