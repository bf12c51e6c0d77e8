"""Floors for the Korean samples: what a bag of character n-grams, or the built-in model without fine-tuning, reaches.

TF-IDF over character 1-3-grams within words (scikit-learn's `char_wb`, sublinear term frequency), then:
- NSMC: logistic regression on the review;
- KLUE-NLI: logistic regression on [premise n-grams ; hypothesis n-grams] (two separate blocks), and on the
  hypothesis alone (the annotation artifact any NLI model can pick up);
- KorSTS: the cosine of the two sentences' TF-IDF vectors (no training), Spearman against the gold score.
And for KLUE-NLI, logistic regression on eleven overlap features of the pair (`_overlap`: the shares of the
hypothesis's character 1-, 2- and 3-grams (spaces removed) found and not found in the premise, the share of its
words found there, the length ratio, the hypothesis's length, a negation cue in either sentence): how far the
plain comparison of the two texts goes.

And the built-in Korean BERT without fine-tuning: its mean-pooled last layer (`bert_tf.feature_extraction`),
frozen, as features for the same logistic regression (a linear probe: the review; the NLI pair as one input, each
sentence alone as [u, v, |u-v|, u*v], the hypothesis alone), and its cosine on KorSTS (each sentence alone): the
sentence-embedding baseline a fine-tuned cross-encoder should beat. `--random_init` probes a randomly initialized
encoder of the same architecture and vocabulary instead (what the frozen features carry before pre-training).

The split is bert_tf's own: `bert_tf.finetuning.selection.select_dev` carves 10% of the training file (split seed 0,
grouped by the first text, as `run_classifier.py` does for a learning-rate sweep) as the dev set; the inverse
regularization strength C is chosen there from 0.1, 0.3, 1, 3, 10, 30, 100; the chosen model (trained on the other 90%,
like the fine-tuning runs) scores the test file once. Deterministic (no seeds).

    pip install -e ".[bench]"   # scikit-learn: not a bert_tf runtime dependency
    python benchmarks/korean_baselines.py

Writes benchmarks/results/korean_baselines.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import REPO, machine_info, write_json  # noqa: E402
from benchmarks.korean_finetune import TASKS  # noqa: E402
from bert_tf.data.text_pairs import negated  # noqa: E402  Korean negation cues (않다, 없다, 못, 아니다, 안)

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
PROBE_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # 256-3,072 dense standardized features: stronger regularization


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)


def _classify(train, dev, test, featurize, grid=C_GRID) -> dict:
    """Logistic regression, C chosen from `grid` on dev accuracy; the test file scored once with that C."""
    from sklearn.linear_model import LogisticRegression

    from bert_tf.metrics import accuracy
    x_train, apply = featurize(train)
    x_dev = apply(dev)
    models, dev_scores = {}, {}
    for c in grid:
        models[c] = LogisticRegression(C=c, max_iter=5000).fit(x_train, [e.label for e in train])
        dev_scores[c] = accuracy([e.label for e in dev], models[c].predict(x_dev))
    best = max(grid, key=lambda c: (dev_scores[c], -c))  # ties: the stronger regularization
    return {"accuracy": accuracy([e.label for e in test], models[best].predict(apply(test))), "C": best,
            "dev_accuracy": dev_scores[best], "dev_accuracy_by_C": {str(c): s for c, s in dev_scores.items()}}


def _single(field):
    def featurize(train):
        vectorizer = _vectorizer()
        fitted = vectorizer.fit_transform([getattr(e, field) for e in train])
        return fitted, lambda rows: vectorizer.transform([getattr(e, field) for e in rows])
    return featurize


def _pair(train):
    from scipy.sparse import hstack
    a, b = _vectorizer(), _vectorizer()
    fitted = hstack([a.fit_transform([e.text_a for e in train]), b.fit_transform([e.text_b for e in train])]).tocsr()
    return fitted, lambda rows: hstack([a.transform([e.text_a for e in rows]),
                                        b.transform([e.text_b for e in rows])]).tocsr()


def _overlap_features(premise: str, hypothesis: str) -> list[float]:
    def grams(text, n):
        text = text.replace(" ", "")
        return {text[i:i + n] for i in range(len(text) - n + 1)}
    features = []
    for n in (1, 2, 3):
        p, h = grams(premise, n), grams(hypothesis, n)
        features += [len(p & h) / max(1, len(h)), len(h - p) / max(1, len(h))]
    words_p, words_h = set(premise.split()), set(hypothesis.split())
    features += [len(words_p & words_h) / max(1, len(words_h)), len(hypothesis) / max(1, len(premise)),
                 len(hypothesis) / 50, float(negated(hypothesis)),
                 float(negated(premise))]
    return features


def _overlap(train):
    import numpy as np

    def featurize(rows):
        return np.array([_overlap_features(e.text_a, e.text_b) for e in rows])
    return featurize(train), featurize


def _cosine_spearman(a, b, test) -> dict:
    """Spearman (`bert_tf.metrics`, as the fine-tuning runs) of the row-wise cosines of `a` and `b` (dense or
    sparse, one row per test pair) against the gold scores."""
    import numpy as np
    from scipy.sparse import issparse

    from bert_tf.metrics import spearman
    if issparse(a):
        a, b = a.toarray(), b.toarray()
    cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return {"spearman": spearman(cosine, [float(e.label) for e in test])}


def _tfidf_cosine_spearman(train, test) -> dict:
    vectorizer = _vectorizer().fit([e.text_a for e in train] + [e.text_b for e in train])
    return _cosine_spearman(vectorizer.transform([e.text_a for e in test]),
                            vectorizer.transform([e.text_b for e in test]), test)


class _BertFeatures:
    """The built-in Korean BERT's mean-pooled last layer (`bert_tf.feature_extraction`), frozen."""

    def __init__(self, model_dir: str, random_init: bool = False):
        from bert_tf import checkpoints
        from bert_tf.pretrained import sha256_of
        from bert_tf.tokenization import BertTokenizer
        if random_init:  # the same architecture and vocabulary, random weights (seed 0), as the fine-tuning baseline
            import keras

            from bert_tf import BertConfig, BertEncoder
            keras.utils.set_random_seed(0)
            config = BertConfig.from_json(os.path.join(model_dir, "bert_config.json"))
            self.encoder = BertEncoder.from_bert_config(config)
            self.sha256 = None
        else:
            self.encoder = checkpoints.load_encoder(model_dir)
            self.sha256 = sha256_of(os.path.join(model_dir, "model.safetensors"))
        self.tokenizer = BertTokenizer(checkpoints.find_vocab(model_dir),
                                       do_lower_case=self.encoder.bert_config.do_lower_case)

    def embed(self, text_a: list[str], text_b: list[str] | None = None):
        import numpy as np
        from bert_tf.feature_extraction import LineExample, extract_features
        examples = [LineExample(i, a, None if text_b is None else text_b[i]) for i, a in enumerate(text_a)]
        records = extract_features(self.encoder, self.tokenizer, examples, layers=(-1,), max_seq_length=64,
                                   batch_size=64, pooling="mean")
        return np.array([r["layers"][0]["values"] for r in records])

    def each_alone(self, text_a: list[str], text_b: list[str]):
        """The two texts encoded separately, SBERT-style: [u, v, |u - v|, u * v]."""
        import numpy as np
        u, v = self.embed(text_a), self.embed(text_b)
        return np.hstack([u, v, np.abs(u - v), u * v])

    @staticmethod
    def probe(features):
        """A `_classify` featurizer from `features(rows)` (an array per row), standardized on the training rows."""
        def featurize(train):
            x = features(train)
            mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
            return (x - mean) / scale, lambda rows: (features(rows) - mean) / scale
        return featurize

    def cosine_spearman(self, test) -> dict:
        return _cosine_spearman(self.embed([e.text_a for e in test]), self.embed([e.text_b for e in test]), test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=os.path.join(REPO, "benchmarks", "results", "korean_baselines.json"))
    parser.add_argument("--model_dir", default=None, help="A Korean model directory to probe instead of the "
                        "built-in one (e.g. an earlier stage or a candidate)")
    parser.add_argument("--random_init", action="store_true", help="Probe a randomly initialized encoder of the "
                        "model's architecture and vocabulary (seed 0) instead of its weights: what the frozen "
                        "features carry before any pre-training")
    args = parser.parse_args(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        sys.exit("korean_baselines.py needs scikit-learn: pip install scikit-learn")
    from bert_tf.data import read_examples
    from bert_tf.finetuning.selection import DEFAULT_DEV_FRACTION, select_dev
    from bert_tf.pretrained import korean_bert_dir

    started = time.time()
    results = []

    def split(task):
        t = TASKS[task]
        train = read_examples(t["train"], t["data_format"])
        test = read_examples(t["test"], t["data_format"])
        train, dev, source = select_dev(train, dev_fraction=DEFAULT_DEV_FRACTION, group=lambda e: e.text_a)
        return train, dev, test, source

    bert = _BertFeatures(args.model_dir or korean_bert_dir(), random_init=args.random_init)
    single = bert.probe(lambda rows: bert.embed([e.text_a for e in rows]))
    pair = bert.probe(lambda rows: bert.embed([e.text_a for e in rows], [e.text_b for e in rows]))
    siamese = bert.probe(lambda rows: bert.each_alone([e.text_a for e in rows], [e.text_b for e in rows]))
    hypothesis = bert.probe(lambda rows: bert.embed([e.text_b for e in rows]))
    for task, features, variant, run in (
            ("nsmc", "tfidf", "review", lambda tr, dv, te: _classify(tr, dv, te, _single("text_a"))),
            ("klue_nli", "tfidf", "premise + hypothesis", lambda tr, dv, te: _classify(tr, dv, te, _pair)),
            ("klue_nli", "tfidf", "hypothesis only", lambda tr, dv, te: _classify(tr, dv, te, _single("text_b"))),
            ("klue_nli", "overlap", "11 overlap features of the pair",
             lambda tr, dv, te: _classify(tr, dv, te, _overlap)),
            ("korsts", "tfidf", "cosine (no training)", lambda tr, dv, te: _tfidf_cosine_spearman(tr + dv, te)),
            ("nsmc", "korean_bert", "review", lambda tr, dv, te: _classify(tr, dv, te, single, PROBE_C_GRID)),
            ("klue_nli", "korean_bert", "premise + hypothesis, one input",
             lambda tr, dv, te: _classify(tr, dv, te, pair, PROBE_C_GRID)),
            ("klue_nli", "korean_bert", "each alone: [u, v, |u-v|, u*v]",
             lambda tr, dv, te: _classify(tr, dv, te, siamese, PROBE_C_GRID)),
            ("klue_nli", "korean_bert", "hypothesis only",
             lambda tr, dv, te: _classify(tr, dv, te, hypothesis, PROBE_C_GRID)),
            ("korsts", "korean_bert", "cosine (no training)", lambda tr, dv, te: bert.cosine_spearman(te))):
        train, dev, test, source = split(task)
        result = run(train, dev, test)
        row = {"task": task, "features": features, "variant": variant, "num_train_examples": len(train),
               "num_test_examples": len(test), "dev_source": source if "C" in result else None,  # C: chosen on dev
               "test_file": os.path.relpath(TASKS[task]["test"], REPO), "result": result}
        results.append(row)
        print(f"{task:9} {features:12} {variant:32} {result}")
    write_json(args.output, {"command": " ".join(["python", "benchmarks/korean_baselines.py"]
                                                 + (sys.argv[1:] if argv is None else list(argv))),
                             "machine": machine_info(),
                             "scikit_learn": sklearn.__version__, "seconds": round(time.time() - started, 1),
                             "features": {"tfidf": "TF-IDF char_wb 1-3-grams, sublinear tf",
                                          "overlap": "11 overlap features of premise and hypothesis "
                                                     "(_overlap_features: n-gram and word overlap, length, negation)",
                                          "korean_bert": "the mean-pooled last layer of the Korean BERT whose weights "
                                                         "have korean_bert_sha256 (the built-in one unless "
                                                         "--model_dir; null with --random_init: random weights "
                                                         "of its architecture, seed 0), frozen (standardized "
                                                         "for the probes)"},
                             "korean_bert_sha256": bert.sha256, "runs": results})


if __name__ == "__main__":
    main()
