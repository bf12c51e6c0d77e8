"""Training throughput (sequences/s) of bert_tf vs keras-hub's BertBackbone + Dense head vs Hugging Face (PyTorch).

One training step = forward + backward + AdamW update of a sequence classifier (2 classes, dropout 0.1 as BERT
fine-tuning, every position a real token), at sequence length 128, on random weights and inputs, all variants
on the same shapes and inputs in one process. Timing is interleaved (see `common.interleaved_times`): warm-up
steps (tracing, XLA compilation) are excluded, each round times `--steps_per_round` steps of every variant in
turn, and the median over rounds is reported.

    python benchmarks/training_throughput.py                       # BERT-Base (batch 8) and MiniLM (batch 32)
    python benchmarks/training_throughput.py --shapes=minilm --rounds=3
    python benchmarks/training_throughput.py --variants=bert_tf_bf16,keras_hub_fp32_xla --shapes=base

Variants (`--variants`, comma-separated; default: all whose libraries are installed):
    bert_tf_fp32        bert_tf `BertClassifier`, float32, `tf.function` graph (TF's oneDNN kernels)
    bert_tf_fp32_xla    the same with `jit_compile=True`
    bert_tf_bf16        `mixed_bfloat16` policy, graph mode: oneDNN's AVX512-BF16 matmuls
    bert_tf_bf16_xla    `mixed_bfloat16` + `jit_compile=True` (XLA:CPU runs bf16 dots at float32 speed here)
    keras_hub_fp32      keras-hub `BertBackbone` + `Dense` on `pooled_output`, float32, graph mode
    keras_hub_fp32_xla  the same with `jit_compile=True`
    hf_torch_fp32       Hugging Face `BertForSequenceClassification`, PyTorch CPU (optional install), eager

Prints one `SUMMARY` line per comparison (ratio of sequences/s; target from issue 6: bert_tf bf16 >= 1.5x
keras-hub float32) and writes `--output_json`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

ALL_VARIANTS = ("bert_tf_fp32", "bert_tf_fp32_xla", "bert_tf_bf16", "bert_tf_bf16_xla", "keras_hub_fp32",
                "keras_hub_fp32_xla", "hf_torch_fp32")
DEFAULT_BATCH = {"base": 8, "minilm": 32, "tiny": 4}
NUM_CLASSES = 2
LEARNING_RATE = 1e-5


# === Variants: each returns a zero-argument function that runs one training step and blocks on it ===

def _keras_step(model, x, y, jit_compile):
    import keras
    import tensorflow as tf
    model.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE, weight_decay=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit_compile)
    x = {k: tf.constant(v) for k, v in x.items()}
    y = tf.constant(y)
    return lambda: model.train_on_batch(x, y)


def bert_tf_step(shape, x, y, dtype, jit_compile):
    from bert_tf import BertConfig, BertEncoder
    from bert_tf.tasks import BertClassifier
    encoder = BertEncoder.from_bert_config(BertConfig(**shape.bert_config_kwargs), dtype=dtype)
    model = BertClassifier(encoder, num_classes=NUM_CLASSES, pooling="cls")
    return _keras_step(model, x, y, jit_compile)


def keras_hub_step(shape, x, y, jit_compile):
    import keras
    import keras_hub
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=shape.vocab_size, num_layers=shape.num_layers, num_heads=shape.num_heads,
        hidden_dim=shape.hidden_size, intermediate_dim=shape.intermediate_size, dropout=0.1,
        max_sequence_length=shape.max_position_embeddings, num_segments=2, dtype="float32")
    pooled = keras.layers.Dropout(0.1)(backbone.output["pooled_output"])
    logits = keras.layers.Dense(NUM_CLASSES, dtype="float32")(pooled)
    model = keras.Model(backbone.input, logits)
    return _keras_step(model, x, y, jit_compile)


def hf_torch_step(shape, x, y):
    import torch
    import transformers
    common.configure_torch_threads()
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=shape.vocab_size, hidden_size=shape.hidden_size, num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads, intermediate_size=shape.intermediate_size,
        max_position_embeddings=shape.max_position_embeddings, num_labels=NUM_CLASSES)
    model = transformers.BertForSequenceClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    inputs = dict(input_ids=torch.from_numpy(x["token_ids"]).long(),
                  token_type_ids=torch.from_numpy(x["segment_ids"]).long(),
                  attention_mask=torch.from_numpy(x["padding_mask"]).long(),
                  labels=torch.from_numpy(y).long())

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        return loss.detach().item()
    return step


def build_variant(name, shape, x, y):
    if name.startswith("bert_tf_"):
        dtype = "mixed_bfloat16" if "_bf16" in name else "float32"
        return bert_tf_step(shape, x, y, dtype, jit_compile=name.endswith("_xla"))
    if name.startswith("keras_hub_"):
        return keras_hub_step(shape, x, y, jit_compile=name.endswith("_xla"))
    if name == "hf_torch_fp32":
        return hf_torch_step(shape, x, y)
    raise ValueError(f"unknown variant {name!r}; choose from {ALL_VARIANTS}")


def available(name) -> bool:
    if name.startswith("hf_torch"):
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as e:
            print(f"skipping {name}: optional peer not installed ({e}); "
                  "pip install torch==2.13.0 transformers", flush=True)
            return False
    return True


# === Summary ===

BERT_TF_BF16 = ("bert_tf_bf16", "bert_tf_bf16_xla")
KERAS_HUB_FP32 = ("keras_hub_fp32", "keras_hub_fp32_xla")
COMPARISONS = [
    # (numerator, denominator, target). The issue 6 target is judged once, strictly: the faster bert_tf
    # bfloat16 variant against the faster keras-hub float32 variant of the same run ("best" rows below).
    ("bert_tf_bf16", "keras_hub_fp32", None),
    ("bert_tf_bf16_xla", "keras_hub_fp32_xla", None),
    ("bert_tf_fp32", "keras_hub_fp32", None),
    ("bert_tf_fp32_xla", "keras_hub_fp32_xla", None),
    ("bert_tf_bf16", "bert_tf_fp32", None),
    ("bert_tf_bf16", "hf_torch_fp32", None),
    ("bert_tf_fp32", "hf_torch_fp32", None),
]


def _best(results, names):
    present = [n for n in names if n in results]
    return max(present, key=lambda n: results[n]["sequences_per_second"]) if present else None


def summarize(results: dict, label: str) -> tuple[list[str], list[dict]]:
    """SUMMARY lines and JSON records for one shape's `{variant: {"sequences_per_second": ...}}`."""
    rows = []
    best_bf16, best_hub = _best(results, BERT_TF_BF16), _best(results, KERAS_HUB_FP32)
    if best_bf16 and best_hub:
        rows.append((f"best bert_tf bf16 ({best_bf16}) vs best keras-hub fp32 ({best_hub})", best_bf16, best_hub,
                     1.5))
    rows += [(f"{num} vs {den}", num, den, target) for num, den, target in COMPARISONS
             if num in results and den in results]
    lines, records = [], []
    for what, num, den, target in rows:
        per_round = common.per_round_ratios(results[num]["seconds_per_step"], results[den]["seconds_per_step"])
        line, record = common.ratio_line(f"training {label} {what}", num, results[num]["sequences_per_second"],
                                         den, results[den]["sequences_per_second"], "seq/s", target=target,
                                         per_round=per_round)
        lines.append(line)
        records.append(record)
    return lines, records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="base,minilm", help="comma-separated: base, minilm, tiny")
    parser.add_argument("--variants", default=",".join(ALL_VARIANTS))
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=None,
                        help="overrides the per-shape default (base 8, minilm 32)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant (includes compilation)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; the median is reported")
    parser.add_argument("--steps_per_round", type=int, default=1)
    parser.add_argument("--output_json", default="benchmarks/results/training_throughput.json")
    parser.add_argument("--resummarize", default=None,
                        help="a JSON written by this script: recompute its SUMMARY lines and records, run nothing")
    args = parser.parse_args(argv)
    if args.resummarize:
        return resummarize(args.resummarize)

    variants = [v for v in args.variants.split(",") if v and available(v)]
    info = common.machine_info()
    print(f"machine: {info.get('cpu_model')} x{info['cpu_count']}, load average {info['load_average_at_start']}",
          flush=True)
    payload = {"benchmark": "training_throughput", "command": " ".join(["python"] + sys.argv), "machine": info,
               "seq_len": args.seq_len, "warmup": args.warmup, "rounds": args.rounds,
               "steps_per_round": args.steps_per_round, "results": {}, "summary": []}
    summary_lines = []
    for shape_key in args.shapes.split(","):
        shape = common.SHAPES[shape_key]
        batch = args.batch_size or DEFAULT_BATCH[shape_key]
        x = common.random_inputs(batch, args.seq_len, shape.vocab_size)
        y = common.random_labels(batch, NUM_CLASSES)
        print(f"\n== {shape.name}: batch {batch}, seq {args.seq_len}, "
              f"{common.flops_per_sequence(shape, args.seq_len, NUM_CLASSES, training=True) / 1e9:.1f} "
              f"GFLOP/sequence (training) ==", flush=True)
        steps = {}
        for name in variants:
            start = time.perf_counter()
            steps[name] = build_variant(name, shape, x, y)
            print(f"  built {name} in {time.perf_counter() - start:.1f} s", flush=True)
        times = common.interleaved_times(steps, warmup=args.warmup, rounds=args.rounds,
                                         steps_per_round=args.steps_per_round)
        flops = common.flops_per_sequence(shape, args.seq_len, NUM_CLASSES, training=True)
        results = {}
        for name, ts in times.items():
            seconds = common.median(ts)
            results[name] = {"seconds_per_step_median": seconds, "seconds_per_step": ts,
                             "sequences_per_second": batch / seconds,
                             "achieved_gflops": flops * batch / seconds / 1e9}
            print(f"  {name:20s} {batch / seconds:8.2f} seq/s  ({seconds * 1000:.0f} ms/step, "
                  f"{results[name]['achieved_gflops']:.0f} GFLOP/s)", flush=True)
        payload["results"][shape_key] = {"shape": shape.__dict__, "batch_size": batch, "variants": results}
        lines, records = summarize(results, f"{shape.name} b{batch} s{args.seq_len}")
        summary_lines += lines
        payload["summary"] += records
        del steps
        gc.collect()
    payload["load_average_at_end"] = list(os.getloadavg())
    print()
    for line in summary_lines:
        print(line)
    print(f"load average at start {info['load_average_at_start']}, at end {payload['load_average_at_end']}")
    common.write_json(args.output_json, payload)
    print(f"wrote {args.output_json}")


def resummarize(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        payload = json.load(f)
    payload["summary"] = []
    for block in payload["results"].values():
        lines, records = summarize(block["variants"], f"{block['shape']['name']} b{block['batch_size']} "
                                                      f"s{payload['seq_len']}")
        payload["summary"] += records
        for line in lines:
            print(line)
    print(f"load average at start {payload['machine']['load_average_at_start']}, "
          f"at end {payload['load_average_at_end']}")
    common.write_json(path, payload)
    print(f"rewrote the summary of {path}")


if __name__ == "__main__":
    main()
