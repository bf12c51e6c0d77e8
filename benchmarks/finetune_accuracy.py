"""Fine-tuning accuracy, bert_tf against its peers on the same weights, data, budget and seeds.

Every system gets the same pre-trained weights, the same token ids (bert_tf's tokenizer, which equals
google-research/bert's and Hugging Face's on these vocabularies), the same batch size, peak learning rate, epochs
and sequence length, and trains for the whole budget; the final model is scored once on the test file. Nothing
is chosen on the test file: with one learning rate and a fixed number of epochs there is nothing to choose.

Systems:
    bert_tf            `bert_tf.finetuning` with its defaults (glorot-uniform head, AdamW + 10% warmup + linear
                       decay, clipping at 1.0, weight decay 0.01)
    bert_tf_google     the same with `head_initializer="truncated_normal"` (google-research/bert's stddev-0.02
                       head: the recipe before issue 11)
    bert_tf_random     bert_tf's defaults on the same architecture, vocabulary and pooling from random weights:
                       what the pre-trained weights are worth
    keras_hub          keras-hub 0.32 `BertBackbone.from_preset(<the same HF directory>)` + the same pooling +
                       Dropout(0.1) + Dense (Keras' default init), Keras AdamW(weight_decay=0.01) with linear
                       decay, no warmup, no clipping, `model.fit` (classification and regression tasks)
    sentence_transformers  sentence-transformers 6 (bi-encoder tasks): `SentenceTransformer(<the same HF directory>)`
                       (its Transformer + the directory's `1_Pooling`: mean), `CosineSimilarityLoss` on the scores
                       scaled to 0-1, `SentenceTransformerTrainer` with its example's 10% warmup and the HF
                       Trainer's other defaults (AdamW, no weight decay, linear decay, clipping 1.0); the test
                       pairs scored by the cosine of `encode()`'s embeddings (needs the `bench` extra)
    sentence_transformers_random  the same from random weights of the same architecture (`BertModel(config)`)
    hf_torch           Hugging Face transformers `BertFor{SequenceClassification,TokenClassification,
                       QuestionAnswering}` in PyTorch with the defaults of HF's `Trainer` (AdamW eps 1e-8, no
                       weight decay, no warmup, linear decay, grad-norm clipping 1.0) in a plain loop; sequence
                       tasks pool by HF's [CLS] pooler, as `BertForSequenceClassification` does (every task;
                       needs the `bench` extra)

Tasks (data copied into benchmarks/data/ and bert_tf/resources/, licenses in their READMEs):
    banking77   77 intents, 5,000 train / 1,000 test, MiniLM, mean pooling, seq 64, batch 32, lr 1e-4, 3 epochs
    poem        poem sentiment, 892 train / 105 dev-as-test, MiniLM, seq 64, batch 16, lr 1e-4, 3 epochs
    nsmc        NSMC sample, 5,000 train / 1,000 test reviews, the built-in Korean BERT, seq 64, batch 32, lr 1e-4,
                3 epochs (issue 12's acceptance flags with the first of its two learning rates, no dev selection)
    klue_nli    KLUE-NLI sample, 1,998 train / 501 test pairs, 3 classes, the same model and budget as nsmc
    korsts      KorSTS, 3,000 train / 500 dev-as-test, Spearman, the built-in Korean BERT, seq 64, batch 32,
                lr 1e-4, 5 epochs
    wnut17      WNUT-17 sample, 2,000 / 500 sentences, entity F1, MiniLM, seq 128, batch 32, lr 1e-4, 3 epochs
    korsts_bi   KorSTS as a bi-encoder (each sentence encoded alone, cosine similarity; bert_tf's
                `task_type="bi_encoder"` against sentence-transformers), the built-in Korean BERT, seq 64,
                batch 32, lr 3e-4 (what the dev split chose in every `korean_finetune.py` korsts_bi run), 3 epochs
    squad       SQuAD v1.1 sample, 1,000 / 304 questions, EM/F1, MiniLM, seq 256 / stride 128, batch 16,
                lr 1e-4, 3 epochs

Each (task, system, seed) runs in its own process (TensorFlow and PyTorch never share one) and is appended to
the results JSON as it finishes, with the SHA-256 of the weights it started from (`model_sha256`; for a
random-init system, of the model whose architecture and vocabulary it takes). Rerunning the same command skips
the runs already there for the same weights, so an interrupted benchmark resumes; a run made with other weights
(the built-in Korean model before it was replaced) is kept in the file but neither counts in the summary nor
stops the run from being made again with the current weights.

    python benchmarks/finetune_accuracy.py --tasks=banking77,poem --systems=bert_tf,bert_tf_google,keras_hub \
        --seeds=0,1,2 --output=benchmarks/results/finetune_accuracy.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import REPO, mean_sd, resumable_payload, write_runs  # noqa: E402
from benchmarks.korean_finetune import TASKS as KOREAN  # noqa: E402  (the Korean data files, spelled once)

DATA = os.path.join(REPO, "benchmarks", "data")
RESOURCES = os.path.join(REPO, "bert_tf", "resources")

TASKS = {
    "banking77": dict(kind="classifier", data_format="banking77", model="minilm",
                      train=os.path.join(RESOURCES, "banking77", "train.csv"),
                      test=os.path.join(RESOURCES, "banking77", "test.csv"),
                      seq=64, batch=32, lr=1e-4, epochs=3, metric="accuracy"),
    "poem": dict(kind="classifier", data_format="poem_sentiment", model="minilm",
                 train=os.path.join(DATA, "poem_sentiment", "train.tsv"),
                 test=os.path.join(DATA, "poem_sentiment", "dev.tsv"),
                 seq=64, batch=16, lr=1e-4, epochs=3, metric="accuracy"),
    "nsmc": dict(kind="classifier", data_format="nsmc", model="korean",
                 train=KOREAN["nsmc"]["train"], test=KOREAN["nsmc"]["test"],
                 seq=64, batch=32, lr=1e-4, epochs=3, metric="accuracy"),
    "klue_nli": dict(kind="classifier", data_format="klue_nli", model="korean",
                     train=KOREAN["klue_nli"]["train"], test=KOREAN["klue_nli"]["test"],
                     seq=64, batch=32, lr=1e-4, epochs=3, metric="accuracy"),
    "korsts": dict(kind="regressor", data_format="korsts", model="korean",
                   train=KOREAN["korsts"]["train"], test=KOREAN["korsts"]["test"],
                   seq=64, batch=32, lr=1e-4, epochs=5, metric="spearman"),
    "korsts_bi": dict(kind="bi_encoder", data_format="korsts", model="korean",
                      train=KOREAN["korsts_bi"]["train"], test=KOREAN["korsts_bi"]["test"],
                      seq=64, batch=32, lr=3e-4, epochs=3, metric="spearman"),
    "wnut17": dict(kind="token_classifier", data_format="conll", model="minilm",
                   train=os.path.join(DATA, "wnut17", "wnut17train.sample.conll"),
                   test=os.path.join(DATA, "wnut17", "emerging.dev.sample.conll"),
                   seq=128, batch=32, lr=1e-4, epochs=3, metric="f1"),
    "squad": dict(kind="span_qa", model="minilm",
                  train=os.path.join(DATA, "squad", "train-v1.1-sample.json"),
                  test=os.path.join(DATA, "squad", "dev-v1.1-sample.json"),
                  seq=256, stride=128, batch=16, lr=1e-4, epochs=3, metric="f1"),
}
SYSTEMS = ("bert_tf", "bert_tf_google", "bert_tf_random", "keras_hub", "hf_torch", "sentence_transformers",
           "sentence_transformers_random")
PEERS_FOR = {"classifier": ("keras_hub", "hf_torch"), "regressor": ("keras_hub", "hf_torch"),
             "bi_encoder": ("sentence_transformers",),
             "token_classifier": ("hf_torch",), "span_qa": ("hf_torch",)}


def model_dir(name):
    from bert_tf import pretrained
    return pretrained.minilm_l6_dir() if name == "minilm" else pretrained.korean_bert_dir()


def model_sha256(name):
    """The SHA-256 of the weights `model_dir(name)` holds (it verifies them against this on every load)."""
    from bert_tf import pretrained
    return pretrained.MINILM_SHA256 if name == "minilm" else pretrained.KOREAN_BERT_SHA256


# === One run (in a child process) ===

def run_bert_tf(task, seed, head_initializer, work_dir, pretrained=True):
    """`bert_tf.finetuning` with its defaults; `pretrained=False`: the same architecture, vocabulary, casing and
    pooling from random weights (what pre-training buys)."""
    from bert_tf import finetuning
    from bert_tf.checkpoints import find_vocab
    from bert_tf.tasks import default_pooling
    t = TASKS[task]
    path = model_dir(t["model"])
    start = dict(init_checkpoint=path) if pretrained else dict(
        bert_config_file=next(os.path.join(path, f) for f in ("bert_config.json", "config.json")
                              if os.path.isfile(os.path.join(path, f))),  # (the Korean one records its casing)
        vocab_file=find_vocab(path))
    common = dict(max_seq_length=t["seq"], train_batch_size=t["batch"], learning_rate=t["lr"],
                  num_train_epochs=t["epochs"], seed=seed, output_dir=work_dir, head_initializer=head_initializer,
                  **start)
    if t["kind"] in ("classifier", "regressor", "bi_encoder"):
        task_type = {"task_type": "bi_encoder"} if t["kind"] == "bi_encoder" else {}
        # pooling=None: the checkpoint's own; a bi-encoder without a checkpoint mean-pools (finetune_classifier)
        pooling = None if pretrained or task_type else default_pooling(path)
        r = finetuning.finetune_classifier(t["train"], t["test"], data_format=t["data_format"], pooling=pooling,
                                           **task_type, **common)
    elif t["kind"] == "token_classifier":
        r = finetuning.finetune_ner(t["train"], t["test"], data_format=t["data_format"], **common)
    else:
        r = finetuning.finetune_squad(t["train"], t["test"], doc_stride=t["stride"], **common)
    return {k: v for k, v in r.eval_results.items() if isinstance(v, (int, float))}


def _tokenizer(path):
    """bert_tf's tokenizer for the model directory `path`, cased as its config says."""
    from bert_tf import checkpoints
    from bert_tf.tokenization import BertTokenizer
    config = checkpoints.load_encoder(path).bert_config
    return BertTokenizer(checkpoints.find_vocab(path), do_lower_case=config.do_lower_case)


def _classification_data(task):
    import numpy as np
    from bert_tf.data import classification_features, readers
    t = TASKS[task]
    path = model_dir(t["model"])
    tokenizer = _tokenizer(path)
    regression = t["kind"] == "regressor"
    train = readers.read_examples(t["train"], t["data_format"], regression=regression)
    test = readers.read_examples(t["test"], t["data_format"], regression=regression)
    names = [] if regression else readers.label_names_of(train)

    def arrays(examples):
        x = classification_features.encode_examples(tokenizer, examples, t["seq"])
        y = (np.array([float(e.label) for e in examples], np.float32) if regression
             else classification_features.label_ids(examples, names))
        return x, y

    return path, names, arrays(train), arrays(test)


def run_keras_hub(task, seed, work_dir):
    """keras-hub's BertBackbone on the same HF directory, a plain Keras head and `fit`: what a keras-hub user
    writes. Pooling as bert_tf's default for the checkpoint (mean for MiniLM, the pooler otherwise)."""
    import keras
    import keras_hub
    import numpy as np
    from bert_tf import metrics as metrics_lib
    from bert_tf.finetuning import common
    from bert_tf.tasks import default_pooling
    t = TASKS[task]
    keras.utils.set_random_seed(seed)
    path, names, (train_x, train_y), (test_x, test_y) = _classification_data(task)
    pooling = default_pooling(path)
    backbone = keras_hub.models.BertBackbone.from_preset(path)
    inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in ("token_ids", "segment_ids", "padding_mask")}
    out = backbone(inputs)
    if pooling == "mean":
        mask = keras.ops.cast(keras.ops.expand_dims(inputs["padding_mask"], -1), out["sequence_output"].dtype)
        pooled = keras.ops.sum(out["sequence_output"] * mask, 1) / keras.ops.maximum(keras.ops.sum(mask, 1), 1.0)
    else:
        pooled = out["pooled_output"]
    pooled = keras.layers.Dropout(0.1)(pooled)
    regression = t["kind"] == "regressor"
    logits = keras.layers.Dense(1 if regression else len(names))(pooled)
    model = keras.Model(inputs, logits)
    steps = math.ceil(len(train_y) / t["batch"]) * t["epochs"]
    schedule = keras.optimizers.schedules.PolynomialDecay(t["lr"], steps, end_learning_rate=0.0)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01),
                  loss="mse" if regression else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = {k: train_x[k] for k in inputs}
    history = model.fit(x, train_y, batch_size=t["batch"], epochs=t["epochs"], shuffle=True, verbose=2)
    outputs = model.predict({k: test_x[k] for k in inputs}, batch_size=64, verbose=0).astype(np.float64)
    if regression:
        scores = outputs.reshape(-1)
        result = {"pearson": metrics_lib.pearson(test_y, scores), "spearman": metrics_lib.spearman(test_y, scores)}
    else:
        result = metrics_lib.classification_metrics(test_y, common.softmax(outputs).argmax(-1))
    result["final_train_loss"] = float(history.history["loss"][-1])
    result["pooling"] = pooling
    return result


def _hf_data(task, transformers, torch):
    """The model and arrays of one task for `run_hf_torch`: (model, train inputs, train targets, test inputs,
    score(logits) -> result)."""
    import numpy as np
    from bert_tf import metrics as metrics_lib
    t = TASKS[task]
    load = dict(dtype=torch.float32)  # the Korean model is stored in float16: train in float32 like the others
    if t["kind"] in ("classifier", "regressor"):
        from bert_tf.finetuning import common
        path, names, (train_x, train_y), (test_x, test_y) = _classification_data(task)
        regression = t["kind"] == "regressor"
        model = transformers.BertForSequenceClassification.from_pretrained(
            path, num_labels=1 if regression else len(names),
            problem_type="regression" if regression else "single_label_classification", **load)

        def score(logits):
            if regression:
                scores = logits.reshape(-1).astype(np.float64)
                return {"pearson": metrics_lib.pearson(test_y, scores), "spearman": metrics_lib.spearman(test_y, scores)}
            return metrics_lib.classification_metrics(test_y, common.softmax(logits).argmax(-1))
        return model, train_x, {"labels": train_y}, test_x, score
    path = model_dir(t["model"])
    tokenizer = _tokenizer(path)
    if t["kind"] == "token_classifier":
        from bert_tf.data import conll, ner_features
        train_ex, test_ex = conll.read_conll(t["train"]), conll.read_conll(t["test"])
        tags = ner_features.tag_names_of(train_ex)
        train = ner_features.encode_tagged(tokenizer, train_ex, t["seq"], tags, split="train")
        test = ner_features.encode_tagged(tokenizer, test_ex, t["seq"], tags)
        model = transformers.BertForTokenClassification.from_pretrained(path, num_labels=len(tags), **load)

        def score(logits):
            predicted = ner_features.decode_tags(test, test_ex, logits.argmax(-1), tags)
            scores = metrics_lib.entity_scores([list(e.tags) for e in test_ex], predicted)
            return {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"]}
        return model, train.inputs, {"labels": train.labels}, test.inputs, score
    from bert_tf.data import squad as squad_data
    train_ex = squad_data.read_squad(t["train"], is_training=True)
    test_ex = squad_data.read_squad(t["test"])
    kw = dict(max_seq_length=t["seq"], doc_stride=t["stride"], max_query_length=64)
    train_feats = squad_data.convert_examples_to_features(train_ex, tokenizer, is_training=True, **kw)
    test_feats = squad_data.convert_examples_to_features(test_ex, tokenizer, **kw)
    train_x, y = squad_data.features_to_arrays(train_feats, t["seq"])
    test_x, _ = squad_data.features_to_arrays(test_feats, t["seq"])
    model = transformers.BertForQuestionAnswering.from_pretrained(path, **load)

    def score(logits):
        mask = test_x["padding_mask"] == 0
        start_logits = np.where(mask, -10000.0, logits[..., 0])
        end_logits = np.where(mask, -10000.0, logits[..., 1])
        predictions, _, _ = squad_data.postprocess(test_ex, test_feats, start_logits, end_logits)
        m = metrics_lib.squad_v1_evaluate(squad_data.dataset_json(t["test"]), predictions)
        return {"exact_match": m["exact_match"], "f1": m["f1"]}
    return model, train_x, {"start_positions": y["start_logits"], "end_positions": y["end_logits"]}, test_x, score


def run_hf_torch(task, seed, work_dir):
    """Hugging Face transformers' `BertFor{SequenceClassification,TokenClassification,QuestionAnswering}` on the
    same token ids, trained with the defaults of HF's `Trainer` in a plain PyTorch loop; decoded and scored with
    the same code as bert_tf. Sequence classification/regression pools as HF does (the [CLS] pooler)."""
    import numpy as np
    import torch
    import transformers
    t = TASKS[task]
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(os.cpu_count() or 1)
    model, train_x, train_targets, test_x, score = _hf_data(task, transformers, torch)
    n = len(train_x["token_ids"])
    steps = math.ceil(n / t["batch"]) * t["epochs"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=t["lr"], eps=1e-8, weight_decay=0.0)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 0, steps)
    generator = np.random.default_rng(seed)

    def batch(x, index):
        return {"input_ids": torch.tensor(x["token_ids"][index], dtype=torch.long),
                "token_type_ids": torch.tensor(x["segment_ids"][index], dtype=torch.long),
                "attention_mask": torch.tensor(x["padding_mask"][index], dtype=torch.long)}

    def target(values):
        values = np.asarray(values)
        return torch.tensor(values, dtype=torch.float32 if values.dtype.kind == "f" else torch.long)

    model.train()
    losses = []
    for _ in range(t["epochs"]):
        order = generator.permutation(n)
        for start in range(0, n, t["batch"]):
            index = order[start:start + t["batch"]]
            loss = model(**batch(train_x, index), **{k: target(v[index]) for k, v in train_targets.items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(float(loss))
    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, len(test_x["token_ids"]), 64):
            out = model(**batch(test_x, np.arange(start, min(start + 64, len(test_x["token_ids"])))))
            outs.append(np.stack([out.start_logits.numpy(), out.end_logits.numpy()], -1)
                        if t["kind"] == "span_qa" else out.logits.numpy())
    result = score(np.concatenate(outs))
    result["final_train_loss"] = float(np.mean(losses[-max(1, steps // t["epochs"] // 4):]))
    return result


def run_sentence_transformers(task, seed, work_dir, pretrained=True):
    """sentence-transformers' bi-encoder recipe, as its STS example writes it: `SentenceTransformer(<dir>)`,
    `CosineSimilarityLoss` on the gold scores scaled to 0-1, `SentenceTransformerTrainer`; scored by the cosine of
    `encode()`'s embeddings of the test pairs. Checks first that its tokenizer gives bert_tf's token ids on every
    sentence (the benchmark's premise: the same inputs)."""
    import datasets
    import numpy as np
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, \
        SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    from bert_tf import metrics as metrics_lib
    from bert_tf.data import readers
    t = TASKS[task]
    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count() or 1)
    path = model_dir(t["model"])
    train = readers.read_examples(t["train"], t["data_format"], regression=True)
    test = readers.read_examples(t["test"], t["data_format"], regression=True)
    model = SentenceTransformer(path, device="cpu", model_kwargs=dict(dtype=torch.float32))
    model.max_seq_length = t["seq"]
    if not pretrained:
        body = model[0].auto_model
        random_body = transformers.BertModel(body.config, add_pooling_layer=body.pooler is not None)
        body.load_state_dict(random_body.state_dict())
    tokenizer = _tokenizer(path)
    texts = sorted({x for e in train + test for x in (e.text_a, e.text_b)})
    ours = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(x))[:t["seq"] - 2] for x in texts]
    theirs = [ids[1:-1] for ids in model.tokenizer(texts, truncation=True, max_length=t["seq"])["input_ids"]]
    mismatches = sum(a != list(b) for a, b in zip(ours, theirs))
    if mismatches:
        raise AssertionError(f"{mismatches} of {len(texts)} sentences tokenize differently")
    high = max(float(e.label) for e in train)
    data = datasets.Dataset.from_dict({"sentence1": [e.text_a for e in train], "sentence2": [e.text_b for e in train],
                                       "score": [float(e.label) / high for e in train]})
    args = SentenceTransformerTrainingArguments(
        output_dir=work_dir, num_train_epochs=t["epochs"], per_device_train_batch_size=t["batch"],
        learning_rate=t["lr"], warmup_ratio=0.1, seed=seed, data_seed=seed, save_strategy="no", report_to="none",
        logging_steps=10, disable_tqdm=True, use_cpu=True)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                         loss=CosineSimilarityLoss(model))
    output = trainer.train()
    model.eval()
    a = model.encode([e.text_a for e in test], batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    b = model.encode([e.text_b for e in test], batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    scores = np.sum(a.astype(np.float64) * b, -1)
    gold = np.array([float(e.label) for e in test], np.float64)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"pearson": metrics_lib.pearson(gold, scores), "spearman": metrics_lib.spearman(gold, scores),
            "final_train_loss": float(losses[-1]) if losses else float(output.training_loss),
            "tokenized_sentences_checked": len(texts), "sentence_transformers": __import__(
                "sentence_transformers").__version__}


def run_one(task, system, seed):
    with tempfile.TemporaryDirectory(prefix=f"ft_acc_{task}_{system}_") as work_dir:
        start = time.time()
        if system == "bert_tf":
            result = run_bert_tf(task, seed, "glorot_uniform", work_dir)
        elif system == "bert_tf_google":
            result = run_bert_tf(task, seed, "truncated_normal", work_dir)
        elif system == "bert_tf_random":
            result = run_bert_tf(task, seed, "glorot_uniform", work_dir, pretrained=False)
        elif system == "keras_hub":
            result = run_keras_hub(task, seed, work_dir)
        elif system == "hf_torch":
            result = run_hf_torch(task, seed, work_dir)
        elif system == "sentence_transformers":
            result = run_sentence_transformers(task, seed, work_dir)
        elif system == "sentence_transformers_random":
            result = run_sentence_transformers(task, seed, work_dir, pretrained=False)
        else:
            raise ValueError(f"unknown system {system!r}")
        result["seconds"] = round(time.time() - start, 1)
    return result


# === Driver ===

def run_key(run: dict) -> tuple:
    return run["task"], run["system"], run["seed"], run.get("model_sha256")


def current(run: dict) -> bool:
    """Whether `run` started from the weights its task uses now."""
    return run.get("model_sha256") == model_sha256(TASKS[run["task"]]["model"])


def update_summary(payload: dict) -> None:
    payload["summary"] = summarize(payload["runs"])


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    for task in TASKS:
        metric = TASKS[task]["metric"]
        for system in SYSTEMS:
            chosen = sorted((r for r in runs if r["task"] == task and r["system"] == system
                             and metric in r.get("result", {}) and current(r)), key=lambda r: r["seed"])
            values = [r["result"][metric] for r in chosen]
            if values:
                stats = mean_sd(values)
                rows.append({"task": task, "system": system, "metric": metric, "n": stats.pop("n"),
                             "seeds": [r["seed"] for r in chosen], **stats})
    return rows


def print_table(rows):
    print(f"{'task':10} {'system':15} {'metric':9} {'mean':>8} {'sd':>7}  n  values")
    for r in rows:
        values = ", ".join(f"{v:.4f}" for v in r["values"])
        print(f"{r['task']:10} {r['system']:15} {r['metric']:9} {r['mean']:8.4f} {r['sd']:7.4f}  {r['n']}  {values}")


def markdown_table(rows):
    """The summary as the Markdown table docs/RESULTS.md shows: one line per (task, system), per-seed values and
    mean ± sd."""
    lines = ["| task | metric | system | per seed | mean ± sd |", "|---|---|---|---|---|"]
    for r in rows:
        values = ", ".join(f"{v:.3f} (seed {seed})" for seed, v in zip(r["seeds"], r["values"]))
        lines.append(f"| {r['task']} | {r['metric']} | {r['system']} | {values} | {r['mean']:.3f} ± {r['sd']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--systems", default="bert_tf,bert_tf_google,peers",
                        help="comma list of " + ", ".join(SYSTEMS) + "; 'peers' = each task's peer")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--output", default=os.path.join(REPO, "benchmarks", "results", "finetune_accuracy.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # task:system:seed, run in this process
    parser.add_argument("--markdown", action="store_true",
                        help="print the results already in --output as a Markdown table and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        with open(args.output, encoding="utf-8") as f:
            print(markdown_table(summarize(json.load(f)["runs"])))
        return 0
    if args.one:
        task, system, seed = args.one.split(":")
        print("RESULT " + json.dumps(run_one(task, system, int(seed))))
        return 0
    payload = resumable_payload(args.output, __file__, argv)
    payload["budgets"] = {k: {kk: vv for kk, vv in v.items() if kk not in ("train", "test")} for k, v in TASKS.items()}
    done = {run_key(r) for r in payload["runs"] if current(r)}
    for task in args.tasks.split(","):
        systems = []
        for s in args.systems.split(","):
            systems.extend(PEERS_FOR[TASKS[task]["kind"]] if s == "peers" else [s])
        for seed in [int(s) for s in args.seeds.split(",")]:
            for system in systems:
                if (task, system, seed, model_sha256(TASKS[task]["model"])) in done:
                    continue
                print(f"--- {task} {system} seed {seed}", flush=True)
                proc = subprocess.run([sys.executable, os.path.abspath(__file__), f"--one={task}:{system}:{seed}"],
                                      capture_output=True, text=True, cwd=REPO)
                lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
                if proc.returncode or not lines:
                    print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
                    print(f"    FAILED (exit {proc.returncode})", flush=True)
                    continue
                result = json.loads(lines[-1][len("RESULT "):])
                print(f"    {TASKS[task]['metric']} = {result.get(TASKS[task]['metric'])} ({result['seconds']} s)",
                      flush=True)
                # model_dir() verified the child's weights against this checksum when it loaded them
                payload["runs"].append({"task": task, "system": system, "seed": seed,
                                        "model_sha256": model_sha256(TASKS[task]["model"]), "result": result})
                write_runs(args.output, payload, run_key, update_summary)
    write_runs(args.output, payload, run_key, update_summary)
    print_table(payload["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
