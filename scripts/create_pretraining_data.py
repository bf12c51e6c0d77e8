r"""Creates google-research/bert pre-training records (masked LM + next sentence) from raw text.

Same flags, defaults and record format as google-research/bert's `create_pretraining_data.py`; the records
feed its `run_pretraining.py`, Model Garden's BERT pre-training, and bert_tf's `scripts/run_pretraining.py`.
Differences (see `bert_tf/data/pretraining_data.py`): random-next is the paper's 50% (the original forces a
random B for one-sentence chunks), the work runs in `--num_workers` processes, and the output is deterministic
for a seed whatever the number of workers. As in the original, only `\n` ends a line (`--universal_newlines`
also splits at a bare `\r`), words over 200 characters become [UNK] (`--max_input_chars_per_word=100` for
Hugging Face's limit), and a vocabulary without [PAD] is fine (padding uses id 0).

Example:
  python scripts/create_pretraining_data.py --input_file=tests/testdata/kowiki/kowiki_sample.txt \
      --output_file=/tmp/kowiki.tfrecord --vocab_file=tests/testdata/kowiki/vocab_ko_cased_4k.txt \
      --do_lower_case=false --max_seq_length=128 --max_predictions_per_seq=20 --dupe_factor=5
"""

import json
import sys
import time

from absl import app, flags

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "Input raw text file (or comma-separated list of files / globs).")
flags.DEFINE_string("output_file", None, "Output TF example file (or comma-separated list of files).")
flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on.")
flags.DEFINE_bool("do_lower_case", True, "Whether to lower case the input text. Should be True for uncased models "
                  "and False for cased models.")
flags.DEFINE_bool("do_whole_word_mask", False, "Whether to use whole word masking rather than per-WordPiece "
                  "masking.")
flags.DEFINE_integer("max_seq_length", 128, "Maximum sequence length.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
flags.DEFINE_integer("dupe_factor", 10, "Number of times to duplicate the input data (with different masks).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of creating sequences which are shorter than the maximum "
                   "length.")
flags.DEFINE_integer("num_workers", None, "Worker processes (default: all CPUs). The output does not depend on it.")
flags.DEFINE_bool("universal_newlines", False, "Also end a line at a bare carriage return (\\r), as Python's text "
                  "files do (files from classic Mac OS). Default: only \\n ends a line, as google-research/bert "
                  "reads; a bare \\r inside a line is a space.")
flags.DEFINE_integer("max_input_chars_per_word", 200, "Words longer than this many characters become [UNK]: 200 is "
                     "google-research/bert's limit, Hugging Face's tokenizer uses 100.")


def main(argv):
    del argv
    from bert_tf.data.pretraining_data import PretrainingDataCreator
    from bert_tf.tokenization import ReferenceTokenizer, VocabError, load_vocab

    try:
        vocab = load_vocab(FLAGS.vocab_file)
    except VocabError as e:
        sys.exit(f"create_pretraining_data: {e}")
    # The pure-Python twin of BertTokenizer (same tokens; cheap to fork into worker processes).
    tokenizer = ReferenceTokenizer(vocab, do_lower_case=FLAGS.do_lower_case,
                                   max_input_chars_per_word=FLAGS.max_input_chars_per_word)
    start = time.time()
    try:
        creator = PretrainingDataCreator(
            tokenizer, max_seq_length=FLAGS.max_seq_length, max_predictions_per_seq=FLAGS.max_predictions_per_seq,
            random_seed=FLAGS.random_seed, dupe_factor=FLAGS.dupe_factor, masked_lm_prob=FLAGS.masked_lm_prob,
            short_seq_prob=FLAGS.short_seq_prob, do_whole_word_mask=FLAGS.do_whole_word_mask,
            num_workers=FLAGS.num_workers, universal_newlines=FLAGS.universal_newlines)
        stats = creator.create(FLAGS.input_file, FLAGS.output_file)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"create_pretraining_data: {e}")
    stats["seconds"] = round(time.time() - start, 2)
    print(json.dumps(stats))


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file", "vocab_file"])
    cli.run(main)
