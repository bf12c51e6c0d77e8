"""Benchmark: bert_tf's parallel create_pretraining_data vs a faithful single-process version of the original.

The "original" below re-implements google-research/bert's `create_pretraining_data.py` algorithm as written:
one `random.Random(seed)` for everything, tokenization line by line in one process, a random B forced for
every one-sentence chunk, `tf.train.Example` protos built with TensorFlow's Python API. Both sides read the
same file with the same tokenizer (bert_tf's pure-Python twin of google-research/bert's FullTokenizer) and the
same flags, and write records. Prints one summary line per comparison and writes a JSON file.

  python benchmarks/create_pretraining_data_benchmark.py --input_file=tests/testdata/kowiki/kowiki_sample.txt \
      --vocab_file=tests/testdata/kowiki/vocab_ko_cased_4k.txt --do_lower_case=false --dupe_factor=2 \
      --output_json=/tmp/create_pretraining_data_benchmark.json
"""

import argparse
import collections
import json
import os
import platform
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_tf.data import pretraining_data as ours  # noqa: E402


# === The original algorithm, single process ===

def original_masking(tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng, do_whole_word_mask):
    candidates = []
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]"):
            continue
        if do_whole_word_mask and candidates and token.startswith("##"):
            candidates[-1].append(i)
        else:
            candidates.append([i])
    rng.shuffle(candidates)  # the original shuffles every candidate
    output = list(tokens)
    num_to_predict = min(max_predictions_per_seq, max(1, int(round(len(tokens) * masked_lm_prob))))
    chosen, covered = [], set()
    for positions in candidates:
        if len(chosen) >= num_to_predict:
            break
        if len(chosen) + len(positions) > num_to_predict or any(i in covered for i in positions):
            continue
        for index in positions:
            covered.add(index)
            if rng.random() < 0.8:
                output[index] = "[MASK]"
            elif rng.random() < 0.5:
                output[index] = tokens[index]
            else:
                output[index] = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            chosen.append(index)
    chosen.sort()
    return output, chosen, [tokens[i] for i in chosen]


def original_create_instances(all_documents, document_index, max_seq_length, short_seq_prob, masked_lm_prob,
                              max_predictions_per_seq, vocab_words, rng, do_whole_word_mask):
    document = all_documents[document_index]
    max_num_tokens = max_seq_length - 3
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)
    instances = []
    chunk, length, i = [], 0, 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target_seq_length:
            if chunk:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                tokens_a = [t for s in chunk[:a_end] for t in s]
                # The original: a one-sentence chunk always gets a random B.
                if len(chunk) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    tokens_b = ours._random_b(all_documents, document_index, target_seq_length - len(tokens_a),
                                              rng)
                    i -= len(chunk) - a_end
                else:
                    is_random_next = False
                    tokens_b = [t for s in chunk[a_end:] for t in s]
                instances.append(ours._pair(tokens_a, tokens_b, is_random_next, max_num_tokens, masked_lm_prob,
                                            max_predictions_per_seq, vocab_words, rng, do_whole_word_mask,
                                            mask_fn=original_masking))
            chunk, length = [], 0
        i += 1
    return instances


def original_run(input_file, output_file, tokenizer, args):
    import tensorflow as tf

    documents = [[]]
    with open(input_file, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                documents.append([])
            tokens = tokenizer.tokenize(line)
            if tokens:
                documents[-1].append(tokens)
    documents = [d for d in documents if d]
    rng = random.Random(args.random_seed)
    rng.shuffle(documents)
    vocab_words = list(tokenizer.vocab.keys())
    instances = []
    for _ in range(args.dupe_factor):
        for index in range(len(documents)):
            instances.extend(original_create_instances(
                documents, index, args.max_seq_length, args.short_seq_prob, args.masked_lm_prob,
                args.max_predictions_per_seq, vocab_words, rng, args.do_whole_word_mask))
    rng.shuffle(instances)

    def int_feature(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    vocab = tokenizer.vocab
    with tf.io.TFRecordWriter(output_file) as writer:
        for inst in instances:
            ids = [vocab[t] for t in inst.tokens]
            pad = args.max_seq_length - len(ids)
            n = len(inst.masked_lm_positions)
            pp = args.max_predictions_per_seq - n
            feats = collections.OrderedDict()
            feats["input_ids"] = int_feature(ids + [0] * pad)
            feats["input_mask"] = int_feature([1] * len(ids) + [0] * pad)
            feats["segment_ids"] = int_feature(list(inst.segment_ids) + [0] * pad)
            feats["masked_lm_positions"] = int_feature(list(inst.masked_lm_positions) + [0] * pp)
            feats["masked_lm_ids"] = int_feature([vocab[t] for t in inst.masked_lm_labels] + [0] * pp)
            feats["masked_lm_weights"] = tf.train.Feature(float_list=tf.train.FloatList(value=[1.0] * n + [0.0] * pp))
            feats["next_sentence_labels"] = int_feature([1 if inst.is_random_next else 0])
            writer.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    return {"instances": len(instances),
            "random_next": sum(i.is_random_next for i in instances) / max(len(instances), 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_file", default="tests/testdata/kowiki/kowiki_sample.txt")
    parser.add_argument("--vocab_file", default="tests/testdata/kowiki/vocab_ko_cased_4k.txt")
    parser.add_argument("--do_lower_case", default="false")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--dupe_factor", type=int, default=2)
    parser.add_argument("--masked_lm_prob", type=float, default=0.15)
    parser.add_argument("--short_seq_prob", type=float, default=0.1)
    parser.add_argument("--random_seed", type=int, default=12345)
    parser.add_argument("--do_whole_word_mask", action="store_true")
    parser.add_argument("--num_workers", default="1,2", help="comma-separated worker counts to measure")
    parser.add_argument("--output_json", default="create_pretraining_data_benchmark.json")
    args = parser.parse_args()
    do_lower_case = args.do_lower_case.lower() in ("1", "true", "yes")

    from bert_tf.tokenization import ReferenceTokenizer, load_vocab
    tokenizer = ReferenceTokenizer(load_vocab(args.vocab_file), do_lower_case=do_lower_case)
    out_dir = tempfile.mkdtemp(prefix="cpd-bench-")
    import tensorflow  # noqa: F401  (imported before timing, by both sides)

    start = time.perf_counter()
    original = original_run(args.input_file, os.path.join(out_dir, "original.tfrecord"), tokenizer, args)
    original["seconds"] = time.perf_counter() - start
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "args": vars(args), "original_single_process": original, "bert_tf": {}}
    print(f"original (single process): {original['instances']} instances in {original['seconds']:.1f} s "
          f"({original['instances'] / original['seconds']:.0f}/s), random-next {original['random_next']:.1%}")
    for workers in (int(w) for w in args.num_workers.split(",")):
        creator = ours.PretrainingDataCreator(
            tokenizer, max_seq_length=args.max_seq_length, max_predictions_per_seq=args.max_predictions_per_seq,
            random_seed=args.random_seed, dupe_factor=args.dupe_factor, masked_lm_prob=args.masked_lm_prob,
            short_seq_prob=args.short_seq_prob, do_whole_word_mask=args.do_whole_word_mask, num_workers=workers)
        start = time.perf_counter()
        stats = creator.create(args.input_file, os.path.join(out_dir, f"bert_tf_{workers}.tfrecord"))
        seconds = time.perf_counter() - start
        speedup = original["seconds"] / seconds
        results["bert_tf"][str(workers)] = {"instances": stats["instances"], "random_next": stats["random_next"],
                                            "seconds": seconds, "speedup_vs_original": speedup}
        print(f"bert_tf, {workers} worker(s): {stats['instances']} instances in {seconds:.1f} s "
              f"({stats['instances'] / seconds:.0f}/s), random-next {stats['random_next']:.1%}, "
              f"{speedup:.2f}x the original")
    with open(args.output_json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.output_json}")


if __name__ == "__main__":
    main()
