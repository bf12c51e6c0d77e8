"""What running the feed-forward network on [B*T, H] buys: bert_tf's TransformerBlock vs its earlier rank-3 form.

`TransformerBlock` applies its two feed-forward Dense layers to the hidden states reshaped to rank 2
([B*T, H]). A rank-2 Keras Dense is MatMul + BiasAdd, which TensorFlow's graph optimizer fuses with the exact
GELU into one oneDNN kernel on CPU; on the rank-3 tensor the same Dense is a BatchMatMul that is not fused, and
the separate GELU over [B, T, 4H] then costs about as much as the matmul itself (bfloat16). This script times
both layouts of the *same* model (same weights; the rank-3 one is the previous
`TransformerBlock._feed_forward`, patched in for the comparison) in one process, interleaved round by round, for inference (batch 32 and
batch 1, `tf.function`, `training=False`) and for a training step (forward + backward + AdamW, batch 32), and
checks that the two give the same logits.

    python benchmarks/ffn_layout.py                                   # MiniLM shape, bfloat16 and float32
    python benchmarks/ffn_layout.py --shape=base --dtypes=bfloat16 --skip_training

Prints one `SUMMARY` line per comparison and writes `--output_json`.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def rank3_feed_forward(self, x):
    """`TransformerBlock._feed_forward` as it was before commit 83340ed: the Dense layers on the rank-3 tensor."""
    return self.output_dense(self._activation(self.intermediate_dense(x)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="minilm", help="base, minilm or tiny")
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls_per_round", type=int, default=3)
    parser.add_argument("--skip_training", action="store_true")
    parser.add_argument("--output_json", default="benchmarks/results/ffn_layout.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, common.REPO)

    import keras
    import numpy as np
    import tensorflow as tf

    from bert_tf.layers.transformer_block import TransformerBlock
    from inference_throughput import bert_tf_classifier

    rank2_feed_forward = TransformerBlock._feed_forward
    shape = common.SHAPES[args.shape]
    info = common.machine_info()
    print(f"machine: {info.get('cpu_model')} x{info['cpu_count']}, load average {info['load_average_at_start']}",
          flush=True)
    payload = {"benchmark": "ffn_layout", "command": " ".join(["python"] + sys.argv), "machine": info,
               "shape": shape.__dict__, "results": {}, "summary": []}

    def traced(feed_forward, fn, example):
        """`fn` traced on `example` with `feed_forward` as the blocks' layout (fixed at tracing time)."""
        TransformerBlock._feed_forward = feed_forward
        try:
            fn.get_concrete_function(*example)
        finally:
            TransformerBlock._feed_forward = rank2_feed_forward
        return fn

    weights = bert_tf_classifier(shape, "float32").get_weights()
    layouts = (("rank2", rank2_feed_forward), ("rank3", rank3_feed_forward))

    for dtype in args.dtypes.split(","):
        model = bert_tf_classifier(shape, dtype, weights)
        blocks = {}
        for batch in ([args.batch_size, 1]):
            x = {k: tf.constant(v) for k, v in common.random_inputs(batch, args.seq_len, shape.vocab_size).items()}
            fns = {layout: traced(ff, tf.function(lambda inputs: model(inputs, training=False)), (x,))
                   for layout, ff in layouts}
            logits = {layout: fn(x).numpy().astype("float32") for layout, fn in fns.items()}
            diff = float(np.max(np.abs(logits["rank2"] - logits["rank3"])))
            print(f"{shape.name} {dtype} b{batch}: max |logit difference| rank-2 vs rank-3 = {diff:.2g}", flush=True)
            times = common.interleaved_times({k: (lambda f=f: f(x).numpy()) for k, f in fns.items()},
                                             warmup=args.warmup, rounds=args.rounds,
                                             steps_per_round=args.calls_per_round)
            blocks[f"inference_b{batch}"] = (times, diff)
        if not args.skip_training:
            x = {k: tf.constant(v) for k, v in common.random_inputs(args.batch_size, args.seq_len,
                                                                     shape.vocab_size).items()}
            y = tf.constant(common.random_labels(args.batch_size))
            steps = {}
            for layout, ff in layouts:
                m = bert_tf_classifier(shape, dtype, weights)
                opt = keras.optimizers.AdamW(1e-5)
                opt.build(m.trainable_variables)

                def step(inputs, labels, m=m, opt=opt):
                    with tf.GradientTape() as tape:
                        out = tf.cast(m(inputs, training=True), tf.float32)
                        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, out,
                                                                                           from_logits=True))
                    grads = tape.gradient(loss, m.trainable_variables)
                    opt.apply_gradients(zip(grads, m.trainable_variables))
                    return loss
                steps[layout] = traced(ff, tf.function(step), (x, y))
            times = common.interleaved_times({k: (lambda f=f: f(x, y).numpy()) for k, f in steps.items()},
                                             warmup=args.warmup, rounds=args.rounds, steps_per_round=1)
            blocks[f"training_b{args.batch_size}"] = (times, None)
        for label, (times, diff) in blocks.items():
            batch = int(label.rsplit("b", 1)[1])
            rates = {k: batch / common.median(v) for k, v in times.items()}
            line, record = common.ratio_line(
                f"{label.replace('_', ' ')} rank-2 vs rank-3 feed-forward ({shape.name}, {dtype}, s{args.seq_len})",
                "rank2", rates["rank2"], "rank3", rates["rank3"], "seq/s",
                per_round=common.per_round_ratios(times["rank2"], times["rank3"]))
            print(line, flush=True)
            record["max_abs_logit_difference"] = diff
            payload["summary"].append(record)
            payload["results"][f"{dtype}_{label}"] = {"seconds_per_call": times, "max_abs_logit_difference": diff}
    payload["machine"]["load_average_at_end"] = list(os.getloadavg())
    common.write_json(args.output_json, payload)
    print(f"wrote {args.output_json}")


if __name__ == "__main__":
    main()
