"""scripts/cli.py (issue 13): every script's `--help` lists its main flags, exits 0, imports no TensorFlow and
prints no TensorFlow log line; scripts are quiet by default (TensorFlow's start-up noise is dropped from stderr,
every other line passes, also when the process crashes) and `--verbose_logs` shows everything."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(REPO, "scripts")
# TensorFlow's C++ lines (absl's pre-InitializeLog stamp "0000 00:00:<epoch>"); bert_tf's own Python absl lines
# ("W1202 18:24:06.53 ... common.py:170] ...") carry real dates and are messages, not noise.
TF_LOG_LINE = re.compile(r"^(?:[IWEF]0000 00:00:\d+\.\d+ +\d+ \S+:\d+\]|WARNING: All log messages before absl)",
                         re.MULTILINE)

MAIN_FLAGS = {
    "audit_saved_model.py": ["saved_model_dir", "allow_tf_text_ops"],
    "build_vocab.py": ["input_file", "output_file", "vocab_size", "do_lower_case"],
    "convert_checkpoint.py": ["init_checkpoint", "output_dir", "dtype", "companions_from"],
    "create_pretraining_data.py": ["input_file", "output_file", "vocab_file", "max_seq_length", "dupe_factor"],
    "demo.py": ["lang", "output_dir", "num_train_epochs", "learning_rate"],
    "export_model.py": ["model", "export_base", "model_name", "max_seq_length"],
    "extract_features.py": ["input_file", "output_file", "init_checkpoint", "layers"],
    "predict_client.py": ["server", "rest_url", "model_name", "text"],
    "prepare_korean_corpus.py": ["input_file", "train_output", "heldout_output"],
    "prepare_emoticon_data.py": ["input_file", "output_file", "per_class", "seed"],
    "prepare_pair_data.py": ["input_file", "output_file", "num_pairs", "seed"],
    "run_classifier.py": ["train_file", "eval_file", "init_checkpoint", "output_dir", "learning_rate",
                          "data_format", "do_train"],
    "run_multiple_choice.py": ["train_file", "init_checkpoint", "output_dir", "learning_rate"],
    "run_ner.py": ["train_file", "init_checkpoint", "output_dir", "data_format"],
    "run_piece_match.py": ["input_file", "init_checkpoint", "output_dir", "num_pairs", "learning_rate"],
    "run_pretraining.py": ["input_file", "eval_input_file", "vocab_file", "output_dir", "learning_rate"],
    "run_squad.py": ["train_file", "predict_file", "init_checkpoint", "output_dir", "doc_stride"],
    "serve.py": ["port", "rest_api_port", "model_name", "model_base_path"],
}

HELP_PROBE = """
import runpy, sys
sys.argv = [{script!r}, {flag!r}]
sys.path.insert(0, {scripts!r})
code = 0
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit as e:
    code = e.code
sys.stderr.write("tensorflow imported: %s\\n" % ("tensorflow" in sys.modules))
sys.exit(code)
"""


def test_every_script_is_covered():
    scripts = {name for name in os.listdir(SCRIPTS) if name.endswith(".py")} - {"cli.py", "finetune_flags.py"}
    assert scripts == set(MAIN_FLAGS)


@pytest.mark.parametrize("script", sorted(MAIN_FLAGS))
def test_help_lists_main_flags_exits_0_without_tensorflow(script):
    path = os.path.join(SCRIPTS, script)
    start = time.time()
    proc = subprocess.run([sys.executable, path, "--help"], capture_output=True, text=True, timeout=120, cwd=REPO)
    seconds = time.time() - start
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert not TF_LOG_LINE.search(proc.stdout)
    for flag in MAIN_FLAGS[script] + ["verbose_logs"]:
        assert re.search(rf"^  --(\[no\])?{flag}:", proc.stdout, re.MULTILINE), f"--{flag} not in {script} --help"
    assert "\\" not in proc.stdout.split("flags:")[0] or "\\\n" in proc.stdout  # examples keep their line breaks
    assert seconds < 30  # ~0.2 s on an idle machine (was ~12 s: TensorFlow was imported to define the flags)
    probe = subprocess.run([sys.executable, "-c", HELP_PROBE.format(script=path, flag="-h", scripts=SCRIPTS)],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
    assert probe.returncode == 0 and "tensorflow imported: False" in probe.stderr, probe.stderr


@pytest.mark.parametrize("script", ["run_classifier.py", "run_ner.py", "run_squad.py", "run_multiple_choice.py",
                                    "run_pretraining.py"])
def test_every_training_script_defaults_to_one_device(script):
    """The README says one_device is the default; fine-tuning said off (the same strategy under another name)."""
    out = subprocess.run([sys.executable, os.path.join(SCRIPTS, script), "--help"], capture_output=True, text=True,
                         timeout=120, cwd=REPO).stdout
    flag = out[out.index("  --distribution_strategy:"):]
    assert "(default: 'one_device')" in flag[:flag.index("\n  --", 5)]


def test_next_step_commands_use_this_interpreter(tmp_path):
    """export_model.py and demo.py print how to serve: with the interpreter that ran them (a bare `python`
    fails outside the venv), the path relative to the current directory when it is inside it."""
    code = f"import sys; sys.path.insert(0, {SCRIPTS!r}); import cli; print(cli.script_command('serve.py'))"
    inside = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    expected = os.path.relpath(sys.executable, REPO) if sys.executable.startswith(REPO) else sys.executable
    assert inside.stdout.strip() == f"{expected} scripts/serve.py"
    outside = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert outside.stdout.strip() == f"{sys.executable} {os.path.join(SCRIPTS, 'serve.py')}"


def test_help_keeps_the_examples_line_breaks():
    out = subprocess.run([sys.executable, os.path.join(SCRIPTS, "run_classifier.py"), "--help"],
                         capture_output=True, text=True, timeout=120, cwd=REPO).stdout
    assert "--data_format=banking77 \\\n      --train_file=" in out


PROBE = """
import os, sys, time
sys.path.insert(0, {scripts!r})
import cli
from absl import flags
flags.DEFINE_string("mode", "lines", "")
FLAGS = flags.FLAGS

def main(argv):
    write = lambda text: os.write(2, text.encode())
    if FLAGS.mode == "lines":
        write({lines!r})
        write("progress 50%\\r")  # a partial line: passed on without waiting for a newline
        time.sleep(0.5)
        write("progress 100%\\n")
        print("stdout line", flush=True)
        sys.stderr.write("python stderr line\\n")
    elif FLAGS.mode == "abort":
        write("E0000 00:00:1796232860.445602   23731 some_kernel.cc:12] a real error before the crash\\n")
        os.abort()
    elif FLAGS.mode == "sigint":
        write("waiting\\n")
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            write("interrupted: checkpoint saved\\n")
            return 130
    elif FLAGS.mode == "tensorflow":
        import tensorflow as tf
        print(int(tf.reduce_sum(tf.constant([1, 2], tf.int64) * 2)))
    return 0

cli.run(main)
"""

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796232852.217003   23731 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "I0000 00:00:1796232852.325753   23731 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
    "E0000 00:00:1796232861.101101   23731 mkl_util.h:123] oneDNN supports DT_INT64 only on platforms with AVX-512. "
    "Falling back to the default Eigen-based implementation if present.",
    "W0000 00:00:1796236273.502381   15618 dataset.cc:997] Input of GeneratorDatasetOp::Dataset will not be "
    "optimized because the dataset does not implement the AsGraphDefInternal() method needed to apply "
    "optimizations.",
]
CUINIT = ("E0000 00:00:1796232860.445602   23731 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
          "Failed call to cuInit: UNKNOWN ERROR (303)")
REAL = [
    "W0000 00:00:1796232860.445602   23731 some_op.cc:7] a real warning",
    "E0000 00:00:1796232860.445602   23731 cuda_platform.cc:52] another CUDA failure",
    "I1202 17:54:10.488543 139727691008896 classifier.py:182] pooling: cls",
    "Traceback (most recent call last):",
]
NO_DRIVER = not (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl"))


def _probe(tmp_path, *args, env=None, **kwargs):
    path = tmp_path / "probe.py"
    lines = [NOISE[0], REAL[0], NOISE[1], CUINIT, REAL[1], NOISE[2], NOISE[3], REAL[2], NOISE[4], NOISE[5], REAL[3]]
    path.write_text(PROBE.format(scripts=SCRIPTS, lines="".join(line + "\n" for line in lines)))
    return [sys.executable, str(path), *args], dict(os.environ, **(env or {}))


def test_noise_is_dropped_and_everything_else_passes_in_order(tmp_path):
    command, env = _probe(tmp_path)
    env.pop("BERT_TF_VERBOSE_LOGS", None)
    proc = subprocess.run(command, capture_output=True, timeout=120, env=env)  # bytes: "\r" stays "\r"
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    expected = REAL + ["progress 50%\rprogress 100%", "python stderr line", ""]
    if not NO_DRIVER:  # with an NVIDIA driver, a failed cuInit is a real problem
        expected.insert(1, CUINIT)
    assert stderr.split("\n") == expected
    assert proc.stdout == b"stdout line\n"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_verbose_logs_shows_everything(tmp_path, how):
    command, env = _probe(tmp_path, *(["--verbose_logs"] if how == "flag" else []),
                          env={"BERT_TF_VERBOSE_LOGS": "1"} if how == "env" else None)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    for line in NOISE + [CUINIT] + REAL:
        assert line in proc.stderr.splitlines()


def test_output_before_a_crash_is_not_lost(tmp_path):
    command, env = _probe(tmp_path, "--mode=abort")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == -signal.SIGABRT
    assert "a real error before the crash" in proc.stderr


def test_ctrl_c_reaches_the_script_and_its_last_words_are_shown(tmp_path):
    command, env = _probe(tmp_path, "--mode=sigint")
    # A terminal's Ctrl-C: SIGINT at its default disposition. (A shell's background job, e.g. `.ci/run &`,
    # starts with SIGINT ignored, which Python and every child then inherit: Ctrl-C could never reach them.)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 60
        line = proc.stderr.readline()
        while "waiting" not in line and time.time() < deadline:
            line = proc.stderr.readline()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground process group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted: checkpoint saved" in err


@pytest.mark.slow
def test_tensorflow_start_up_prints_no_log_line(tmp_path):
    command, env = _probe(tmp_path, "--mode=tensorflow")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env.pop("BERT_TF_VERBOSE_LOGS", None)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "6"
    assert not TF_LOG_LINE.search(proc.stderr), proc.stderr
    verbose = subprocess.run(command + ["--verbose_logs"], capture_output=True, text=True, timeout=300, env=env)
    assert TF_LOG_LINE.search(verbose.stderr)  # TensorFlow does log on start-up here: the filter removed it


RENAMED_FLAG_PROBE = """
import sys
sys.path.insert(0, {scripts!r})
from absl import flags
import cli
flags.DEFINE_enum("dtype", "float32", ["float32", "mixed_bfloat16"], "precision")
cli.define_renamed_flag("dtype_policy", "dtype")
flags.DEFINE_enum("pooling", "mean", ["mean", "cls_token", "cls"], "pooling")
cli.define_renamed_values("pooling", {{"cls": "cls_token"}})
cli.run(lambda argv: print("dtype =", flags.FLAGS.dtype, "pooling =", flags.FLAGS.pooling))
"""


@pytest.mark.parametrize("args, rc, out, err", [
    (["--dtype_policy=mixed_bfloat16"], 0, "dtype = mixed_bfloat16 pooling = mean", "--dtype_policy is deprecated"),
    (["--dtype=mixed_bfloat16"], 0, "dtype = mixed_bfloat16 pooling = mean", None),
    ([], 0, "dtype = float32 pooling = mean", None),
    (["--pooling=cls"], 0, "dtype = float32 pooling = cls_token", "--pooling=cls is deprecated"),
    (["--pooling=cls_token"], 0, "dtype = float32 pooling = cls_token", None),
    (["--dtype=float32", "--dtype_policy=mixed_bfloat16"], 1, None, "give only --dtype"),
    (["--dtype_policy=float64"], 1, None, "float64"),  # the old spelling validates like the new one
])
def test_renamed_flag_or_value_is_a_deprecated_alias(tmp_path, args, rc, out, err):
    probe = tmp_path / "probe.py"
    probe.write_text(RENAMED_FLAG_PROBE.format(scripts=SCRIPTS))
    proc = subprocess.run([sys.executable, str(probe)] + args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == rc, proc.stderr
    if out:
        assert proc.stdout.strip() == out
    if err:
        assert err in proc.stderr
    else:
        assert "deprecated" not in proc.stderr
