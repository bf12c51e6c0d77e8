"""Inference throughput (batch 32) and batch-1 latency of bert_tf vs keras-hub, Hugging Face PyTorch, ONNX Runtime.

A 2-class sequence classifier on random weights at sequence length 128 (every position a real token), all
variants in one process on the same shapes; timing is interleaved (see `common.interleaved_times`), warm-up
calls excluded, medians reported.

    python benchmarks/inference_throughput.py                        # BERT-Base, all installed variants
    python benchmarks/inference_throughput.py --shape=minilm --rounds=3
    python benchmarks/inference_throughput.py --variants=savedmodel_bf16_text,onnxruntime_fp32,keras_hub_fp32

Variants (`--variants`, comma-separated; default: all whose libraries are installed):
    keras_fp32 / keras_fp32_xla     bert_tf `BertClassifier` called in a `tf.function` (without / with XLA)
    keras_bf16 / keras_bf16_xla     the same model with the `bfloat16` policy (weights cast once, not per call)
    savedmodel_{fp32,bf16}_ids      `serving.export` SavedModel, `serve_token_ids` signature (ids in)
    savedmodel_{fp32,bf16}_text     the same SavedModel, `serving_default` on raw text (tokenization included;
                                    texts are long enough to be truncated to 128 tokens)
    grpc_bf16_text                  the bf16 SavedModel behind the local server (`serving.server.ModelServer`,
                                    started in this process, loopback gRPC Predict on raw text)
    keras_hub_fp32 / keras_hub_fp32_xla   keras-hub `BertBackbone` + `Dense` on `pooled_output`
    hf_torch_fp32                   Hugging Face `BertForSequenceClassification`, PyTorch CPU, inference mode
    onnxruntime_fp32                that Hugging Face model exported with `torch.onnx.export`, ONNX Runtime CPU
                                    (graph optimizations ORT_ENABLE_ALL)
    onnxruntime_fp32_opt            the same after `onnxruntime.transformers.optimizer` (fused attention,
                                    LayerNorm and GELU): ONNX Runtime's recommended BERT path

Optional peers: `pip install torch==2.13.0 transformers onnx onnxruntime` (install torch first: the CPU wheel).
ONNX Runtime's workers wait without spinning unless `--ort_spinning` (spinning hurts on a shared, loaded
machine; see common.py). `--skip_throughput` runs only the batch-1 latency pass.
Prints one `SUMMARY` line per comparison (issue 6 targets: SavedModel batch-32 throughput >= 1.5x keras-hub
and >= 1.5x ONNX Runtime, batch-1 latency <= 0.8x ONNX Runtime's, gRPC-served >= 90% of in-process) and writes
`--output_json`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

ALL_VARIANTS = ("keras_fp32", "keras_fp32_xla", "keras_bf16", "keras_bf16_xla", "savedmodel_fp32_ids",
                "savedmodel_fp32_text", "savedmodel_bf16_ids", "savedmodel_bf16_text", "grpc_bf16_text",
                "keras_hub_fp32", "keras_hub_fp32_xla", "hf_torch_fp32", "onnxruntime_fp32", "onnxruntime_fp32_opt")
NUM_CLASSES = 2
VOCAB_FILE = os.path.join(common.REPO, "tests", "testdata", "vocab", "uncased_vocab.txt")


# === Inputs ===

def make_texts(batch: int, words: int = 160, seed: int = 0) -> list[str]:
    """Lines of random whole words from the vocabulary: each tokenizes to more than 128 tokens."""
    import numpy as np
    with open(VOCAB_FILE, encoding="utf-8") as f:
        vocab = [w.strip() for w in f]
    plain = [w for w in vocab if w.isalpha() and w.isascii() and len(w) > 2]
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(plain, size=words)) for _ in range(batch)]


# === bert_tf models ===

def bert_tf_classifier(shape, dtype, weights=None):
    import keras
    from bert_tf import BertConfig, BertEncoder
    from bert_tf.tasks import BertClassifier
    keras.utils.set_random_seed(0)
    encoder = BertEncoder.from_bert_config(BertConfig(**shape.bert_config_kwargs), dtype=dtype)
    model = BertClassifier(encoder, num_classes=NUM_CLASSES, pooling="cls", label_names=["neg", "pos"])
    if weights is not None:
        # bfloat16 variables take the float32 values rounded once here, instead of a cast on every call.
        model.set_weights(weights)
    return model


def keras_call(model, x, jit_compile):
    import tensorflow as tf
    fn = tf.function(lambda inputs: model(inputs, training=False), jit_compile=jit_compile)
    x = {k: tf.constant(v) for k, v in x.items()}
    return lambda: fn(x).numpy()


def keras_hub_classifier(shape):
    import keras
    import keras_hub
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=shape.vocab_size, num_layers=shape.num_layers, num_heads=shape.num_heads,
        hidden_dim=shape.hidden_size, intermediate_dim=shape.intermediate_size,
        max_sequence_length=shape.max_position_embeddings, num_segments=2, dtype="float32")
    logits = keras.layers.Dense(NUM_CLASSES)(backbone.output["pooled_output"])
    return keras.Model(backbone.input, logits)


class Peers:
    """Builds every variant once per process (models are shared by the batch-32 and batch-1 passes)."""

    def __init__(self, shape, workdir, ort_spinning=False):
        self.shape = shape
        self.workdir = workdir
        self.ort_spinning = ort_spinning
        self.notes = {}  # facts worth recording in the JSON (ONNX fusions, peer parity)
        self._cache = {}

    def _get(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def fp32_model(self):
        return self._get("fp32", lambda: bert_tf_classifier(self.shape, "float32"))

    def bf16_model(self):
        return self._get("bf16", lambda: bert_tf_classifier(self.shape, "bfloat16", self.fp32_model().get_weights()))

    def saved_model(self, precision):
        def build():
            import tensorflow as tf
            from serving.export import export_saved_model
            model = self.fp32_model() if precision == "fp32" else self.bf16_model()
            path = export_saved_model(model, task_type="classifier", vocab_file=VOCAB_FILE, do_lower_case=True,
                                      export_base=self.workdir, model_name=f"bench_{precision}",
                                      max_seq_length=128, label_names=["neg", "pos"])
            return path, tf.saved_model.load(path)
        return self._get(f"savedmodel_{precision}", build)

    def keras_hub(self):
        return self._get("keras_hub", lambda: keras_hub_classifier(self.shape))

    def hf_torch(self):
        def build():
            import torch
            import transformers
            common.configure_torch_threads()
            torch.manual_seed(0)
            config = transformers.BertConfig(
                vocab_size=self.shape.vocab_size, hidden_size=self.shape.hidden_size,
                num_hidden_layers=self.shape.num_layers, num_attention_heads=self.shape.num_heads,
                intermediate_size=self.shape.intermediate_size,
                max_position_embeddings=self.shape.max_position_embeddings, num_labels=NUM_CLASSES)
            return transformers.BertForSequenceClassification(config).eval()
        return self._get("hf_torch", build)

    def onnx_session(self, optimized):
        def build():
            import onnxruntime as ort
            path = self._get("onnx_path", self._export_onnx)
            if optimized:
                from onnxruntime.transformers import optimizer
                opt = optimizer.optimize_model(path, model_type="bert", num_heads=self.shape.num_heads,
                                               hidden_size=self.shape.hidden_size)
                fused = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
                self.notes["onnxruntime_fused_operators"] = fused
                print(f"  ONNX Runtime optimizer fused: {fused}", flush=True)
                path = path.replace(".onnx", "_opt.onnx")
                opt.save_model_to_file(path)
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = os.cpu_count() or 1
            if not self.ort_spinning:
                # Workers sleep instead of spin-waiting between ops: on a shared, loaded machine spinning
                # threads steal the time slices their partners need (see common.py on OMP_WAIT_POLICY).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        return self._get(f"onnx_{optimized}", build)

    def _export_onnx(self):
        import copy

        import torch
        # The exported graph takes the eager attention (explicit MatMul/Softmax) instead of PyTorch's fused SDPA
        # op: ONNX Runtime's BERT optimizer only fuses the former into its `Attention` kernel.
        model = copy.deepcopy(self.hf_torch())
        model.set_attn_implementation("eager")
        ids = torch.ones((2, 16), dtype=torch.long)
        path = os.path.join(self.workdir, "hf_bert.onnx")
        axes = {0: "batch", 1: "sequence"}
        torch.onnx.export(model, (ids, ids, torch.zeros_like(ids)), path,
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "logits": {0: "batch"}},
                          opset_version=17, dynamo=False)
        return path


def build_call(name, peers: Peers, x, texts):
    """A zero-argument function running one inference on `x` (ids) or `texts`, blocking on the result."""
    if name.startswith("keras_hub_"):
        return keras_call(peers.keras_hub(), x, jit_compile=name.endswith("_xla"))
    if name.startswith("keras_"):
        model = peers.bf16_model() if "_bf16" in name else peers.fp32_model()
        return keras_call(model, x, jit_compile=name.endswith("_xla"))
    if name.startswith("savedmodel_") or name.startswith("grpc_"):
        import tensorflow as tf
        precision = "bf16" if "_bf16" in name else "fp32"
        path, loaded = peers.saved_model(precision)
        if name.startswith("grpc_"):
            return grpc_call(peers, path, texts)
        if name.endswith("_text"):
            fn, inputs = loaded.signatures["serving_default"], {"text": tf.constant(texts)}
        else:
            fn, inputs = loaded.signatures["serve_token_ids"], {k: tf.constant(v) for k, v in x.items()}
        return lambda: fn(**inputs)["probabilities"].numpy()
    if name == "hf_torch_fp32":
        import torch
        model = peers.hf_torch()
        inputs = dict(input_ids=torch.from_numpy(x["token_ids"]).long(),
                      token_type_ids=torch.from_numpy(x["segment_ids"]).long(),
                      attention_mask=torch.from_numpy(x["padding_mask"]).long())

        def run():
            with torch.inference_mode():
                return model(**inputs).logits.numpy()
        return run
    if name.startswith("onnxruntime_"):
        import numpy as np
        session = peers.onnx_session(optimized=name.endswith("_opt"))
        feed = {"input_ids": x["token_ids"].astype("int64"), "attention_mask": x["padding_mask"].astype("int64"),
                "token_type_ids": x["segment_ids"].astype("int64")}
        # The ONNX graph must compute what the PyTorch model does, at this batch and length (not just at the
        # shapes it was traced with).
        reference = build_call("hf_torch_fp32", peers, x, texts)()
        difference = float(np.abs(session.run(None, feed)[0] - reference).max())
        peers.notes[f"{name}_vs_hf_torch_max_logit_difference_b{len(x['token_ids'])}"] = difference
        if difference > 1e-3:
            raise AssertionError(f"{name} logits differ from PyTorch's by {difference:.3g}")
        return lambda: session.run(None, feed)[0]
    raise ValueError(f"unknown variant {name!r}; choose from {ALL_VARIANTS}")


def grpc_call(peers: Peers, path, texts):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.server import ModelServer
    if "server" not in peers._cache:
        base = os.path.join(peers.workdir, "served")
        shutil.copytree(path, os.path.join(base, "1"))
        server = ModelServer(model_name="bench", model_base_path=base, port=0, rest_api_port=None,
                             file_system_poll_wait_seconds=3600)
        server.start()
        channel = grpc.insecure_channel(server.grpc_address)
        peers._cache["server"] = (server, channel)
    _, channel = peers._cache["server"]
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "bench"
    request.model_spec.signature_name = "serving_default"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto([t.encode("utf-8") for t in texts], tf.string))
    return lambda: stub.Predict(request, timeout=600)


def available(name) -> bool:
    needs = {"hf_torch": ("torch", "transformers"), "onnxruntime": ("torch", "transformers", "onnx", "onnxruntime"),
             "grpc": ("grpc", "tensorflow_serving")}
    for prefix, modules in needs.items():
        if name.startswith(prefix):
            for module in modules:
                try:
                    __import__(module)
                except ImportError as e:
                    print(f"skipping {name}: optional peer not installed ({e}); "
                          "pip install torch==2.13.0 transformers onnx onnxruntime", flush=True)
                    return False
    return True


# === Summary ===

SAVEDMODELS = ("savedmodel_bf16_text", "savedmodel_bf16_ids", "savedmodel_fp32_text", "savedmodel_fp32_ids")
# The issue 6 targets are judged on the bfloat16 SavedModel, both end to end on raw text (what a client sends;
# tokenization included, which the peers do not do) and on token ids (the same work as the peers).
TARGETED = ("savedmodel_bf16_text", "savedmodel_bf16_ids")


def _best(results, names, key, lower_is_better):
    present = [n for n in names if n in results]
    if not present:
        return None
    return (min if lower_is_better else max)(present, key=lambda n: results[n][key])


def summarize(results32, results1, batch_size=32):
    """(what, numerator, denominator, results, key, target, lower_is_better) comparisons of issue 6.

    Peers are taken at their best configuration of this run (keras-hub with or without XLA, ONNX Runtime with
    or without its transformer optimizer), separately for throughput and latency.
    """
    rows = []
    hub32 = _best(results32, ("keras_hub_fp32", "keras_hub_fp32_xla"), "sequences_per_second", False)
    hub1 = _best(results1, ("keras_hub_fp32", "keras_hub_fp32_xla"), "latency_ms", True)
    ort32 = _best(results32, ("onnxruntime_fp32", "onnxruntime_fp32_opt"), "sequences_per_second", False)
    ort1 = _best(results1, ("onnxruntime_fp32", "onnxruntime_fp32_opt"), "latency_ms", True)
    for sm in SAVEDMODELS:
        targeted = sm in TARGETED
        for peer, target in ((hub32, 1.5), (ort32, 1.5), ("hf_torch_fp32", None)):
            if sm in results32 and peer in results32:
                rows.append((f"inference b{batch_size} throughput {sm} vs {peer}", sm, peer, results32,
                             "sequences_per_second", target if targeted else None, False))
        for peer, target in ((ort1, 0.8), (hub1, None), ("hf_torch_fp32", None)):
            if sm in results1 and peer in results1:
                rows.append((f"inference b1 latency {sm} vs {peer}", sm, peer, results1, "latency_ms",
                             target if targeted else None, True))
    if "grpc_bf16_text" in results32 and "savedmodel_bf16_text" in results32:
        rows.append((f"gRPC-served vs in-process b{batch_size} throughput", "grpc_bf16_text", "savedmodel_bf16_text",
                     results32, "sequences_per_second", 0.9, False))
    if "grpc_bf16_text" in results1 and "savedmodel_bf16_text" in results1:
        rows.append(("gRPC-served vs in-process b1 latency", "grpc_bf16_text", "savedmodel_bf16_text",
                     results1, "latency_ms", None, True))
    for keras_variant in ("keras_bf16", "keras_fp32", "keras_fp32_xla", "keras_bf16_xla"):
        if keras_variant in results32 and hub32 in results32:
            rows.append((f"inference b{batch_size} throughput {keras_variant} vs {hub32}", keras_variant, hub32,
                         results32, "sequences_per_second", None, False))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="base", help="base, minilm or tiny")
    parser.add_argument("--variants", default=",".join(ALL_VARIANTS))
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds at --batch_size")
    parser.add_argument("--latency_rounds", type=int, default=5, help="timed rounds at batch 1")
    parser.add_argument("--latency_calls_per_round", type=int, default=5)
    parser.add_argument("--skip_latency", action="store_true")
    parser.add_argument("--skip_throughput", action="store_true", help="only the batch-1 latency pass")
    parser.add_argument("--ort_spinning", action="store_true",
                        help="let ONNX Runtime's intra-op workers spin-wait (its default; off here because the "
                             "benchmark machine is shared and spinning hurts under load)")
    parser.add_argument("--output_json", default="benchmarks/results/inference_throughput.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, common.REPO)

    shape = common.SHAPES[args.shape]
    variants = [v for v in args.variants.split(",") if v and available(v)]
    info = common.machine_info()
    print(f"machine: {info.get('cpu_model')} x{info['cpu_count']}, load average {info['load_average_at_start']}",
          flush=True)
    flops = common.flops_per_sequence(shape, args.seq_len, NUM_CLASSES)
    print(f"== {shape.name}: seq {args.seq_len}, {flops / 1e9:.1f} GFLOP/sequence (forward) ==", flush=True)
    payload = {"benchmark": "inference_throughput", "command": " ".join(["python"] + sys.argv), "machine": info,
               "shape": shape.__dict__, "seq_len": args.seq_len, "results": {}, "summary": []}
    workdir = tempfile.mkdtemp(prefix="bert_tf_inference_bench_")
    peers = Peers(shape, workdir, ort_spinning=args.ort_spinning)
    try:
        passes = [] if args.skip_throughput else [("throughput", args.batch_size, args.rounds, 1)]
        if not args.skip_latency:
            passes.append(("latency", 1, args.latency_rounds, args.latency_calls_per_round))
        all_results = {}
        for label, batch, rounds, per_round in passes:
            print(f"\n-- {label}: batch {batch} --", flush=True)
            x = common.random_inputs(batch, args.seq_len, shape.vocab_size)
            texts = make_texts(batch)
            calls = {}
            for name in variants:
                start = time.perf_counter()
                try:
                    calls[name] = build_call(name, peers, x, texts)
                except Exception as e:  # an optional peer that fails to build is reported, not fatal
                    print(f"  {name}: could not be built: {type(e).__name__}: {e}", flush=True)
                    payload.setdefault("failed", {})[name] = f"{type(e).__name__}: {e}"
                    continue
                print(f"  built {name} in {time.perf_counter() - start:.1f} s", flush=True)
            times = common.interleaved_times(calls, warmup=args.warmup, rounds=rounds, steps_per_round=per_round)
            results = {}
            for name, ts in times.items():
                seconds = common.median(ts)
                results[name] = {"seconds_per_call_median": seconds, "seconds_per_call": ts,
                                 "sequences_per_second": batch / seconds, "latency_ms": seconds * 1000,
                                 "achieved_gflops": flops * batch / seconds / 1e9}
                print(f"  {name:22s} {batch / seconds:8.2f} seq/s  {seconds * 1000:8.1f} ms/call  "
                      f"{results[name]['achieved_gflops']:5.0f} GFLOP/s", flush=True)
            all_results[label] = results
            payload["results"][label] = {"batch_size": batch, "variants": results}
        if "savedmodel_fp32" in peers._cache and "savedmodel_bf16" in peers._cache:
            payload["bf16_vs_fp32_max_probability_difference"] = bf16_difference(peers, make_texts(8))
            print(f"\nbf16 vs fp32 SavedModel: max |probability difference| on 8 texts = "
                  f"{payload['bf16_vs_fp32_max_probability_difference']:.2g}")
        summary_lines = []
        for what, num, den, results, key, target, lower in summarize(all_results.get("throughput", {}),
                                                                      all_results.get("latency", {}),
                                                                      args.batch_size):
            unit = "ms" if key == "latency_ms" else "seq/s"
            per_round = common.per_round_ratios(results[num]["seconds_per_call"], results[den]["seconds_per_call"],
                                                lower_is_better=lower)
            line, record = common.ratio_line(f"{what} ({shape.name}, s{args.seq_len})", num, results[num][key],
                                             den, results[den][key], unit, target=target, lower_is_better=lower,
                                             per_round=per_round)
            summary_lines.append(line)
            payload["summary"].append(record)
        payload["notes"] = peers.notes
        payload["load_average_at_end"] = list(os.getloadavg())
        print()
        for line in summary_lines:
            print(line)
        print(f"load average at start {info['load_average_at_start']}, at end {payload['load_average_at_end']}")
        common.write_json(args.output_json, payload)
        print(f"wrote {args.output_json}")
    finally:
        if "server" in peers._cache:
            server, channel = peers._cache["server"]
            channel.close()
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def bf16_difference(peers, texts):
    import numpy as np
    import tensorflow as tf
    outputs = [peers.saved_model(p)[1].signatures["serving_default"](text=tf.constant(texts))["probabilities"]
               for p in ("fp32", "bf16")]
    return float(np.abs(outputs[0].numpy() - outputs[1].numpy()).max())


def build_keras_predict(name, shape, x):
    """For ad-hoc A/B scripts: one bert_tf / keras-hub inference call on `x`."""
    return build_call(name, Peers(shape, tempfile.mkdtemp(prefix="bert_tf_bench_")), x, make_texts(len(x["token_ids"])))


if __name__ == "__main__":
    main()
