"""run_pretraining.py --do_eval (issue 13): with --do_train it needs --eval_input_file (it evaluated on the
training records, silently); --do_eval alone scores --input_file and says which file it scored."""

import json
import os
import subprocess
import sys

import pytest

import tiny_pretraining  # tests/tiny_pretraining.py

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO, "scripts", "run_pretraining.py")


def test_train_and_eval_without_held_out_records_is_refused(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n")
    proc = subprocess.run([sys.executable, SCRIPT, "--do_train", "--do_eval", f"--input_file={tmp_path}/x.tfrecord",
                           f"--vocab_file={tmp_path}/vocab.txt", "--preset=test", f"--output_dir={tmp_path}/out"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--do_train --do_eval needs --eval_input_file: held-out records" in proc.stderr
    assert "Traceback" not in proc.stderr and not os.path.exists(tmp_path / "out")


@pytest.mark.slow
def test_eval_only_scores_input_file_and_names_it(tmp_path):
    records = tiny_pretraining.write_records(tmp_path, "heldout.tfrecord")
    proc = subprocess.run([sys.executable, SCRIPT, "--do_eval", f"--input_file={records}",
                           f"--vocab_file={tmp_path}/vocab.txt", "--preset=test", f"--output_dir={tmp_path}/out",
                           "--max_seq_length=23", "--max_predictions_per_seq=5", "--max_eval_steps=2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"***** Eval results ({records}) *****" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["eval_input_file"] == records


def test_pretrain_library_entry_point_checks_its_options():
    """`bert_tf.pretraining.pretrain` (issue 15) is what the script calls: its checks raise `PretrainError` with
    the script's messages."""
    from bert_tf.pretraining import PretrainError, PretrainOptions, pretrain

    with pytest.raises(PretrainError, match="at least one of --do_train and --do_eval must be true"):
        pretrain(PretrainOptions())
    with pytest.raises(PretrainError, match="needs --eval_input_file: held-out records"):
        pretrain(PretrainOptions(do_train=True, do_eval=True))
    with pytest.raises(PretrainError, match="--train_batch_size 32 is not divisible by --grad_accum_steps 3"):
        pretrain(PretrainOptions(do_train=True, grad_accum_steps=3))
    with pytest.raises(PretrainError, match="--dtype must be one of float32, mixed_bfloat16, mixed_float16"):
        pretrain(PretrainOptions(do_train=True, dtype="float64"))
    with pytest.raises(PretrainError, match="--train_only_embeddings needs --init_checkpoint: the pre-trained body"):
        pretrain(PretrainOptions(do_train=True, train_only_embeddings=True))
    with pytest.raises(PretrainError, match="--train_only_embeddings is for --objective=mlm"):
        pretrain(PretrainOptions(do_train=True, train_only_embeddings=True, init_checkpoint="x", objective="electra",
                                 nsp=False))
    assert set(PretrainOptions.names()) >= {"input_file", "eval_every_steps", "dtype", "seed"}
    assert "dtype_policy" not in PretrainOptions.names()  # the deprecated alias is no flag of its own


def test_pretrain_options_dtype_policy_is_a_deprecated_alias():
    from bert_tf.pretraining import PretrainOptions

    with pytest.warns(DeprecationWarning, match="dtype_policy=...\\) is deprecated.*use dtype="):
        options = PretrainOptions(dtype_policy="mixed_bfloat16")
    assert options == PretrainOptions(dtype="mixed_bfloat16")
    with pytest.warns(DeprecationWarning, match="PretrainOptions.dtype_policy is deprecated"):
        assert options.dtype_policy == "mixed_bfloat16"


@pytest.mark.parametrize("flag, rc, message", [
    ("--dtype=mixed_bfloat16", 2, "needs --eval_input_file"),
    ("--dtype_policy=mixed_bfloat16", 2, "--dtype_policy is deprecated"),  # the old spelling, for one release
    ("--dtype=float64", 1, "float64"),
])
def test_dtype_flag_and_its_deprecated_spelling(tmp_path, flag, rc, message):
    proc = subprocess.run([sys.executable, SCRIPT, "--do_train", "--do_eval", f"--input_file={tmp_path}/x.tfrecord",
                           f"--vocab_file={tmp_path}/vocab.txt", "--preset=test", f"--output_dir={tmp_path}/out",
                           flag], capture_output=True, text=True, timeout=120)
    assert proc.returncode == rc, proc.stderr
    assert message in proc.stderr
