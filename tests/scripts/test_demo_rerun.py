"""Rerunning the demo with other flags never reports the old model as the new one (issue 13).

`bash run_demo.sh --learning_rate=3e-5` after a finished `bash run_demo.sh` printed "already trained", the old
model's accuracy, and wrote the new learning rate into eval_results.json beside the old metrics. Here
scripts/demo.py runs as a subprocess on a tiny stand-in for MiniLM (tests/testdata/parity/interop_tiny/hf) and
a 60-row Banking77 sample, stopping after fine-tuning (export and serving are tested elsewhere).
"""

import csv
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_BERT = os.path.join(REPO, "tests", "testdata", "parity", "interop_tiny", "hf")

WRAPPER = r"""
import sys
sys.path.insert(0, {scripts!r})
import bert_tf.pretrained
bert_tf.pretrained.minilm_l6_dir = lambda verify=True: {tiny!r}
from bert_tf.finetuning import classifier
classifier.BANKING77_TRAIN, classifier.BANKING77_TEST = {train!r}, {test!r}
import serving.export

def stop_after_finetuning(*args, **kwargs):
    print("EXPORT REACHED", flush=True)
    sys.exit(0)

serving.export.export_saved_model = stop_after_finetuning
import demo
from absl import app
sys.argv = ["demo.py"] + {args!r}
app.run(demo.main)
"""


def _sample(tmp_path):
    with open(os.path.join(REPO, "bert_tf", "resources", "banking77", "train.csv"), encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    labels = ("card_arrival", "top_up_failed", "exchange_rate")
    by_label = {label: [r for r in rows if r[1] == label] for label in labels}
    train = [r for label in labels for r in by_label[label][:20]]
    test = [r for label in labels for r in by_label[label][20:27]]
    paths = []
    for name, part in (("train.csv", train), ("test.csv", test)):
        with open(tmp_path / name, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([header] + part)
        paths.append(str(tmp_path / name))
    return paths


def _demo(tmp_path, *args):
    train, test = _sample(tmp_path)
    code = WRAPPER.format(scripts=os.path.join(REPO, "scripts"), tiny=TINY_BERT, train=train, test=test,
                          args=[f"--output_dir={tmp_path / 'demo'}", "--max_seq_length=16",
                                "--max_train_steps=3", "--train_batch_size=8", *args])
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                          cwd=REPO)


@pytest.mark.slow
def test_demo_rerun_with_other_flags_never_reports_the_old_model(tmp_path):
    first = _demo(tmp_path, "--learning_rate=1e-4")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    assert "test accuracy" in first.stdout and "EXPORT REACHED" in first.stdout
    results_path = tmp_path / "demo" / "finetune" / "eval_results.json"
    results = json.loads(results_path.read_text())
    assert results["learning_rate"] == 1e-4

    other = _demo(tmp_path, "--learning_rate=3e-5", "--num_train_epochs=1")
    assert other.returncode == 1, other.stdout[-3000:] + other.stderr[-5000:]
    assert "test accuracy" not in other.stdout and "EXPORT REACHED" not in other.stdout
    assert "holds a finished run made with other settings" in other.stderr
    assert "learning_rate 0.0001 then, 3e-05 now" in other.stderr, other.stderr[-3000:]
    assert "num_train_epochs 2.0 then, 1.0 now" in other.stderr, other.stderr[-3000:]
    assert "Traceback" not in other.stderr
    assert json.loads(results_path.read_text()) == results  # not rewritten with the new flags

    # The same flags again: the finished run is the right model (same settings, same data, same start).
    same = _demo(tmp_path, "--learning_rate=1e-4")
    assert same.returncode == 0, same.stdout[-3000:] + same.stderr[-5000:]
    line = [x for x in first.stdout.splitlines() if "test accuracy" in x][0]
    again = [x for x in same.stdout.splitlines() if "test accuracy" in x][0]
    assert line.split("(")[0] == again.split("(")[0]
