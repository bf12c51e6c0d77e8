"""Reviews labelled by their emoticons, for a sentence-level distant-supervision stage (`scripts/prepare_emoticon_data.py`,
the built-in Korean model's stage 4).

A review's emoticons are labels that come with unlabeled text (Read 2005; Go et al. 2009; DeepMoji, Felbo et al.
2017). From a pre-training text file (one review per line, blank lines between documents) `emoticon_examples`
keeps every review that carries exactly one of the eight `CLASSES`, deletes every emoticon character from it
(`STRIP`: a lone ㅋ, one "!" or "^" would name the label) and draws at most `per_class` reviews per class.
"""

from __future__ import annotations

import collections
import re

# The eight classes; a review is kept only when exactly one of them occurs in it.
CLASSES = {
    "laugh_k": r"ㅋ{2,}",
    "laugh_h": r"ㅎ{2,}",
    "cry": r"[ㅠㅜ]{2,}",
    "smile": r"\^[_\-]?\^|:\)",
    "annoyed": r"ㅡ[_.]?ㅡ|-[_.]-",
    "sweat": r";{2,}",
    "heart": r"[♥♡❤]",
    "bang": r"!{2,}",
}
# Deleted from every kept review, so that no trace of any class names the label.
STRIP = re.compile(r"[ㅋㅎㅠㅜㅡ♥♡❤;!^]+|-[_.]-|:\)")


def emoticon_examples(path: str, per_class: int, min_chars: int, seed: int):
    """(rows as `{"text", "label"}` dicts in a seeded order, counts per class `{"available", "used"}`); reviews
    shorter than `min_chars` once stripped, and repeats, are dropped."""
    import numpy as np
    patterns = {name: re.compile(p) for name, p in CLASSES.items()}
    by_class = collections.defaultdict(list)
    seen = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            found = [name for name, p in patterns.items() if p.search(line)]
            if len(found) != 1:
                continue
            text = " ".join(STRIP.sub(" ", line).split())
            if len(text) < min_chars or text in seen:
                continue
            seen.add(text)
            by_class[found[0]].append(text)
    rng = np.random.default_rng(seed)
    rows, counts = [], {}
    for name in CLASSES:
        texts = by_class[name]
        chosen = [texts[i] for i in sorted(rng.choice(len(texts), min(per_class, len(texts)), replace=False))]
        counts[name] = {"available": len(texts), "used": len(chosen)}
        rows += [{"text": t, "label": name} for t in chosen]
    return [rows[i] for i in rng.permutation(len(rows))], counts
