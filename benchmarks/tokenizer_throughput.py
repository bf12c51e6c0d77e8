"""Throughput of BERT tokenization: bert_tf's core-op and tensorflow-text graphs, pure Python, Hugging Face tokenizers.

    python benchmarks/tokenizer_throughput.py --input_file=tests/testdata/kowiki/kowiki_sample.txt \
        --vocab_file=tests/testdata/vocab/uncased_vocab.txt --batch_size=256 --num_lines=4096 --max_seq_length=128

Every variant does the same job on the same lines: text -> `[CLS] pieces [SEP]` truncated and padded to
`--max_seq_length`, returned as int32 numpy arrays [batch, max_seq_length] (token ids, segment ids, padding mask),
one call per batch of `--batch_size` lines:

    core_ops       `CoreOpsBertTokenizer.encode_tf` (the SavedModel export default) in a `tf.function`
    tf_text        `BertTokenizer.encode_tf` (tensorflow-text ops) in a `tf.function`
    python         `BertTokenizer.encode`, one line at a time (google-research/bert's algorithm; `--python`)
    hf_tokenizers  Hugging Face `tokenizers` (optional: `pip install tokenizers`; skipped with a note when it is
                   missing): a `Tokenizer` with `BertNormalizer`, `BertPreTokenizer` and a `WordPiece` model from
                   the same vocab.txt and casing, `BertProcessing` for [CLS]/[SEP], truncation and padding to
                   `--max_seq_length`, called with `encode_batch` (its own thread pool, one thread per core)

Built from the components rather than `BertWordPieceTokenizer`, which registers [CLS], [MASK], ... as added
tokens and so turns text that spells them into control tokens; bert_tf's default (google-research/bert's) treats
such text as ordinary text, and so does this tokenizer.

Timing is interleaved (`common.interleaved_times`): one warm-up pass over all lines per variant (tracing),
then each round times one pass of every variant in turn; medians over rounds are reported. Ids: core-op and
tensorflow-text must be identical (asserted); for Python and Hugging Face the script counts the lines whose
ids equal tensorflow-text's, both for the packed, truncated output and for the untruncated piece ids, and prints
a few of the differing lines. Prints `SUMMARY` lines (issue 6 target: core-op within 3x of tensorflow-text, i.e.
a throughput ratio >= 0.33) and writes `--output_json`.
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", "tests/testdata/kowiki/kowiki_sample.txt", "Text, one example per line.")
flags.DEFINE_string("vocab_file", "tests/testdata/vocab/uncased_vocab.txt", "WordPiece vocabulary.")
flags.DEFINE_bool("do_lower_case", True, "Uncased tokenization.")
flags.DEFINE_integer("batch_size", 256, "Lines per tokenizer call.")
flags.DEFINE_integer("num_lines", 4096, "Lines to use (non-empty); a shorter file is repeated to this many.")
flags.DEFINE_integer("max_seq_length", 128, "Packed length: [CLS] + pieces + [SEP], truncated and padded.")
flags.DEFINE_integer("warmup", 1, "Untimed passes over all lines per variant (tracing).")
flags.DEFINE_integer("rounds", 5, "Timed interleaved rounds (one pass over all lines per variant each).")
flags.DEFINE_bool("python", True, "Also time the pure-Python tokenizer.")
flags.DEFINE_bool("hf_tokenizers", True, "Also time Hugging Face `tokenizers` (when it is installed).")
flags.DEFINE_integer("show_diffs", 3, "Differing lines to print per parity comparison.")
flags.DEFINE_string("output_json", "benchmarks/results/tokenizer_throughput.json", "Results file ('' = none).")

FEATURES = ("token_ids", "segment_ids", "padding_mask")


def hf_bert_tokenizer(vocab_file, do_lower_case, max_seq_length=None):
    """A Hugging Face `tokenizers.Tokenizer` doing BERT's uncased/cased WordPiece with `vocab_file`.

    With `max_seq_length`: [CLS]/[SEP] added, truncated and padded to that length; without: bare pieces.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece.from_file(vocab_file, unk_token="[UNK]", max_input_chars_per_word=100))
    # strip_accents=None follows `lowercase`, as google-research/bert (uncased strips accents, cased keeps them).
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=do_lower_case)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if max_seq_length is not None:
        cls_id, sep_id, pad_id = (tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
        tok.post_processor = processors.BertProcessing(("[SEP]", sep_id), ("[CLS]", cls_id))
        tok.enable_truncation(max_length=max_seq_length)
        tok.enable_padding(length=max_seq_length, pad_id=pad_id, pad_token="[PAD]")
    return tok


def _parity(name, ids, reference, lines, to_tokens, limit):
    """Count of rows of `ids` equal to `reference`'s (lists of int lists); prints up to `limit` differing lines."""
    same = [a == b for a, b in zip(ids, reference)]
    shown = 0
    for i, ok in enumerate(same):
        if ok or shown >= limit:
            continue
        a, b = ids[i], reference[i]
        pos = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        print(f"    line {i}: first difference at piece {pos}: {name} {to_tokens(a[pos:pos + 4])} vs "
              f"tf_text {to_tokens(b[pos:pos + 4])}  text: {lines[i][:80]!r}")
        shown += 1
    return sum(same)


def main(argv):
    del argv
    load_at_start = list(os.getloadavg())
    import numpy as np
    import tensorflow as tf

    from bert_tf.tokenization import BertTokenizer, CoreOpsBertTokenizer

    with open(FLAGS.input_file, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    lines = (lines * (FLAGS.num_lines // max(len(lines), 1) + 1))[:FLAGS.num_lines]
    chars = sum(len(line) for line in lines)
    batches = [lines[i:i + FLAGS.batch_size] for i in range(0, len(lines), FLAGS.batch_size)]
    tensors = [tf.constant(b) for b in batches]
    seq_len = FLAGS.max_seq_length
    print(f"{FLAGS.input_file}: {len(lines)} lines ({len(set(lines))} distinct), {chars} characters, "
          f"batch size {FLAGS.batch_size}, max_seq_length {seq_len}, vocab {FLAGS.vocab_file}, "
          f"do_lower_case {FLAGS.do_lower_case}", flush=True)

    last = {}  # each variant's outputs of its latest pass: {name: {feature: int32 [N, seq_len]}}
    candidates = {}
    for name, cls in (("core_ops", CoreOpsBertTokenizer), ("tf_text", BertTokenizer)):
        tok = cls(FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case)
        fn = tf.function(lambda s, tok=tok: tok.encode_tf(s, max_seq_length=seq_len),
                         input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)

        def run(fn=fn, name=name):
            outs = [{k: v.numpy() for k, v in fn(t).items()} for t in tensors]
            last[name] = {k: np.concatenate([o[k] for o in outs]) for k in FEATURES}
        candidates[name] = run
    py_tok = tok  # the tensorflow-text tokenizer; its Python API is google-research/bert's algorithm

    if FLAGS.python:
        def run_python():
            outs = [py_tok.encode(line, max_seq_length=seq_len) for line in lines]
            last["python"] = {k: np.stack([o[k] for o in outs]) for k in FEATURES}
        candidates["python"] = run_python

    hf_version = None
    if FLAGS.hf_tokenizers:
        try:
            import tokenizers
        except ImportError:
            print("NOTE: Hugging Face `tokenizers` is not installed: hf_tokenizers skipped "
                  "(pip install tokenizers, or pip install -e .[bench])", flush=True)
        else:
            hf_version = tokenizers.__version__
            hf_tok = hf_bert_tokenizer(FLAGS.vocab_file, FLAGS.do_lower_case, seq_len)

            def run_hf():
                encs = [e for b in batches for e in hf_tok.encode_batch(b)]
                last["hf_tokenizers"] = {
                    "token_ids": np.array([e.ids for e in encs], np.int32),
                    "segment_ids": np.array([e.type_ids for e in encs], np.int32),
                    "padding_mask": np.array([e.attention_mask for e in encs], np.int32)}
            candidates["hf_tokenizers"] = run_hf

    times = common.interleaved_times(candidates, warmup=FLAGS.warmup, rounds=FLAGS.rounds)

    results = {}
    for name, seconds in times.items():
        t = common.median(seconds)
        results[name] = {"seconds_per_pass": t, "seconds_per_round": seconds, "lines_per_second": len(lines) / t,
                         "chars_per_second": chars / t}
        print(f"{name:14s} {t:7.3f} s  {len(lines) / t:9.0f} lines/s  {chars / t:11.0f} chars/s  "
              f"(median of {len(seconds)} rounds, {min(seconds):.3f}-{max(seconds):.3f} s)")

    # === Ids ===
    for k in FEATURES:
        assert np.array_equal(last["core_ops"][k], last["tf_text"][k]), f"core-op and tensorflow-text {k} differ"
    print("ids: core_ops == tf_text on every line (token ids, segment ids, padding mask)")
    reference = last["tf_text"]["token_ids"].tolist()
    to_tokens = py_tok.convert_ids_to_tokens
    parity = {}
    for name in ("python", "hf_tokenizers"):
        if name not in last:
            continue
        ids = last[name]
        packed = _parity(name, ids["token_ids"].tolist(), reference, lines, to_tokens, FLAGS.show_diffs)
        all_features = sum(all(np.array_equal(ids[k][i], last["tf_text"][k][i]) for k in FEATURES)
                           for i in range(len(lines)))
        parity[name] = {"packed_token_ids_equal": packed, "packed_all_features_equal": all_features,
                        "lines": len(lines)}
        print(f"ids: {name} == tf_text on {packed}/{len(lines)} lines (packed to {seq_len}; all three features: "
              f"{all_features})")
    if "hf_tokenizers" in last:
        # Untruncated: do the tokenizers also agree past max_seq_length? (outside the timing)
        bare = hf_bert_tokenizer(FLAGS.vocab_file, FLAGS.do_lower_case)
        hf_full = [e.ids for b in batches for e in bare.encode_batch(b, add_special_tokens=False)]
        full_fn = tf.function(py_tok.tokenize_tf, input_signature=[tf.TensorSpec([None], tf.string)],
                              autograph=False)
        tf_full = [row for t in tensors for row in full_fn(t).to_list()]
        full = _parity("hf_tokenizers", hf_full, tf_full, lines, to_tokens, FLAGS.show_diffs)
        pieces = sum(len(r) for r in tf_full)
        truncated = sum(len(r) > seq_len - 2 for r in tf_full)
        parity["hf_tokenizers"].update(untruncated_ids_equal=full, tf_text_pieces=pieces,
                                       hf_pieces=sum(len(r) for r in hf_full), lines_truncated=truncated)
        print(f"ids: hf_tokenizers == tf_text on {full}/{len(lines)} lines untruncated ({pieces} tf_text pieces, "
              f"{parity['hf_tokenizers']['hf_pieces']} hf pieces; {truncated} lines longer than "
              f"{seq_len - 2} pieces)")

    # === Summary ===
    comparisons = [("tokenizer core-op vs tensorflow-text", "core_ops", "tf_text", 0.333)]
    if "hf_tokenizers" in times:
        comparisons += [("tokenizer bert_tf tf-text vs HF tokenizers", "tf_text", "hf_tokenizers", None),
                        ("tokenizer bert_tf core-op vs HF tokenizers", "core_ops", "hf_tokenizers", None)]
    lines_out, records = [], []
    for what, num, den, target in comparisons:
        line, record = common.ratio_line(
            what, num, results[num]["lines_per_second"], den, results[den]["lines_per_second"], "lines/s",
            target=target, per_round=common.per_round_ratios(times[num], times[den]))
        lines_out.append(line)
        records.append(record)
    if "hf_tokenizers" in parity:
        p = parity["hf_tokenizers"]
        lines_out.append(f"SUMMARY tokenizer ids HF tokenizers vs bert_tf: {p['packed_token_ids_equal']}/"
                         f"{len(lines)} lines identical packed to {seq_len}, {p['untruncated_ids_equal']}/"
                         f"{len(lines)} untruncated")
    print("\n".join(lines_out))

    if FLAGS.output_json:
        info = common.machine_info()  # (imports the other benchmarks' optional peers: after the timing)
        info.update(load_average_at_start=load_at_start, load_average_at_end=list(os.getloadavg()))
        info["versions"].update(tensorflow_text=__import__("tensorflow_text").__version__, tokenizers=hf_version)
        common.write_json(FLAGS.output_json, {
            "command": " ".join(sys.argv), "machine": info,
            "setup": {"input_file": FLAGS.input_file, "vocab_file": FLAGS.vocab_file, "lines": len(lines),
                      "distinct_lines": len(set(lines)), "characters": chars, "batch_size": FLAGS.batch_size,
                      "max_seq_length": seq_len, "do_lower_case": FLAGS.do_lower_case, "warmup": FLAGS.warmup,
                      "rounds": FLAGS.rounds},
            "results": results, "parity_vs_tf_text": parity, "summary": records, "summary_lines": lines_out})
        print(f"wrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
