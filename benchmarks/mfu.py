"""Model FLOPs utilization (MFU) of bert_tf against this machine's measured matmul peak.

1. Peak: chains of distinct large square `tf.matmul`s (2048², float32 and bfloat16), best of several calls,
   both with XLA (`jit_compile=True`) and in TF graph mode (oneDNN kernels). The peak of a dtype is the
   faster of the two. (Repeating one product would be merged by common-subexpression elimination and would
   report 4x the truth, so each product feeds the next.)
2. bert_tf: sequences/s of a training step (forward + backward + AdamW) and of inference, float32 and bfloat16,
   at sequence length 128; MFU = model FLOPs per second / peak of the dtype the matmuls run in. The two CPU
   cores are shared with other jobs, so the peak is also re-measured (graph mode) inside every interleaved
   round, next to the model steps, and each round's MFU uses that round's peak; the median is reported.

Model FLOPs per sequence (`common.flops_per_sequence`, matmuls only, multiply-add = 2 FLOPs), with L layers,
hidden H, feed-forward I, T tokens and C classes:

    forward  = L * (T * (8 H² + 4 H I) + 4 T² H) + 2 H² + 2 H C
    training = 3 * forward

(8 H²: Q, K, V and output projections; 4 H I: the two feed-forward matmuls; 4 T² H: scores and
probabilities x values; 2 H² + 2 H C: pooler and classifier. Backward = 2x forward. Embedding lookups,
LayerNorm, softmax, GELU, dropout and the optimizer update are not counted: they are the "6 N" convention's
omissions, and are what keeps MFU below 1 on a CPU.) BERT-Base at T = 128: 22.4 GFLOP forward per sequence.

    python benchmarks/mfu.py                                  # peak + bert_tf MiniLM and BERT-Base
    python benchmarks/mfu.py --shapes=minilm --steps=3
    python benchmarks/mfu.py --skip_models --from_json=benchmarks/results/training_throughput.json \
        --from_json=benchmarks/results/inference_throughput.json      # MFU of every variant measured there

Prints one `SUMMARY` line per measurement and writes `--output_json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

BATCH = {"base": 8, "minilm": 32, "tiny": 4}


def _matmul_chain(n: int, chain: int, dtype, jit: bool):
    """A zero-argument call running `chain` dependent n x n matmuls; returns (call, FLOPs per call)."""
    import tensorflow as tf
    a = tf.cast(tf.random.stateless_normal([n, n], seed=[1, 2]), dtype)
    b = tf.cast(tf.random.stateless_normal([n, n], seed=[3, 4]) / n ** 0.5, dtype)

    @tf.function(jit_compile=jit)
    def product(a, b):
        for _ in range(chain):
            a = tf.matmul(a, b)
        return a
    product(a, b).numpy()
    return (lambda: product(a, b).numpy()), chain * 2 * n ** 3


def matmul_peak(n: int = 2048, chain: int = 4, repeats: int = 5) -> dict:
    """GFLOP/s of the best call of `chain` dependent n x n matmuls, per dtype and mode."""
    import tensorflow as tf
    results = {}
    for dtype in (tf.float32, tf.bfloat16):
        for jit in (True, False):
            call, flops = _matmul_chain(n, chain, dtype, jit)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                call()
                best = min(best, time.perf_counter() - start)
            mode = "xla" if jit else "graph"
            results[f"{dtype.name}_{mode}"] = flops / best / 1e9
            print(f"  matmul {n}x{n} {dtype.name:8s} {mode:5s}: {results[f'{dtype.name}_{mode}']:6.0f} GFLOP/s",
                  flush=True)
    for dtype in ("float32", "bfloat16"):
        results[f"{dtype}_peak"] = max(results[f"{dtype}_xla"], results[f"{dtype}_graph"])
    return results


def bert_tf_rates(shape_key: str, warmup: int, steps: int, matmul_size: int = 2048) -> dict:
    """Sequences/s and MFU of bert_tf training and inference steps, float32 and bfloat16 (graph mode, oneDNN).

    The matmul peak (graph mode, oneDNN: the faster mode in both dtypes here) is one more candidate of the
    interleaved rounds, so each round's MFU divides by a peak measured under the same machine load moments
    before; the median over rounds is reported.
    """
    import tensorflow as tf

    import inference_throughput
    import training_throughput
    shape = common.SHAPES[shape_key]
    batch = BATCH[shape_key]
    x = common.random_inputs(batch, 128, shape.vocab_size)
    y = common.random_labels(batch, 2)
    peers = inference_throughput.Peers(shape, workdir=None)
    peak_fp32, peak_flops = _matmul_chain(matmul_size, 4, tf.float32, jit=False)
    peak_bf16, _ = _matmul_chain(matmul_size, 4, tf.bfloat16, jit=False)
    calls = {
        "peak_float32": peak_fp32,
        "peak_bfloat16": peak_bf16,
        "train_fp32": training_throughput.build_variant("bert_tf_fp32", shape, x, y),
        "train_bf16": training_throughput.build_variant("bert_tf_bf16", shape, x, y),
        "infer_fp32": inference_throughput.build_call("keras_fp32", peers, x, None),
        "infer_bf16": inference_throughput.build_call("keras_bf16", peers, x, None),
    }
    times = common.interleaved_times(calls, warmup=warmup, rounds=steps)
    rates = {"batch_size": batch}
    for name in ("train_fp32", "train_bf16", "infer_fp32", "infer_bf16"):
        dtype = "bfloat16" if name.endswith("bf16") else "float32"
        flops = common.flops_per_sequence(shape, 128, 2, training=name.startswith("train")) * batch
        per_round = [flops / t / (peak_flops / p) for t, p in zip(times[name], times[f"peak_{dtype}"])]
        rates[name] = {"sequences_per_second": batch / common.median(times[name]),
                       "mfu_per_round": per_round, "mfu": common.median(per_round),
                       "peak_gflops_per_round": [peak_flops / p / 1e9 for p in times[f"peak_{dtype}"]],
                       "dtype": dtype}
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="minilm,base")
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed rounds per model measurement (median)")
    parser.add_argument("--matmul_size", type=int, default=2048)
    parser.add_argument("--skip_models", action="store_true", help="only the matmul peak (and --from_json)")
    parser.add_argument("--from_json", action="append", default=[],
                        help="a training_throughput / inference_throughput JSON: report the MFU of its variants")
    parser.add_argument("--output_json", default="benchmarks/results/mfu.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, common.REPO)

    info = common.machine_info()
    print(f"machine: {info.get('cpu_model')} x{info['cpu_count']}, load average {info['load_average_at_start']}",
          flush=True)
    peak = matmul_peak(args.matmul_size)
    payload = {"benchmark": "mfu", "command": " ".join(["python"] + sys.argv), "machine": info,
               "matmul_gflops": peak, "models": {}, "summary": []}
    lines = [f"SUMMARY matmul peak: float32 {peak['float32_peak']:.0f} GFLOP/s "
             f"(XLA {peak['float32_xla']:.0f}, graph/oneDNN {peak['float32_graph']:.0f}); bfloat16 "
             f"{peak['bfloat16_peak']:.0f} GFLOP/s (XLA {peak['bfloat16_xla']:.0f}, graph/oneDNN "
             f"{peak['bfloat16_graph']:.0f}); bf16/fp32 = {peak['bfloat16_peak'] / peak['float32_peak']:.2f}x"]

    def mfu_line(label, rate, flops_per_seq, dtype):
        achieved = rate * flops_per_seq / 1e9
        mfu = achieved / peak[f"{dtype}_peak"]
        payload["summary"].append({"what": label, "sequences_per_second": rate, "achieved_gflops": achieved,
                                   "peak_gflops": peak[f"{dtype}_peak"], "mfu": mfu})
        lines.append(f"SUMMARY MFU (other run) {label}: {rate:.2f} seq/s x {flops_per_seq / 1e9:.1f} GFLOP = "
                     f"{achieved:.0f} GFLOP/s / {dtype} peak {peak[f'{dtype}_peak']:.0f} = {mfu:.0%}")

    if not args.skip_models:
        for shape_key in args.shapes.split(","):
            shape = common.SHAPES[shape_key]
            print(f"\n== bert_tf {shape.name}, batch {BATCH[shape_key]}, seq {args.seq_len} ==", flush=True)
            rates = bert_tf_rates(shape_key, args.warmup, args.steps, args.matmul_size)
            payload["models"][shape_key] = rates
            for name in ("train_fp32", "train_bf16", "infer_fp32", "infer_bf16"):
                r = rates[name]
                flops = common.flops_per_sequence(shape, args.seq_len, 2, training=name.startswith("train"))
                achieved = r["sequences_per_second"] * flops / 1e9
                payload["summary"].append({"what": f"bert_tf {shape.name} b{rates['batch_size']} {name}",
                                           "sequences_per_second": r["sequences_per_second"],
                                           "achieved_gflops": achieved, "mfu": r["mfu"],
                                           "mfu_per_round": r["mfu_per_round"],
                                           "peak_gflops_per_round": r["peak_gflops_per_round"]})
                lines.append(f"SUMMARY MFU bert_tf {shape.name} b{rates['batch_size']} {name}: "
                             f"{r['sequences_per_second']:.2f} seq/s x {flops / 1e9:.1f} GFLOP = {achieved:.0f} "
                             f"GFLOP/s; median per-round MFU vs the {r['dtype']} matmul peak of the same round "
                             f"({common.median(r['peak_gflops_per_round']):.0f} GFLOP/s median) = {r['mfu']:.0%} "
                             f"[{min(r['mfu_per_round']):.0%}-{max(r['mfu_per_round']):.0%}]")

    if args.from_json:
        lines.append("(the MFU lines below divide rates measured in other runs by this run's peak: on a shared "
                     "machine the load differs between runs, so they are indicative only)")
    for path in args.from_json:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data["benchmark"] == "training_throughput":
            for shape_key, block in data["results"].items():
                shape = common.SHAPES[shape_key]
                flops = common.flops_per_sequence(shape, data["seq_len"], 2, training=True)
                for name, r in block["variants"].items():
                    mfu_line(f"{os.path.basename(path)} {shape.name} b{block['batch_size']} {name}",
                             r["sequences_per_second"], flops, "bfloat16" if "bf16" in name else "float32")
        elif data["benchmark"] == "inference_throughput":
            shape = common.Shape(**data["shape"])
            flops = common.flops_per_sequence(shape, data["seq_len"], 2)
            for label, block in data["results"].items():
                for name, r in block["variants"].items():
                    mfu_line(f"{os.path.basename(path)} {shape.name} b{block['batch_size']} {name}",
                             r["sequences_per_second"], flops, "bfloat16" if "bf16" in name else "float32")

    payload["load_average_at_end"] = list(os.getloadavg())
    print()
    for line in lines:
        print(line)
    print(f"load average at start {info['load_average_at_start']}, at end {payload['load_average_at_end']}")
    common.write_json(args.output_json, payload)
    print(f"wrote {args.output_json}")


if __name__ == "__main__":
    main()
