"""Shared helpers of the model benchmarks: shapes, inputs, FLOP counts, interleaved timing, reporting.

Used by `training_throughput.py`, `inference_throughput.py` and `mfu.py`; the Korean probes share `prepare` and
`train_encoder` (a data script, then one fine-tuning whose encoder is kept). Every benchmark measures bert_tf and its
peers in the same process run, on the same shapes and inputs, and reports ratios measured in that run: the two
CPU cores of the project's machines are often shared, so absolute numbers move with the load while ratios of
interleaved measurements move much less.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# PyTorch's CPU wheel runs its intra-op threads on OpenMP, whose workers spin-wait at every barrier by default.
# On a machine shared with other jobs (load average above the core count) a spinning worker burns the time slice
# its descheduled partner needs: a 2-thread PyTorch training step measured 10-30x slower than with 1 thread at
# load average 10. The passive policy makes waiting workers sleep (ONNX Runtime gets the same treatment:
# `session.intra_op.allow_spinning=0` in inference_throughput.py). Must be set before torch is imported; an
# explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Shape:
    """A BERT size to benchmark (Hugging Face / google-research/bert field names)."""

    name: str
    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    vocab_size: int = 30522
    max_position_embeddings: int = 512

    @property
    def bert_config_kwargs(self) -> dict:
        return dict(vocab_size=self.vocab_size, hidden_size=self.hidden_size, num_hidden_layers=self.num_layers,
                    num_attention_heads=self.num_heads, intermediate_size=self.intermediate_size,
                    max_position_embeddings=self.max_position_embeddings)


SHAPES = {
    "base": Shape("BERT-Base", 12, 768, 12, 3072),
    "minilm": Shape("MiniLM-L6-H384", 6, 384, 12, 1536),
    # For smoke runs of the scripts themselves.
    "tiny": Shape("tiny", 2, 128, 2, 512),
}


# === FLOPs ===

def flops_per_sequence(shape: Shape, seq_len: int, num_classes: int = 2, training: bool = False) -> float:
    """Matmul FLOPs (multiply + add = 2) of one sequence through the encoder, pooler and a classifier.

    Forward, per layer and token: Q, K, V and output projections 4·2·H², feed-forward 2·2·H·I; per layer and
    sequence, attention scores QKᵀ and probabilities·V 2·2·T²·H. Embedding lookups, LayerNorm, softmax, GELU
    and bias adds are left out (they are memory-bound and < 2% here), as in the usual "6 N" accounting.
    Pooler (2·H²) and classifier (2·H·C) run once per sequence. Training is 3× forward (backward computes
    gradients for both activations and weights: 2× forward), the convention of the MFU literature (PaLM,
    nanoGPT); the optimizer update is O(params) and left out.
    """
    h, i, t = shape.hidden_size, shape.intermediate_size, seq_len
    per_layer = t * (8 * h * h + 4 * h * i) + 4 * t * t * h
    forward = shape.num_layers * per_layer + 2 * h * h + 2 * h * num_classes
    return 3 * forward if training else forward


# === Inputs ===

def random_inputs(batch: int, seq_len: int, vocab_size: int, seed: int = 0) -> dict:
    """int32 encoder inputs with every position real (peers that cannot skip padding do the same work)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1000, vocab_size, size=(batch, seq_len)).astype("int32")
    token_ids[:, 0] = 101
    token_ids[:, -1] = 102
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
            "padding_mask": np.ones_like(token_ids)}


def random_labels(batch: int, num_classes: int = 2, seed: int = 0):
    import numpy as np
    return np.random.default_rng(seed + 1).integers(0, num_classes, size=(batch,)).astype("int32")


# === Timing ===

def interleaved_times(candidates: dict[str, Callable[[], object]], *, warmup: int, rounds: int,
                      steps_per_round: int = 1, log=print) -> dict[str, list[float]]:
    """Seconds per call of every candidate, measured in interleaved rounds.

    Each candidate is called `warmup` times first (tracing, XLA compilation and allocator warm-up are excluded),
    then every round times `steps_per_round` calls of each candidate in turn, so a change of machine load hits
    all candidates alike. A candidate must block until its result is computed (e.g. call `.numpy()`).

    Returns `{name: [seconds per call, one entry per round]}`.
    """
    for name, fn in candidates.items():
        start = time.perf_counter()
        for _ in range(warmup):
            fn()
        log(f"  warm-up {name}: {warmup} calls in {time.perf_counter() - start:.1f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for r in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(steps_per_round):
                fn()
            times[name].append((time.perf_counter() - start) / steps_per_round)
        log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{n} {t[-1] * 1000:.0f} ms" for n, t in times.items()),
            flush=True)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


# === Reporting ===

def machine_info() -> dict:
    """CPU model and flags that matter here, core count, load averages and library versions."""
    info = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name") and "cpu_model" not in info:
                info["cpu_model"] = line.split(":", 1)[1].strip()
            if line.startswith("flags") and "cpu_flags" not in info:
                flags = set(line.split(":", 1)[1].split())
                info["cpu_flags"] = sorted(f for f in flags if f.startswith(("avx512", "amx", "avx_vnni")))
    except OSError:
        pass
    info["load_average_at_start"] = list(os.getloadavg())
    versions = {}
    for module in ("tensorflow", "keras", "keras_hub", "torch", "transformers", "onnxruntime", "numpy"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # optional peers: not installed or broken
            versions[module] = None
    info["versions"] = versions
    return info


def ratio_line(what: str, numerator_name: str, numerator: float, denominator_name: str, denominator: float,
               unit: str, target: float | None = None, lower_is_better: bool = False,
               per_round: list[float] | None = None) -> tuple[str, dict]:
    """One summary line `what: A x / B y = ratio ... (target ...: met|MISSED)` and its JSON record.

    `numerator` and `denominator` are the candidates' medians over rounds. `per_round`: the same ratio within
    each interleaved round (see `per_round_ratios`). When given, the reported ratio (and the target verdict) is
    the median of the per-round ratios: the calls of one round saw nearly the same machine load, so a burst of
    load from other jobs that hit one candidate in one round cannot decide the comparison, as it can with a
    ratio of two medians taken from different rounds. Both are recorded, with the per-round range.
    """
    ratio_of_medians = numerator / denominator if denominator else float("nan")
    ratio = statistics.median(per_round) if per_round else ratio_of_medians
    record = {"what": what, "numerator": numerator_name, "numerator_value": numerator,
              "denominator": denominator_name, "denominator_value": denominator, "unit": unit, "ratio": ratio,
              "ratio_of_medians": ratio_of_medians}
    line = (f"SUMMARY {what}: {numerator_name} {numerator:.3g} {unit} / {denominator_name} {denominator:.3g} {unit}"
            f" = {ratio:.2f}x")
    if per_round:
        record["per_round_ratios"] = per_round
        line = (f"SUMMARY {what}: {numerator_name} {numerator:.3g} {unit} / {denominator_name} {denominator:.3g} "
                f"{unit} (medians, ratio {ratio_of_medians:.2f}x); median per-round ratio {ratio:.2f}x "
                f"[{min(per_round):.2f}-{max(per_round):.2f}]")
    if target is not None:
        met = ratio <= target if lower_is_better else ratio >= target
        record.update(target=target, target_met=met, lower_is_better=lower_is_better)
        line += f" (target {'<=' if lower_is_better else '>='} {target:g}x: {'met' if met else 'MISSED'})"
    return line, record


def per_round_ratios(numerator_seconds: list[float], denominator_seconds: list[float],
                     lower_is_better: bool = False) -> list[float]:
    """Round-by-round ratio of two candidates' rates (or latencies, `lower_is_better`) from their seconds per call.

    The calls of one round ran back to back, so each of these ratios saw nearly the same machine load.
    """
    if lower_is_better:
        return [n / d for n, d in zip(numerator_seconds, denominator_seconds)]
    return [d / n for n, d in zip(numerator_seconds, denominator_seconds)]


def mean_sd(values: list[float]) -> dict:
    """`{"n", "mean", "sd", "values"}` of per-seed results (sample sd; 0.0 for one value)."""
    return {"n": len(values), "mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "values": values}


def resumable_payload(path: str, script: str, argv) -> dict:
    """The results file of a resumable benchmark (its earlier `runs` kept, or a new one), stamped with this
    invocation's command and machine."""
    payload = {"runs": []}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            payload = json.load(f)
    payload["command"] = "python " + " ".join([os.path.relpath(script, REPO)] + (argv or sys.argv[1:]))
    payload["machine"] = machine_info()
    return payload


def write_json(path: str, payload: dict) -> None:
    """Writes `payload` as JSON atomically (`bert_tf.atomic_files.write_json_atomic`, sorted keys)."""
    from bert_tf.atomic_files import write_json_atomic
    write_json_atomic(path, payload, sort_keys=True, makedirs=True)


def write_runs(path: str, payload: dict, key: Callable[[dict], tuple], summarize: Callable[[dict], None],
               merged: tuple[str, ...] = ()) -> None:
    """Writes a resumable benchmark's `payload` to `path` without losing another invocation's runs: under an
    exclusive lock on `path + ".lock"`, the runs found in `path` now that `payload["runs"]` lacks (by `key`) are
    added to it (a second process writing the same file since this one read it), as are the entries of the
    dicts named in `merged` that it lacks; then `summarize(payload)` refreshes the summaries and the file is
    written atomically. Each invocation used to rewrite the whole file with what it had read at its start, so two
    running at once kept only the last one's runs."""
    import fcntl
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                on_disk = json.load(f)
            mine = {key(r) for r in payload["runs"]}
            payload["runs"].extend(r for r in on_disk.get("runs", []) if key(r) not in mine)
            for name in merged:
                payload[name] = {**on_disk.get(name, {}), **payload.get(name, {})}
        summarize(payload)
        write_json(path, payload)


def run_dev_only(cmd: list[str], output_dir: str, seed: int) -> tuple[dict, float]:
    """Runs one fine-tuning command that chooses on a dev set and must not score a test file (`cmd` writes to
    `output_dir`, in the repository): its `eval_results.json` and wall seconds. Fails if the run scored an eval
    file or trained with a seed other than `seed` (read back from the chosen run's `history.json`)."""
    import subprocess
    start = time.time()
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
    seconds = time.time() - start
    with open(os.path.join(output_dir, "eval_results.json"), encoding="utf-8") as f:
        results = json.load(f)
    with open(os.path.join(output_dir, f"lr_{results['learning_rate']}", "history.json"), encoding="utf-8") as f:
        used_seed = json.load(f)["config"]["seed"]
    assert results.get("scored_on") is None, "the test file must not be scored"
    assert used_seed == seed, f"the run used seed {used_seed}, not {seed}"
    return results, seconds


def prepare(script, flags):
    """Runs `scripts/<script>` with `flags` (its stderr shown) and returns the JSON summary it prints last."""
    import subprocess
    done = subprocess.run([sys.executable, os.path.join(REPO, "scripts", script), *flags], check=True,
                          stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def train_encoder(start, data, output_dir, columns, learning_rate, num_train_epochs, seed):
    """Fine-tunes `start` on the JSON lines `data` (`--label_column=label`, the given text columns; one run of
    `run_classifier.py`, 2% carved for dev) and writes its encoder to `output_dir`/model (float16, with what the
    start declares beside its weights). Returns (model directory, the run_classifier command, its dev results)."""
    import subprocess

    from bert_tf.checkpoints import load_encoder, save_hf
    classifier_dir = os.path.join(output_dir, "classifier")
    command = [sys.executable, os.path.join(REPO, "scripts", "run_classifier.py"), "--do_train",
               "--data_format=jsonl", f"--train_file={data}", *columns, "--label_column=label",
               f"--init_checkpoint={start}", "--max_seq_length=64", "--train_batch_size=32",
               f"--learning_rate={learning_rate}", f"--num_train_epochs={num_train_epochs}",
               "--dev_fraction=0.02", f"--seed={seed}", f"--output_dir={classifier_dir}"]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)
    model_dir = os.path.join(output_dir, "model")
    # Beside the weights, what the start declares: its generator, its pooling (1_Pooling: mean, which the head
    # trained; without it fine-tuning would fall back to BERT's untrained [CLS] pooler) and the sequence length
    # its positions were pre-trained to (pretraining.json).
    save_hf(load_encoder(classifier_dir), model_dir, vocab_file=os.path.join(start, "vocab.txt"), dtype="float16",
            companions_from=start)
    dev = {}
    results = os.path.join(classifier_dir, "eval_results.json")
    if os.path.exists(results):
        with open(results, encoding="utf-8") as f:
            dev = json.load(f)
    return model_dir, command, dev


def configure_torch_threads() -> None:
    """PyTorch uses as many intra-op threads as TensorFlow (one per core) so the comparison is like for like."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(os.cpu_count() or 1)
