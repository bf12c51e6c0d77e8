"""The documents of a pre-training text file: google-research/bert's format, one sentence (or review) per line and
a blank line between documents; `.gz` files are read transparently."""

from __future__ import annotations

import gzip


def read_documents(path: str):
    """Yields each document of `path` as the list of its non-blank lines (stripped)."""
    opener = gzip.open if path.endswith(".gz") else open
    doc = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                doc.append(line)
            elif doc:
                yield doc
                doc = []
    if doc:
        yield doc
