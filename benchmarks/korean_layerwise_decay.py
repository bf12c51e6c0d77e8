"""Dev-only experiment: ELECTRA's layer-wise learning-rate decay when fine-tuning the built-in Korean model on NSMC.

The built-in Korean model is an ELECTRA discriminator, and ELECTRA's own fine-tuning recipe (Clark et al. 2020,
appendix: layer-wise decay 0.8 for Small and Base) scales layer l's learning rate by decay^(L - l), the embeddings'
by decay^(L + 1), the pooler and head keep the full rate. bert_tf has no such option; this script patches it into
one `scripts/run_classifier.py` process per seed (an AdamW whose `update_step` and decoupled weight decay use the
scaled rate) and runs issue 12's acceptance flags with `--dev_fraction=0.1` and no `--do_eval`: the test file is
never read. Writes `benchmarks/results/korean_layerwise_decay.json`.

    python benchmarks/korean_layerwise_decay.py --decay=0.8 --seeds=0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import REPO, machine_info, mean_sd, run_dev_only, write_json  # noqa: E402
from benchmarks.korean_finetune import COMMON, RESOURCES, TASKS  # noqa: E402

# korean_finetune.py's acceptance flags for NSMC, without --do_eval (no test file) and with the dev carve explicit.
FLAGS = ["--data_format=nsmc", f"--train_file={os.path.relpath(TASKS['nsmc']['train'], REPO)}",
         f"--max_seq_length={TASKS['nsmc']['seq']}", "--dev_fraction=0.1"] + [
    f for f in COMMON if f != "--do_eval"] + [
    f"--init_checkpoint={os.path.relpath(os.path.join(RESOURCES, 'korean_bert'), REPO)}"]


def _child(decay: float, num_layers: int, argv: list[str]) -> None:
    """Runs scripts/run_classifier.py in this process with the optimizer replaced by a layer-wise decayed AdamW."""
    import keras

    from bert_tf.training import optimization

    def factor(variable) -> float:
        path = getattr(variable, "path", None) or variable.name  # the TF backend passes tf.Variables
        layer = re.search(r"transformer_layer_(\d+)/", path)
        if layer:
            return decay ** (num_layers - int(layer.group(1)))
        if re.search(r"(token|position|segment)_embedding|embeddings_layer_norm", path):
            return decay ** (num_layers + 1)
        return 1.0  # pooler, head

    class LayerwiseAdamW(keras.optimizers.AdamW):
        def update_step(self, gradient, variable, learning_rate):
            return super().update_step(gradient, variable, learning_rate * factor(variable))

        def _apply_weight_decay(self, variables):
            for v in variables:
                if self._use_weight_decay(v):
                    rate = keras.ops.cast(self.learning_rate * factor(v), v.dtype)
                    v.assign(v - v * keras.ops.cast(self.weight_decay, v.dtype) * rate)

    original = optimization.create_optimizer

    def create_optimizer(*args, **kwargs):
        base = original(*args, **kwargs)
        opt = LayerwiseAdamW(learning_rate=base._learning_rate, weight_decay=base.weight_decay, beta_1=base.beta_1,
                             beta_2=base.beta_2, epsilon=base.epsilon, global_clipnorm=base.global_clipnorm)
        opt.exclude_from_weight_decay(var_names=list(optimization.DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY))
        return opt

    optimization.create_optimizer = create_optimizer
    sys.argv = ["run_classifier.py"] + argv
    runpy.run_path(os.path.join(REPO, "scripts", "run_classifier.py"), run_name="__main__")


def main() -> None:
    # allow_abbrev=False: the child's --seed must reach run_classifier.py, not be read as an abbreviated --seeds
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--decay", type=float, default=0.8)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--output", default=os.path.join(REPO, "benchmarks", "results", "korean_layerwise_decay.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        with open(os.path.join(REPO, "bert_tf", "resources", "korean_bert", "bert_config.json")) as f:
            num_layers = json.load(f)["num_hidden_layers"]
        return _child(args.decay, num_layers, rest)
    from bert_tf.pretrained import KOREAN_BERT_SHA256, korean_bert_dir
    korean_bert_dir()  # verifies the weights every run starts from against KOREAN_BERT_SHA256
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory(prefix="ko_llrd_") as out:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", f"--decay={args.decay}"] + FLAGS + [
                f"--seed={seed}", f"--output_dir={out}"]
            results, seconds = run_dev_only(cmd, out, seed)
        runs.append({"seed": seed, "seconds": round(seconds, 1),
                     "dev_accuracy": results["dev"]["accuracy"], "learning_rate": results["learning_rate"],
                     "best_step": results["best_step"], "settings_seed": seed,
                     "sweep": [{k: s[k] for k in ("learning_rate", "best_step", "accuracy")}
                               for s in results["sweep"]]})
        print(runs[-1], flush=True)
    write_json(args.output, {
        "what": "NSMC dev accuracy (500 rows carved from the 5,000 training rows, split seed 0) of the built-in Korean "
                "model fine-tuned with issue 12's acceptance flags plus ELECTRA's layer-wise learning-rate decay; "
                "the test file is not read",
        "command": f"python benchmarks/korean_layerwise_decay.py --decay={args.decay} --seeds={args.seeds}",
        "flags": FLAGS, "decay": args.decay, "korean_bert_sha256": KOREAN_BERT_SHA256,
        "machine": machine_info(), "runs": runs,
        "dev_accuracy": mean_sd([r["dev_accuracy"] for r in runs])})


if __name__ == "__main__":
    main()
