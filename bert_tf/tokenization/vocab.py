"""WordPiece vocabulary files: loading with clear errors, and atomic writing.

A vocabulary file holds one token per line; the line number (from 0) is the token id, as in
google-research/bert's `vocab.txt`. Both `\\n` and `\\r\\n` line ends are accepted.
"""

import collections
import os

from bert_tf.atomic_files import atomic_write
from bert_tf.text_files import read_utf8

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
MASK_TOKEN = "[MASK]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN)
REQUIRED_TOKENS = (UNK_TOKEN, CLS_TOKEN, SEP_TOKEN)
# google-research/bert's WordpieceTokenizer limit (words longer than this many characters become [UNK]);
# Hugging Face's BertTokenizer uses HF_MAX_INPUT_CHARS_PER_WORD.
MAX_INPUT_CHARS_PER_WORD = 200
HF_MAX_INPUT_CHARS_PER_WORD = 100


class VocabError(ValueError):
    """A vocabulary file is missing, unreadable or malformed. The message names the file and the line."""


def read_vocab_lines(path):
    """The tokens of a vocabulary file in id order (no validation beyond decoding).

    Args:
        path: str. The vocabulary file.

    Returns:
        A list of str, one per line, without the line end.

    Raises:
        VocabError: the file is missing, is a directory, or is not UTF-8.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VocabError(f"vocabulary file {path!r} does not exist")
    if os.path.isdir(path):
        raise VocabError(f"vocabulary file {path!r} is a directory, not a file")
    text = read_utf8(path, lambda line, e: VocabError(
        f"vocabulary file {path!r} is not valid UTF-8 (line {line}, byte offset {e.start}: {e.reason})"))
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line end
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def load_vocab(path, required_tokens=REQUIRED_TOKENS):
    """Loads a WordPiece vocabulary file into an ordered dict token -> id.

    Args:
        path: str. The vocabulary file (one token per line; the line number is the id).
        required_tokens: sequence of str. Tokens that must be present. Defaults to `[UNK]`, `[CLS]` and
            `[SEP]`. `[PAD]` is optional, as in google-research/bert, which pads with id 0 whatever token that
            is (padded positions are masked out); bert_tf does the same (`pad_id`).

    Returns:
        A `collections.OrderedDict` mapping each token to its id.

    Raises:
        VocabError: the file is missing, empty, not UTF-8, has an empty or whitespace-padded
            line, a duplicate token (both line numbers are named), or lacks a required token.
    """
    path = os.fspath(path)
    tokens = read_vocab_lines(path)
    if not tokens:
        raise VocabError(f"vocabulary file {path!r} is empty")
    vocab = collections.OrderedDict()
    for index, token in enumerate(tokens):
        line = index + 1
        if token == "":
            raise VocabError(f"vocabulary file {path!r} line {line}: empty line (every line must hold one token)")
        if token != token.strip():
            raise VocabError(
                f"vocabulary file {path!r} line {line}: token {token!r} has leading or trailing whitespace")
        if token in vocab:
            raise VocabError(
                f"vocabulary file {path!r}: duplicate token {token!r} on lines {vocab[token] + 1} and {line}")
        vocab[token] = index
    missing = [t for t in required_tokens if t not in vocab]
    if missing:
        raise VocabError(f"vocabulary file {path!r} lacks the required special token(s) {', '.join(missing)}")
    return vocab


def pad_id(vocab) -> int:
    """The id padding uses: `[PAD]`'s, or 0 when the vocabulary has no `[PAD]` (google-research/bert pads with 0
    whatever token that is; padded positions are masked out, so the token does not matter)."""
    return vocab.get(PAD_TOKEN, 0)


def write_vocab(tokens, path):
    """Writes tokens one per line (UTF-8, `\\n` line ends), atomically: a temporary file, then a rename.

    Args:
        tokens: iterable of str, in id order (a dict token -> id is written in id order).
        path: str. The destination file.

    Raises:
        VocabError: a token is empty, contains a line break or is duplicated.
    """
    path = os.fspath(path)
    if isinstance(tokens, dict):
        tokens = [t for t, _ in sorted(tokens.items(), key=lambda kv: kv[1])]
    tokens = list(tokens)
    seen = {}
    for i, token in enumerate(tokens):
        if not isinstance(token, str) or token == "" or "\n" in token or "\r" in token:
            raise VocabError(f"cannot write vocabulary {path!r}: token {i} ({token!r}) is empty or has a line break")
        if token in seen:
            raise VocabError(f"cannot write vocabulary {path!r}: token {token!r} at ids {seen[token]} and {i}")
        seen[token] = i
    with atomic_write(path, newline="\n") as f:  # permissions as open() gives (mkstemp's were 0600)
        for token in tokens:
            f.write(token + "\n")
