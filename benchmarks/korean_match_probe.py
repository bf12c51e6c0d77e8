"""Does teaching the built-in Korean BERT to find, token by token, what the other segment also says help it on
KLUE-NLI? A dev-only probe (issue 12; the rule is in docs/RESULTS.md, "Matching pieces across the pair").

The pairs are `scripts/prepare_pair_data.py`'s (half graded, half copy style, from the pre-training corpus's
training documents), but their kinds are not the target: every piece of the premise gets the label "this piece
is also in the hypothesis" and every piece of the hypothesis "this piece is also in the premise" (exact piece
ids after packing; [CLS], [SEP] and padding are not scored). A Dense(1) on the last layer is trained with binary
cross-entropy, so the comparison is taught at every position instead of once per pair; with mean pooling, the
average of that per-position evidence is one direction of the pooled vector a fresh head reads. No human label is
read. The encoder is written as a Hugging Face directory (float16, with the start's generator/, 1_Pooling/ and
pretraining.json) that `korean_finetune.py --model_dir` takes. The stage itself is the library's
(`bert_tf.finetuning.piece_match`, `scripts/run_piece_match.py`: the same weights from the same flags); this probe
keeps the commands the recorded runs used, the joint variant (`--emoticons`) and the overlap check.

    python benchmarks/korean_match_probe.py --train_text=runs/ko128/train.txt --output_dir=runs/match
    python benchmarks/korean_finetune.py --model_dir=runs/match/model --tasks=klue_nli --inits=pretrained --seeds=0,1,2

`--overlap_cv` instead runs the check that motivated the stage (no model involved; scikit-learn): logistic regression
on one overlap share (of the hypothesis's pieces, words or character bigrams found in the premise) with the two
lengths and two negation flags, grouped 5-fold cross-validation on KLUE-NLI's training file (grouped by premise; the
test file is not read), written to benchmarks/results/korean_pretraining/nli_overlap_cv.json.

    python benchmarks/korean_match_probe.py --overlap_cv

`--coverage_cv` runs the check behind the coverage target (`run_piece_match.py --coverage_weight`) on a model
(`--model_dir`, default the built-in one), the same folds: each segment's coverage (the share of its pieces whose id
is in the other segment, `bert_tf.finetuning.piece_match.coverage_targets`), how well ridge regression recovers it
from the frozen mean-pooled last layer (R²), and logistic regression on the two coverages with the two lengths, on
the pooled vector, and on both; written to benchmarks/results/korean_pretraining/nli_coverage_cv_<sha8>.json.

    python benchmarks/korean_match_probe.py --coverage_cv
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SEQ = 64
DEV_ROWS = 600  # held out from the pairs (and, with --emoticons, from the reviews)


def overlap_cv(output):
    """Grouped 5-fold CV accuracy of logistic regression on each overlap share (see the module docstring)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from benchmarks.korean_baselines import _overlap_features
    from bert_tf.data.text_pairs import negated
    from benchmarks.korean_finetune import TASKS
    from bert_tf.pretrained import korean_bert_dir
    from bert_tf.tokenization import ReferenceTokenizer
    pieces = ReferenceTokenizer(os.path.join(korean_bert_dir(), "vocab.txt"), do_lower_case=False).tokenize  # cased
    with open(TASKS["klue_nli"]["train"], encoding="utf-8") as f:
        rows = json.load(f)

    def bigrams(text):
        text = text.replace(" ", "")
        return [text[i:i + 2] for i in range(len(text) - 1)]

    def share(units, r):
        p, h = set(units(r["premise"])), set(units(r["hypothesis"]))
        return [len(p & h) / max(1, len(h))]

    def base(r):
        p, h = r["premise"], r["hypothesis"]
        return [len(h) / max(1, len(p)), len(h) / 50, float(negated(h)),
                float(negated(p))]
    features = {
        "lengths and negation flags alone": base,
        "+ share of the hypothesis's pieces in the premise (the built-in vocabulary)":
            lambda r: base(r) + share(pieces, r),
        "+ share of the hypothesis's words (eojeol) in the premise": lambda r: base(r) + share(str.split, r),
        "+ share of the hypothesis's character bigrams in the premise": lambda r: base(r) + share(bigrams, r),
        "korean_baselines.py's 11 overlap features": lambda r: _overlap_features(r["premise"], r["hypothesis"]),
    }
    labels, groups = [r["gold_label"] for r in rows], [r["premise"] for r in rows]
    results = {}
    for name, featurize in features.items():
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        scores = cross_val_score(model, np.array([featurize(r) for r in rows]), labels, cv=GroupKFold(5),
                                 groups=groups)
        results[name] = {"accuracy": round(float(scores.mean()), 4), "sd_over_folds": round(float(scores.std()), 4)}
        print(f"{results[name]['accuracy']:.3f} ± {results[name]['sd_over_folds']:.3f}  {name}")
    with open(output, "w", encoding="utf-8") as f:
        json.dump({"command": "python benchmarks/korean_match_probe.py --overlap_cv", "rows": len(rows),
                   "cv": "GroupKFold(5) by premise, KLUE-NLI training file only", "results": results},
                  f, ensure_ascii=False, indent=2)


def coverage_cv(model_dir, output_dir, command):
    """The frozen model's coverage check (see the module docstring); returns the record it writes."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import GroupKFold, cross_val_predict, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from benchmarks.korean_finetune import TASKS
    from bert_tf.checkpoints import load_encoder
    from bert_tf.finetuning.piece_match import coverage_targets, piece_match_arrays
    from bert_tf.heads.sequence_pooling import masked_mean
    from bert_tf.pretrained import sha256_of
    from bert_tf.tokenization import ReferenceTokenizer
    encoder = load_encoder(model_dir)
    tokenizer = ReferenceTokenizer(os.path.join(model_dir, "vocab.txt"),
                                   do_lower_case=encoder.bert_config.do_lower_case)
    with open(TASKS["klue_nli"]["train"], encoding="utf-8") as f:
        rows = json.load(f)
    arrays = piece_match_arrays(rows, tokenizer, SEQ)
    pooled = np.concatenate([masked_mean(encoder({"token_ids": arrays[0][i:i + 256],
                                                  "segment_ids": arrays[1][i:i + 256],
                                                  "padding_mask": arrays[2][i:i + 256]})["sequence_output"],
                                         arrays[2][i:i + 256]).numpy() for i in range(0, len(rows), 256)])
    coverage = coverage_targets(arrays)
    scored = [((arrays[4] == 1) & (arrays[1] == seg)).sum(1) for seg in (0, 1)]
    labels, groups, folds = np.array([r["gold_label"] for r in rows]), [r["premise"] for r in rows], GroupKFold(5)
    record = {"command": command,
              "model_sha256": sha256_of(os.path.join(model_dir, "model.safetensors")), "rows": len(rows),
              "cv": "GroupKFold(5) by premise, KLUE-NLI training file only",
              "coverage_mean_by_label": {}, "r2_from_pooled": {}, "logistic_regression_accuracy": {}}
    for label in ("entailment", "contradiction", "neutral"):
        record["coverage_mean_by_label"][label] = {"premise": round(float(coverage[labels == label, 0].mean()), 4),
                                                   "hypothesis": round(float(coverage[labels == label, 1].mean()), 4)}
    for seg, name in enumerate(("premise", "hypothesis")):
        target = coverage[:, seg]
        predicted = cross_val_predict(RidgeCV(alphas=np.logspace(-3, 3, 13)), pooled, target, cv=folds, groups=groups)
        r2 = 1 - ((predicted - target) ** 2).sum() / ((target - target.mean()) ** 2).sum()
        record["r2_from_pooled"][name] = round(float(r2), 4)
    counts = np.stack(scored, 1)
    for name, features in (("two coverages and two lengths", np.c_[coverage, counts]),
                           ("the mean-pooled vector", pooled),
                           ("both", np.c_[pooled, coverage, counts])):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
        scores = cross_val_score(model, features, labels, cv=folds, groups=groups)
        record["logistic_regression_accuracy"][name] = {"accuracy": round(float(scores.mean()), 4),
                                                         "sd_over_folds": round(float(scores.std()), 4)}
    print(json.dumps(record, ensure_ascii=False, indent=2))
    path = os.path.join(output_dir, f"nli_coverage_cv_{record['model_sha256'][:8]}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, ensure_ascii=False, indent=2)
    return record


def _train_jointly(start, rows, args, command):
    """The match loss on a batch of pairs plus, with the same weight, the emoticon loss on a batch of reviews, every
    step (custom loop; bert_tf's fine-tuning optimizer over the encoder and both heads). Writes the encoder to
    `args.output_dir/model` and returns the record (also written there as piece_match.json, as the stage's)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from bert_tf.finetuning.piece_match import PieceMatchStart
    from bert_tf.heads.sequence_pooling import masked_mean
    from bert_tf.training.optimization import create_optimizer
    stage = PieceMatchStart(start, rows, SEQ, args.seed, DEV_ROWS)
    encoder, arrays, dev, train = stage.encoder, stage.arrays, stage.dev, stage.train
    vocab = stage.tokenizer.vocab
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]

    def ids(text):
        return [vocab[p] for p in stage.tokenizer.tokenize(text)]
    with open(args.emoticons, encoding="utf-8") as f:
        reviews = [json.loads(line) for line in f]
    names = sorted({r["label"] for r in reviews})
    rng = np.random.default_rng(args.seed)
    reviews = [reviews[i] for i in rng.permutation(len(reviews))]
    tokens = np.zeros((len(reviews), SEQ), "int32")
    for n, r in enumerate(reviews):
        pieces = [cls_id] + ids(r["text"])[:SEQ - 2] + [sep_id]
        tokens[n, :len(pieces)] = pieces
    emotion = np.array([names.index(r["label"]) for r in reviews], "int32")
    emo_dev, emo_train = np.arange(DEV_ROWS), np.arange(DEV_ROWS, len(reviews))
    match_head = keras.layers.Dense(1, kernel_initializer="glorot_uniform", name="match")
    emo_head = keras.layers.Dense(len(names), kernel_initializer="glorot_uniform", name="emoticons")
    dropout = keras.layers.Dropout(0.1)
    per_epoch = int(np.ceil(len(train) / 32))
    steps = args.num_train_epochs * per_epoch
    optimizer = create_optimizer(args.learning_rate, steps, int(0.1 * steps))

    def pair_inputs(index):
        return {"token_ids": arrays[0][index], "segment_ids": arrays[1][index], "padding_mask": arrays[2][index]}

    def review_inputs(index):
        t = tokens[index]
        return {"token_ids": t, "segment_ids": np.zeros_like(t), "padding_mask": (t > 0).astype("int32")}

    def losses(xp, yp, wp, xe, ye, training):
        match = match_head(encoder(xp, training=training)["sequence_output"])[..., 0]
        bce = tf.nn.sigmoid_cross_entropy_with_logits(tf.cast(yp, "float32"), tf.cast(match, "float32"))
        match_loss = tf.reduce_sum(bce * wp) / tf.reduce_sum(wp)
        pooled = masked_mean(encoder(xe, training=training)["sequence_output"], xe["padding_mask"])
        emo = tf.cast(emo_head(dropout(pooled, training=training)), "float32")
        emo_loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(ye, emo))
        hits = tf.cast(tf.equal(tf.cast(match > 0, "int32"), yp), "float32")
        match_acc = tf.reduce_sum(hits * wp) / tf.reduce_sum(wp)
        emo_acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(emo, -1, output_type="int32"), ye), "float32"))
        return match_loss, emo_loss, match_acc, emo_acc

    @tf.function
    def train_step(xp, yp, wp, xe, ye):
        with tf.GradientTape() as tape:
            match_loss, emo_loss, match_acc, emo_acc = losses(xp, yp, wp, xe, ye, True)
            loss = match_loss + emo_loss
        variables = [v for v in encoder.trainable_variables if "pooler" not in v.path]
        variables += match_head.trainable_variables + emo_head.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return match_loss, emo_loss

    history = {k: [] for k in ("loss_match", "loss_emoticons", "val_match_accuracy", "val_emoticon_accuracy")}
    weights = arrays[4].astype("float32")
    emo_order = rng.permutation(emo_train)
    step = 0
    for epoch in range(args.num_train_epochs):
        order, sums = rng.permutation(train), np.zeros(2)
        for b in range(per_epoch):
            batch = order[b * 32:(b + 1) * 32]
            e = emo_order[np.arange(step * 32, step * 32 + 32) % len(emo_order)]
            sums += [float(v) for v in train_step(pair_inputs(batch), arrays[3][batch], weights[batch],
                                                   review_inputs(e), emotion[e])]
            step += 1
            if step % 100 == 0:
                print(f"step {step}/{steps}: match loss {sums[0] / (b + 1):.4f}, emoticon loss {sums[1] / (b + 1):.4f}",
                      flush=True)
        dev_scores = [float(v) for v in losses(pair_inputs(dev), arrays[3][dev], weights[dev],
                                                 review_inputs(emo_dev), emotion[emo_dev], False)]
        for key, value in zip(history, [sums[0] / per_epoch, sums[1] / per_epoch, dev_scores[2], dev_scores[3]]):
            history[key].append(value)
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in history.items()), flush=True)
    return stage.save(args.output_dir, history, command=command)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train_text", help="the build's train.txt (pre-training training documents)")
    parser.add_argument("--output_dir")
    parser.add_argument("--model_dir", default=None, help="start (default: the built-in Korean BERT)")
    parser.add_argument("--num_pairs", type=int, default=30000, help="half graded, half copy style")
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--num_train_epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--emoticons", default=None, help="prepare_emoticon_data.py's JSON lines: if given, every step "
                        "also trains a fresh 8-way head on the mean-pooled last layer to name a batch of reviews' "
                        "removed emoticons (the sentiment the built-in model's emoticon stage taught), same weight")
    parser.add_argument("--overlap_cv", action="store_true", help="run the overlap check instead (no model)")
    parser.add_argument("--coverage_cv", action="store_true",
                        help="run the coverage check of --model_dir (default: the built-in model) instead")
    args = parser.parse_args(argv)
    if args.overlap_cv:
        return overlap_cv(os.path.join(REPO, "benchmarks", "results", "korean_pretraining", "nli_overlap_cv.json"))
    if args.coverage_cv:
        from bert_tf.pretrained import korean_bert_dir
        return coverage_cv(args.model_dir or korean_bert_dir(),
                           os.path.join(REPO, "benchmarks", "results", "korean_pretraining"),
                           " ".join(["python", "benchmarks/korean_match_probe.py"]
                                    + (sys.argv[1:] if argv is None else list(argv))))
    if not (args.train_text and args.output_dir):
        parser.error("--train_text and --output_dir are required (or --overlap_cv)")

    from bert_tf.data.text_pairs import match_pairs
    from bert_tf.pretrained import korean_bert_dir
    start = args.model_dir or korean_bert_dir()
    os.makedirs(args.output_dir, exist_ok=True)
    rows = match_pairs(args.train_text, args.num_pairs, args.seed)
    command = " ".join(["python", "benchmarks/korean_match_probe.py"] + (sys.argv[1:] if argv is None else list(argv)))
    if args.emoticons:
        record = _train_jointly(start, rows, args, command)
    else:
        from bert_tf.finetuning.piece_match import train_piece_match
        record = train_piece_match(start, rows, args.output_dir, max_seq_length=SEQ, learning_rate=args.learning_rate,
                                   num_train_epochs=args.num_train_epochs, dev_rows=DEV_ROWS, seed=args.seed,
                                   command=command)
    print(json.dumps({k: record[k] for k in ("sha256", "history", "seconds")}))


if __name__ == "__main__":
    main()
