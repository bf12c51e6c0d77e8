"""A pure-Python twin of google-research/bert's `tokenization.py` (FullTokenizer), with character offsets.

The behaviour, step by step (google-research/bert's `BasicTokenizer` + `WordpieceTokenizer`):
1. clean: drop U+0000, U+FFFD and control characters (categories Cc and Cf, except tab/newline/return);
   turn whitespace (space, tab, newline, return, category Zs) into a space;
2. put spaces around CJK ideographs (the `_is_chinese_char` ranges; not Hangul, kana or full-width forms);
3. split on whitespace (Python's `str.split()`, which also splits on U+2028/U+2029);
4. uncased only: per whitespace token, `str.lower()` (full Unicode, final sigma included), NFD, drop
   combining marks (category Mn) — so Hangul syllables become conjoining jamo, as in the reference;
5. split off every punctuation character (ASCII symbols and category P*) as its own word;
6. WordPiece, greedy longest-match-first with `##` continuation pieces; a word longer than
   `max_input_chars_per_word` characters, or one with no full match, becomes `[UNK]`.

`split_special_tokens=True` (the default, as google-research/bert): text that spells `[MASK]` etc. is
ordinary text (`[`, `mask`, `]`), so raw user text cannot inject control tokens.
`split_special_tokens=False` (Hugging Face's default): such text, matched exactly (case-sensitive), stays
that special token; the text between matches is tokenized on its own.

Offsets are character (code point) indices into the original `str`: a piece's `(start, end)` covers the
original characters it came from (all pieces of one Hangul syllable share that syllable's span; a combining
mark removed by accent stripping belongs to the character before it, so `cafe` from `cafe\u0301` spans 5).
"""

import os
import re
import unicodedata
from collections.abc import Mapping

from bert_tf.deprecation import renamed_attribute, renamed_kwargs
from bert_tf.tokenization import vocab as vocab_lib

_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)


def is_chinese_char(cp):
    """google-research/bert's `_is_chinese_char` (CJK Unified Ideographs blocks only)."""
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def is_whitespace(char):
    """google-research/bert's `_is_whitespace`."""
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char):
    """google-research/bert's `_is_control` (Cc and Cf, tab/newline/return excluded)."""
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def is_punctuation(char):
    """google-research/bert's `_is_punctuation` (ASCII symbols count as punctuation)."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_dropped(char):
    """Removed by `_clean_text`: U+0000, U+FFFD and control characters."""
    cp = ord(char)
    return cp == 0 or cp == 0xFFFD or is_control(char)


# === The literal port (strings only); the offset-tracking tokenizer below is tested against it ===


@renamed_kwargs(lowercase="do_lower_case")
def google_basic_tokenize(text, do_lower_case=True):
    """google-research/bert's `BasicTokenizer.tokenize`, ported literally (no offsets)."""
    out = []
    for char in text:
        if is_dropped(char):
            continue
        out.append(" " if is_whitespace(char) else char)
    text = "".join(out)
    out = []
    for char in text:
        if is_chinese_char(ord(char)):
            out.extend([" ", char, " "])
        else:
            out.append(char)
    text = "".join(out)
    split_tokens = []
    for token in text.split():
        if do_lower_case:
            token = token.lower()
            token = "".join(c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn")
        words = []
        start_new_word = True
        for char in token:
            if is_punctuation(char):
                words.append([char])
                start_new_word = True
            else:
                if start_new_word:
                    words.append([])
                start_new_word = False
                words[-1].append(char)
        split_tokens.extend("".join(w) for w in words)
    return " ".join(split_tokens).split()


def google_wordpiece(word, vocab, unk_token=vocab_lib.UNK_TOKEN,
                     max_input_chars_per_word=vocab_lib.MAX_INPUT_CHARS_PER_WORD):
    """google-research/bert's `WordpieceTokenizer.tokenize` for one word (greedy longest-match-first)."""
    chars = list(word)
    if len(chars) > max_input_chars_per_word:
        return [unk_token]
    pieces = _longest_match_first(chars, vocab)
    return [unk_token] if pieces is None else [piece for piece, _, _ in pieces]


def _longest_match_first(chars, vocab):
    """google-research/bert's WordPiece loop over a word's characters: `(piece, start, end)` per piece (`end`
    exclusive, indexes into `chars`; continuation pieces carry `##`), or None when a position has no match
    (the whole word is then `[UNK]`)."""
    start = 0
    pieces = []
    while start < len(chars):
        end = len(chars)
        cur = None
        while start < end:
            sub = "".join(chars[start:end])
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return None
        pieces.append((cur, start, end))
        start = end
    return pieces


# === The reference tokenizer with offsets ===


def _canonical_order(chars, sources):
    """Canonical ordering of NFD (stable sort of each run of non-starters by combining class)."""
    i = 0
    n = len(chars)
    while i < n:
        if unicodedata.combining(chars[i]) == 0:
            i += 1
            continue
        j = i
        while j < n and unicodedata.combining(chars[j]) != 0:
            j += 1
        run = sorted(range(i, j), key=lambda k: unicodedata.combining(chars[k]))
        chars[i:j] = [chars[k] for k in run]
        sources[i:j] = [sources[k] for k in run]
        i = j
    return chars, sources


class ReferenceTokenizer:
    """google-research/bert's FullTokenizer in pure Python, with character offsets into the original text.

    Args:
        vocab: dict str -> int (see `load_vocab`), or the path of a vocabulary file (loaded with `load_vocab`, as
            google-research/bert's `FullTokenizer(vocab_file)` takes it).
        do_lower_case: bool. Lowercase and strip accents (uncased models). Defaults to True.
        split_special_tokens: bool. Treat text spelling a special token as ordinary text. Defaults to True.
        max_input_chars_per_word: int. Longer words (in characters) become `[UNK]`. Defaults to 200,
            google-research/bert's value; Hugging Face's `BertTokenizer` uses 100 (pass 100 for its ids on
            words of 101-200 characters).
        special_tokens: sequence of str. The tokens kept whole when `split_special_tokens=False`
            (those present in `vocab`). Defaults to `[PAD] [UNK] [CLS] [SEP] [MASK]`.

    Example:
    >>> tok = ReferenceTokenizer({"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, ",": 4})
    >>> tok.tokenize("Unaffable,")
    ['un', '##aff', '##able', ',']
    """

    @renamed_kwargs(lowercase="do_lower_case")
    def __init__(self, vocab, do_lower_case=True, split_special_tokens=True,
                 max_input_chars_per_word=vocab_lib.MAX_INPUT_CHARS_PER_WORD,
                 special_tokens=vocab_lib.SPECIAL_TOKENS):
        if isinstance(vocab, (str, bytes, os.PathLike)):
            vocab = vocab_lib.load_vocab(os.fsdecode(vocab))
        elif not isinstance(vocab, Mapping):
            # a list of tokens would be searched by `in` and every word would silently become [UNK]
            raise TypeError(f"vocab must be a dict token -> id (load_vocab) or a vocabulary file's path, got "
                            f"{type(vocab).__name__}")
        self.vocab = vocab
        self.do_lower_case = do_lower_case
        self.split_special_tokens = split_special_tokens
        self.max_input_chars_per_word = max_input_chars_per_word
        self.unk_token = vocab_lib.UNK_TOKEN
        self.special_tokens = tuple(t for t in special_tokens if t in vocab)
        if self.special_tokens:
            alternatives = sorted(self.special_tokens, key=len, reverse=True)
            self._special_re = re.compile("|".join(re.escape(t) for t in alternatives))
        else:
            self._special_re = None

    lowercase = renamed_attribute("lowercase", "do_lower_case")

    # --- basic tokenization over (char, source index) pairs ---

    def _basic_words(self, text, offset):
        """Words of `text` as lists of (char, start, end) with original character spans (shifted by `offset`)."""
        # clean + whitespace + CJK spacing: a list of tokens, each a list of (char, start, end).
        tokens = []
        current = []
        for i, char in enumerate(text):
            if is_dropped(char):
                continue
            if is_whitespace(char) or char.isspace():
                if current:
                    tokens.append(current)
                current = []
            elif is_chinese_char(ord(char)):
                if current:
                    tokens.append(current)
                tokens.append([(char, i + offset, i + offset + 1)])
                current = []
            else:
                current.append((char, i + offset, i + offset + 1))
        if current:
            tokens.append(current)
        words = []
        for token in tokens:
            if self.do_lower_case:
                token = self._lower_strip(token)
            word = []
            for item in token:
                if is_punctuation(item[0]):
                    if word:
                        words.append(word)
                    words.append([item])
                    word = []
                else:
                    word.append(item)
            if word:
                words.append(word)
        return words

    @staticmethod
    def _lower_strip(token):
        string = "".join(c for c, _, _ in token)
        lowered = string.lower()  # whole token: Python applies the final-sigma rule in context
        sources = []
        for char, start, end in token:
            sources.extend([(start, end)] * len(char.lower()))
        if len(sources) != len(lowered):  # pragma: no cover - would mean a context-dependent length change
            raise AssertionError(f"lowercasing changed length unexpectedly for {string!r}")
        chars = []
        nfd_sources = []
        for char, src in zip(lowered, sources):
            decomposed = unicodedata.normalize("NFD", char)
            chars.extend(decomposed)
            nfd_sources.extend([src] * len(decomposed))
        chars, nfd_sources = _canonical_order(chars, nfd_sources)
        if "".join(chars) != unicodedata.normalize("NFD", lowered):  # pragma: no cover - a self-check
            raise AssertionError(f"NFD mismatch for {string!r}")
        # Drop combining marks; a dropped mark widens the span of the character before it (so "cafe" from
        # "cafe\u0301" covers the accent too).
        out = []
        for c, (start, end) in zip(chars, nfd_sources):
            if unicodedata.category(c) != "Mn":
                out.append([c, start, end])
            elif out:
                out[-1][2] = max(out[-1][2], end)
        return [tuple(x) for x in out]

    def _wordpiece(self, word):
        """WordPiece over a word of (char, start, end) -> list of (piece, start, end)."""
        chars = [c for c, _, _ in word]
        pieces = None if len(chars) > self.max_input_chars_per_word else _longest_match_first(chars, self.vocab)
        if pieces is None:
            return [(self.unk_token, word[0][1], word[-1][2])]
        return [(piece, word[start][1], word[end - 1][2]) for piece, start, end in pieces]

    # --- public API ---

    def tokenize_words_with_offsets(self, text):
        """Pieces grouped by basic-tokenizer word.

        Args:
            text: str.

        Returns:
            A list (one entry per word) of lists of `(piece, start, end)`; `start`/`end` are character
            offsets into `text`. A special token kept whole is a word of its own.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        segments = []  # (is_special, text, offset)
        if self.split_special_tokens or self._special_re is None:
            segments.append((False, text, 0))
        else:
            pos = 0
            for m in self._special_re.finditer(text):
                if m.start() > pos:
                    segments.append((False, text[pos:m.start()], pos))
                segments.append((True, m.group(0), m.start()))
                pos = m.end()
            if pos < len(text):
                segments.append((False, text[pos:], pos))
        result = []
        for is_special, segment, offset in segments:
            if is_special:
                result.append([(segment, offset, offset + len(segment))])
                continue
            for word in self._basic_words(segment, offset):
                result.append(self._wordpiece(word))
        return result

    def tokenize_with_offsets(self, text):
        """List of `(piece, start, end)` with character offsets into `text`."""
        return [p for word in self.tokenize_words_with_offsets(text) for p in word]

    def tokenize_words(self, text):
        """Pieces grouped by word: a list of lists of str."""
        return [[p for p, _, _ in word] for word in self.tokenize_words_with_offsets(text)]

    def tokenize(self, text):
        """WordPiece tokens (str) of `text`."""
        return [p for word in self.tokenize_words_with_offsets(text) for p, _, _ in word]
