r"""Extracts fixed BERT features (google-research/bert's extract_features.py, on any checkpoint bert_tf loads).

Example:
  python scripts/extract_features.py --input_file=input.txt --output_file=features.jsonl \
      --init_checkpoint="$(python -c 'from bert_tf.pretrained import minilm_l6_dir; print(minilm_l6_dir())')" \
      --layers=-1,-2,-3,-4 --max_seq_length=128 --batch_size=8
"""

import sys

from absl import app, flags, logging

import cli  # --help exits 0; quiet TensorFlow logs (--verbose_logs)

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(cli)
flags.DEFINE_string("input_file", None, "Text file: one text per line, 'A ||| B' for a pair.")
flags.DEFINE_string("output_file", None, "Where to write the JSON lines.")
flags.DEFINE_string("layers", "-1,-2,-3,-4", "Comma-separated transformer layer indexes (negative from the top).")
flags.DEFINE_string("init_checkpoint", None,
                    "A checkpoint in any format bert_tf loads: a Hugging Face or bert_tf directory, a Google TF1 "
                    "or Model Garden checkpoint prefix or directory.")
flags.DEFINE_string("vocab_file", None, "vocab.txt; defaults to the one beside the checkpoint.")
flags.DEFINE_string("bert_config_file", None, "bert_config.json / config.json; defaults to the one beside the checkpoint.")
flags.DEFINE_bool("do_lower_case", None, "Uncased vocabulary; defaults to what the checkpoint's config says.")
flags.DEFINE_integer("max_seq_length", 128, "Longer inputs are truncated longest-first, with a warning naming the line.")
flags.DEFINE_integer("batch_size", 8, "Examples per forward pass.")
flags.DEFINE_enum("pooling", "none", ["none", "cls_token", "mean", "cls"],
                  "none: every token's vectors (google-research/bert's format); cls_token (the raw [CLS] vector) or "
                  "mean (over real tokens): one vector per line. The names of bert_tf.heads.SequencePooling; cls: "
                  "deprecated name of cls_token here.")
cli.define_renamed_values("pooling", {"cls": "cls_token"})  # the raw [CLS] vector's old name here


def main(argv):
    del argv
    from bert_tf import checkpoints, feature_extraction
    from bert_tf.tokenization import BertTokenizer

    try:
        layers = [int(x) for x in FLAGS.layers.split(",") if x.strip()]
    except ValueError:
        raise app.UsageError(f"--layers must be comma-separated integers, got {FLAGS.layers!r}") from None
    pooling = FLAGS.pooling
    try:
        examples = feature_extraction.read_line_examples(FLAGS.input_file)
        encoder = checkpoints.load_encoder(FLAGS.init_checkpoint, config_file=FLAGS.bert_config_file,
                                           do_lower_case=FLAGS.do_lower_case)
        vocab_file = FLAGS.vocab_file or checkpoints.find_vocab(FLAGS.init_checkpoint)
        tokenizer = BertTokenizer(vocab_file, do_lower_case=encoder.bert_config.do_lower_case)
        if tokenizer.vocab_size != encoder.bert_config.vocab_size:
            raise ValueError(f"{vocab_file} has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                             f"{encoder.bert_config.vocab_size}")
        records = feature_extraction.extract_features(
            encoder, tokenizer, examples, layers=layers, max_seq_length=FLAGS.max_seq_length,
            batch_size=FLAGS.batch_size, pooling=pooling)
        count = feature_extraction.write_jsonl(records, FLAGS.output_file)
    except (ValueError, FileNotFoundError) as e:
        logging.error("%s", e)
        sys.exit(f"error: {e}")
    logging.info("wrote %d records (%s) to %s", count, "tokens" if pooling == "none" else pooling,
                 FLAGS.output_file)
    print(f"extract_features: {count} lines -> {FLAGS.output_file} (layers {layers}, pooling={pooling})")


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file", "init_checkpoint"])
    cli.run(main)
