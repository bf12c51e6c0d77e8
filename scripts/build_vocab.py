r"""Learns a WordPiece vocabulary from raw text, for bert_tf's `BertTokenizer`.

Words are split exactly as `BertTokenizer` splits them (google-research/bert's BasicTokenizer: control
characters dropped, CJK ideographs and punctuation split off, and with --do_lower_case lowercasing + NFD +
accent stripping, which turns Hangul syllables into jamo), then tensorflow-text's WordPiece learner
(`wordpiece_tokenizer_learner_lib.learn`, the algorithm behind `bert_vocab_from_dataset` and keras-hub's
`compute_word_piece_vocabulary`) picks the pieces. Those two front ends pre-tokenize with tensorflow-text's
BasicTokenizer, whose NFKC case folding differs from BERT's lowercasing on some characters; counting words
with the tokenizer's own rules avoids a vocabulary that the tokenizer cannot reach.

The file starts with `[PAD] [UNK] [CLS] [SEP] [MASK]` (ids 0-4), then `--num_unused` `[unused0]`... slots,
then the learned pieces; `--vocab_size` counts all of them.

Example (Korean; keep syllables with a cased vocabulary):
  python scripts/build_vocab.py --input_file=tests/testdata/kowiki/kowiki_sample.txt --vocab_size=8000 \
      --do_lower_case=false --output_file=/tmp/ko_vocab.txt
"""

import collections
import glob
import sys

from absl import app, flags, logging

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "Comma-separated globs of UTF-8 text files.")
flags.DEFINE_string("output_file", None, "Where to write vocab.txt (atomically).")
flags.DEFINE_integer("vocab_size", 8000, "Target size, special and unused tokens included. The learner may land "
                     "up to --vocab_size_slack below it (and further when the corpus has no more pieces); the "
                     "size written and why are printed.")
flags.DEFINE_float("vocab_size_slack", 0.05, "The learner's binary search over the piece-count threshold stops at "
                   "the first vocabulary at most this fraction below --vocab_size (tensorflow-text's slack_ratio, "
                   "0.05). Smaller gets closer to --vocab_size at the cost of more passes over the words; 0 "
                   "searches until the threshold is exact.")
flags.DEFINE_bool("do_lower_case", True, "Uncased vocabulary (lowercase + strip accents), as BertTokenizer's "
                  "do_lower_case=True.")
flags.DEFINE_integer("num_unused", 0, "Number of [unusedN] placeholder tokens after the special tokens.")
flags.DEFINE_integer("max_unique_chars", 2000, "Most frequent characters kept as single-character pieces "
                     "(Korean needs about 1,500-2,500; characters left out make their words [UNK]).")
flags.DEFINE_integer("min_word_count", 2, "Words seen fewer times are ignored by the learner.")
flags.DEFINE_integer("max_lines", 0, "Read at most this many lines (0: all).")
flags.DEFINE_integer("upper_threshold", 10_000_000, "Upper end of the learner's binary search over the piece-count "
                     "threshold (tensorflow-text's default 1e7). Every probe is a full pass over the words, so a "
                     "bound near the expected threshold (a few thousand for a 60 MB corpus) saves passes.")
flags.DEFINE_integer("max_input_words", 0, "Only the N most frequent words feed the learner (0: all above "
                     "--min_word_count). The cost of each pass grows with the number of distinct words.")


def count_words(input_files, do_lower_case, max_lines=0):
    """Counts the words of the files as BertTokenizer's basic tokenization splits them."""
    from bert_tf.tokenization.reference_tokenizer import google_basic_tokenize

    counts = collections.Counter()
    lines = 0
    for path in input_files:
        with open(path, "rb") as f:
            for line_number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as e:
                    raise ValueError(f"{path} line {line_number}: not valid UTF-8 ({e.reason} at byte {e.start} "
                                     "of the line)") from None
                if not line:
                    continue
                counts.update(google_basic_tokenize(line, do_lower_case=do_lower_case))
                lines += 1
                if max_lines and lines >= max_lines:
                    return counts
    return counts


def learn_vocab(word_counts, vocab_size, num_unused=0, max_unique_chars=2000, min_word_count=2,
                upper_threshold=10_000_000, max_input_words=0, vocab_size_slack=0.05):
    """WordPiece vocabulary (list of tokens, specials first) from `{word: count}`."""
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    from bert_tf.tokenization.vocab import SPECIAL_TOKENS

    reserved = list(SPECIAL_TOKENS) + [f"[unused{i}]" for i in range(num_unused)]
    if vocab_size <= len(reserved):
        raise ValueError(f"vocab_size {vocab_size} leaves no room after {len(reserved)} reserved tokens")
    upper_threshold = max(int(upper_threshold), min_word_count + 1)
    vocab = learner.learn(sorted(word_counts.items()), vocab_size, reserved, upper_thresh=upper_threshold,
                          lower_thresh=min_word_count, max_unique_chars=max_unique_chars, num_iterations=4,
                          max_input_tokens=max_input_words or -1, slack_ratio=vocab_size_slack)
    seen = set()
    tokens = []
    for token in reserved + [t for t in vocab if t not in reserved]:
        if token not in seen and token.strip() == token and token:
            seen.add(token)
            tokens.append(token)
    return tokens[:vocab_size]


def size_note(size, vocab_size, vocab_size_slack, min_word_count):
    """Why a vocabulary came out smaller than asked (empty when it did not)."""
    if size >= vocab_size:
        return ""
    if size >= vocab_size * (1 - vocab_size_slack):
        return (f"{vocab_size - size} below --vocab_size={vocab_size}: the WordPiece learner stops at the first "
                f"piece-count threshold whose vocabulary is within --vocab_size_slack={vocab_size_slack:g} below "
                "the target; a smaller --vocab_size_slack gets closer (more passes over the words)")
    return (f"{vocab_size - size} below --vocab_size={vocab_size}: the corpus has no more pieces seen at least "
            f"--min_word_count={min_word_count} times; lower it or add text for a larger vocabulary")


def expand(patterns):
    files = []
    for pattern in patterns.split(","):
        matches = sorted(glob.glob(pattern.strip()))
        if not matches:
            raise FileNotFoundError(f"--input_file pattern {pattern!r} matches no file")
        files.extend(m for m in matches if m not in files)
    return files


def main(argv):
    del argv
    from bert_tf.tokenization import write_vocab

    try:
        files = expand(FLAGS.input_file)
    except FileNotFoundError as e:
        sys.exit(f"build_vocab: {e}")
    try:
        counts = count_words(files, FLAGS.do_lower_case, FLAGS.max_lines)
    except (OSError, ValueError) as e:
        sys.exit(f"build_vocab: {e}")
    if not counts:
        sys.exit(f"build_vocab: no words in {files}")
    if not 0 <= FLAGS.vocab_size_slack < 1:
        sys.exit(f"build_vocab: --vocab_size_slack must be in [0, 1), got {FLAGS.vocab_size_slack}")
    tokens = learn_vocab(counts, FLAGS.vocab_size, FLAGS.num_unused, FLAGS.max_unique_chars, FLAGS.min_word_count,
                         FLAGS.upper_threshold, FLAGS.max_input_words, FLAGS.vocab_size_slack)
    write_vocab(tokens, FLAGS.output_file)
    logging.info("wrote %d tokens (%d distinct words in %d files) to %s", len(tokens), len(counts), len(files),
                 FLAGS.output_file)
    note = size_note(len(tokens), FLAGS.vocab_size, FLAGS.vocab_size_slack, FLAGS.min_word_count)
    print(f"wrote {len(tokens)} tokens to {FLAGS.output_file}" + (f" ({note})" if note else ""))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file"])
    cli.run(main)
