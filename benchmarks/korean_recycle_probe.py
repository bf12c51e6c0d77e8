"""Can an English body learn Korean? A dev-only feasibility probe for issue 12 (Artetxe et al. 2020).

Artetxe, Ruder and Yogatama ("On the Cross-lingual Transferability of Monolingual Representations", 2020) keep
a transformer pre-trained on English frozen and learn a new language's token embeddings by masked LM; the body's
knowledge then carries to the new language. This script builds the starting point: the bundled MiniLM-L6
(all-MiniLM-L6-v2, Apache-2.0, trained on English sentence pairs including NLI) cut to its first `--layers`
transformer layers, with a token embedding matrix for the built-in Korean model's cased 16k vocabulary.
Tokens both vocabularies share ([CLS], [SEP], [MASK], [PAD], [UNK], digits, punctuation, Latin pieces) keep
MiniLM's rows; the others are drawn from a normal with MiniLM's per-dimension mean and sd. Position and segment
embeddings, the LayerNorms and the pooler are MiniLM's. The directory is what `run_pretraining.py
--init_checkpoint ... --train_only_embeddings` takes:

    python benchmarks/korean_recycle_probe.py --output_dir=runs/recycle_init --layers=4
    python scripts/run_pretraining.py --do_train --do_eval --init_checkpoint=runs/recycle_init \\
        --train_only_embeddings --nsp=false ... (docs/RESULTS.md, "Recycling an English body")
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def korean_embeddings(english, english_vocab, korean_vocab, seed):
    """(len(korean_vocab), hidden) rows: MiniLM's row for a token it has (exactly, or lowercased: MiniLM is
    uncased), else a draw from N(MiniLM's per-dimension mean, sd). Returns the matrix and the copied count."""
    import numpy as np
    index = english_vocab  # token -> row (bert_tf.tokenization.load_vocab)
    rng = np.random.default_rng(seed)
    mean, sd = english.mean(axis=0), english.std(axis=0)
    out = (mean + sd * rng.standard_normal((len(korean_vocab), english.shape[1]))).astype(np.float32)
    copied = 0
    for i, token in enumerate(korean_vocab):
        j = index.get(token, index.get(token.lower()) if not token.startswith("[") else None)
        if j is not None:
            out[i] = english[j]
            copied += 1
    return out, copied


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--layers", type=int, default=4, help="MiniLM's first N transformer layers (of 6)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import re
    from safetensors.numpy import load_file, save_file
    from bert_tf.pretrained import korean_bert_dir, minilm_l6_dir
    from bert_tf.tokenization import load_vocab

    english_dir, korean_dir = minilm_l6_dir(verify=True), korean_bert_dir()
    weights = load_file(os.path.join(english_dir, "model.safetensors"))
    korean_vocab = list(load_vocab(os.path.join(korean_dir, "vocab.txt")))
    embeddings, copied = korean_embeddings(weights["embeddings.word_embeddings.weight"],
                                           load_vocab(os.path.join(english_dir, "vocab.txt")), korean_vocab, args.seed)
    out = {}
    for name, value in weights.items():
        layer = re.match(r"encoder\.layer\.(\d+)\.", name)
        if name == "embeddings.position_ids" or (layer and int(layer.group(1)) >= args.layers):
            continue
        out[name] = value
    out["embeddings.word_embeddings.weight"] = embeddings
    os.makedirs(args.output_dir, exist_ok=True)
    save_file(out, os.path.join(args.output_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(english_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    config = {k: v for k, v in config.items() if not k.startswith("_") and k not in ("transformers_version",
                                                                                    "gradient_checkpointing")}
    config.update(num_hidden_layers=args.layers, vocab_size=len(korean_vocab))
    with open(os.path.join(args.output_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(korean_dir, name), args.output_dir)
    shutil.copytree(os.path.join(english_dir, "1_Pooling"), os.path.join(args.output_dir, "1_Pooling"),
                    dirs_exist_ok=True)
    summary = {"layers": args.layers, "vocab_size": len(korean_vocab), "rows_copied_from_minilm": copied,
               "parameters": int(sum(v.size for v in out.values()))}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
