"""Writes tests/testdata/parity/korean_bi_encoder_reference.json: sentence-transformers' bi-encoder on the built-in
Korean BERT, the reference `tests/tasks/test_bi_encoder_parity.py` holds bert_tf's `BertBiEncoder` to.

For six KorSTS training pairs of different lengths, with dropout off (`eval()`): the cosine of `encode()`'s
mean-pooled embeddings, `CosineSimilarityLoss` (squared error against the score / 5, averaged), and for every
parameter the loss's gradient reaches (Hugging Face names) its norm and its dot product with a fixed random
tensor (numpy `default_rng(crc32(name))`, standard normal, the parameter's HF shape): a transposed, swapped or
missing gradient changes the projection. Needs the `bench` extra (torch, sentence-transformers).

    python benchmarks/bi_encoder_reference.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import REPO  # noqa: E402

OUTPUT = os.path.join(REPO, "tests", "testdata", "parity", "korean_bi_encoder_reference.json")
KORSTS_TRAIN = os.path.join(REPO, "benchmarks", "data", "korsts", "sts-train.tsv")
ROWS = (0, 7, 123, 456, 1789, 2990)  # six training pairs: short and long sentences, scores from 0 to 5


def projection_of(name: str, array):
    import numpy as np
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return float(np.sum(np.asarray(array, np.float64) * rng.standard_normal(array.shape)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args(argv)
    import numpy as np
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    from bert_tf.data import readers
    from bert_tf.pretrained import KOREAN_BERT_SHA256, korean_bert_dir
    examples = readers.read_examples(KORSTS_TRAIN, "korsts", regression=True)
    pairs = [examples[i] for i in ROWS]
    model = SentenceTransformer(korean_bert_dir(), device="cpu", model_kwargs=dict(dtype=torch.float32))
    model.max_seq_length = 64
    model.eval()
    a = model.encode([e.text_a for e in pairs], convert_to_tensor=True)
    b = model.encode([e.text_b for e in pairs], convert_to_tensor=True)
    cosines = torch.cosine_similarity(a, b).tolist()
    loss_fn = CosineSimilarityLoss(model)
    features = [model.preprocess([e.text_a for e in pairs]), model.preprocess([e.text_b for e in pairs])]
    labels = torch.tensor([float(e.label) / 5.0 for e in pairs])
    loss = loss_fn(features, labels)
    loss.backward()
    prefix = "0.auto_model."
    gradients = {}
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            key = name.split(prefix, 1)[-1] if prefix in name else name.split(".", 2)[-1]
            grad = parameter.grad.numpy()
            gradients[key] = {"norm": float(np.linalg.norm(grad)), "projection": projection_of(key, grad)}
    payload = {
        "made_by": f"python benchmarks/bi_encoder_reference.py (sentence-transformers "
                   f"{sentence_transformers.__version__}, transformers {transformers.__version__}, "
                   f"torch {torch.__version__})",
        "model_sha256": KOREAN_BERT_SHA256, "max_seq_length": 64, "score_scale": 5.0,
        "pairs": [{"row": i, "text_a": e.text_a, "text_b": e.text_b, "score": float(e.label)}
                  for i, e in zip(ROWS, pairs)],
        "cosines": cosines, "loss": loss.item(), "gradients": gradients}
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False, indent=1)
    print(f"{args.output}: loss {loss.item():.6f}, {len(gradients)} gradients, cosines {np.round(cosines, 4).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
