"""Does unsupervised SimCSE make the built-in Korean BERT help KorSTS? A dev-only feasibility probe (issue 12).

The built-in model's mean-pooled sentence vectors are nearly parallel (cosines 0.93-0.99 between unrelated
sentences: ELECTRA's replaced-token detection does not train them), and a KorSTS bi-encoder fine-tuned from it
scores below one fine-tuned from random weights. Unsupervised SimCSE (Gao et al. 2021) is the standard repair:
each sentence encoded twice with different dropout masks is its own positive, the rest of the batch the
negatives (InfoNCE at temperature 0.05). This script trains it on Korean text from the pre-training corpora
(Wikipedia sentences and movie reviews: no KorSTS text), with mean pooling as the bi-encoder uses, and writes the
encoder as a Hugging Face directory that `korean_finetune.py --model_dir` and `korean_baselines.py --model_dir`
take.

    python benchmarks/korean_simcse_probe.py --corpus=$CORPUS --output_dir=runs/simcse
    python benchmarks/korean_finetune.py --model_dir=runs/simcse --tasks=korsts_bi --inits=pretrained --seeds=0

CORPUS is the folder holding `kowiki_pretrain/kowiki_sample.txt` and `nsmc_unlabeled/nsmc_unlabeled.txt.gz`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sentences(corpus: str, reviews: int, seed: int, max_chars: int = 200) -> list[str]:
    """Every Wikipedia line and `reviews` movie reviews drawn at random, each 10-`max_chars` characters, shuffled."""
    import numpy as np
    with open(os.path.join(corpus, "kowiki_pretrain", "kowiki_sample.txt"), encoding="utf-8") as f:
        wiki = [line.strip() for line in f]
    with gzip.open(os.path.join(corpus, "nsmc_unlabeled", "nsmc_unlabeled.txt.gz"), "rt", encoding="utf-8") as f:
        review_lines = [line.strip() for line in f]
    keep = lambda text: 10 <= len(text) <= max_chars  # noqa: E731
    wiki, review_lines = [t for t in wiki if keep(t)], [t for t in review_lines if keep(t)]
    rng = np.random.default_rng(seed)
    chosen = [review_lines[i] for i in rng.choice(len(review_lines), min(reviews, len(review_lines)), replace=False)]
    texts = wiki + chosen
    return [texts[i] for i in rng.permutation(len(texts))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--model_dir", default=None, help="start (default: the built-in Korean BERT)")
    parser.add_argument("--reviews", type=int, default=40000)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import keras
    import numpy as np
    import tensorflow as tf
    from bert_tf import checkpoints
    from bert_tf.checkpoints.saving import save_hf
    from bert_tf.heads.sequence_pooling import masked_mean
    from bert_tf.pretrained import korean_bert_dir
    from bert_tf.tokenization import BertTokenizer
    from bert_tf.training.optimization import create_optimizer
    keras.utils.set_random_seed(args.seed)
    start_dir = args.model_dir or korean_bert_dir()
    encoder = checkpoints.load_encoder(start_dir)
    tokenizer = BertTokenizer(checkpoints.find_vocab(start_dir), do_lower_case=encoder.bert_config.do_lower_case)
    texts = sentences(args.corpus, args.reviews, args.seed)
    needed = args.steps * args.batch_size
    print(f"{len(texts)} sentences; {needed} drawn over {args.steps} steps ({needed / len(texts):.2f} passes)",
          flush=True)
    optimizer = create_optimizer(args.learning_rate, args.steps, args.steps // 10)

    def encode(batch):
        """The batch padded to its longest sentence, rounded up to a multiple of 8 (a few shapes to trace): the
        padding is masked, so this only saves time (movie reviews are a third of 64 pieces)."""
        rows = [tokenizer.encode(t, max_seq_length=args.max_seq_length) for t in batch]
        x = {k: np.stack([r[k] for r in rows]) for k in ("token_ids", "segment_ids", "padding_mask")}
        length = min(args.max_seq_length, -(-int(x["padding_mask"].sum(1).max()) // 8) * 8)
        return {k: v[:, :length] for k, v in x.items()}

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            z1 = masked_mean(encoder(x, training=True)["sequence_output"], x["padding_mask"])
            z2 = masked_mean(encoder(x, training=True)["sequence_output"], x["padding_mask"])
            z1, z2 = tf.math.l2_normalize(z1, -1), tf.math.l2_normalize(z2, -1)
            logits = tf.matmul(z1, z2, transpose_b=True) / args.temperature
            labels = tf.range(tf.shape(logits)[0])
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, encoder.trainable_variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, encoder.trainable_variables) if g is not None])
        return loss

    history, started = [], time.time()
    for i in range(args.steps):
        first = (i * args.batch_size) % len(texts)
        batch = texts[first:first + args.batch_size]
        history.append(float(step(encode(batch))))
        if (i + 1) % 100 == 0 or (i + 1) in (1, 10, 30):
            print(f"step {i + 1}: loss {np.mean(history[-100:]):.4f} ({(i + 1) / (time.time() - started):.2f} steps/s)",
                  flush=True)
    save_hf(encoder, args.output_dir, dtype="float16")
    shutil.copytree(os.path.join(start_dir, "1_Pooling"), os.path.join(args.output_dir, "1_Pooling"),
                    dirs_exist_ok=True)
    with open(os.path.join(args.output_dir, "simcse.json"), "w", encoding="utf-8") as f:
        json.dump({**vars(args), "start": start_dir, "sentences": len(texts),
                   "loss_per_100_steps": [float(np.mean(history[j:j + 100])) for j in range(0, len(history), 100)],
                   "seconds": round(time.time() - started, 1)}, f, indent=1)
    print(f"wrote {args.output_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
