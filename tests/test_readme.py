"""The README's commands work as written (issue 13): every fenced shell command of its Install, Fine-tuning,
Pre-training and Export and serving sections runs, in order, in a copy of the project with a fresh `.venv`.

What the test changes, and only that:
- the fresh `.venv` finds the dependencies (TensorFlow, ...) through a path file pointing at the project's own
  venv, so `pip install -e .` installs bert_tf itself without downloading 1 GB of wheels;
- sizes: flags appended to each script's command (absl keeps the last value) make the runs tiny (2 training
  steps, 2 learning rates of the sweep, a 6-intent slice of Banking77, the first lines of the Korean corpus);
- paths and ports: `/tmp/` becomes the test's directory, 8500/8501 free ports; the server (which the README
  starts in a second terminal) runs in the background.
Every command must exit 0 and print no TensorFlow log line (`E0000`/`W0000`/`I0000`) and no setuptools warning.
"""

import ast
import csv
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("Install", "Fine-tuning", "Pre-training", "Export and serving")
# TensorFlow's C++ lines (absl's pre-InitializeLog stamp "0000 00:00:<epoch>"); bert_tf's own Python absl lines
# ("W1202 18:24:06.53 ... common.py:170] ...") carry real dates and are messages, not noise.
TF_LOG_LINE = re.compile(r"^(?:[IWEF]0000 00:00:\d+\.\d+ +\d+ \S+:\d+\]|WARNING: All log messages before absl)",
                         re.MULTILINE)
SETUPTOOLS_WARNING = re.compile(r"Warning|setuptools.*deprecat|Package would be ignored", re.IGNORECASE)


def _plain_fenced_blocks(text: str) -> list[str]:
    """The contents of the fenced blocks without a language tag (shell commands; ```python and ```text are not)."""
    blocks, current, info = [], None, None
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, info = [], line[3:].strip()
            else:
                if not info:
                    blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def readme_commands(readme: str) -> list[tuple[str, str]]:
    """(section, command) for every line of the plain fenced blocks (no language tag) of SECTIONS (up to their
    first subsection), with backslash continuations joined, in README order."""
    commands = []
    for section in SECTIONS:
        # Up to the next heading: "### The same export on real TensorFlow Serving" (docker) is not run here.
        match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^##|\Z)", readme, re.MULTILINE | re.DOTALL)
        assert match, f"README has no '## {section}' section"
        for block in _plain_fenced_blocks(match.group(1)):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s+#[^'\"]*$", "", line).strip()  # a trailing comment ("# gRPC 8500, REST 8501")
                if line and not line.startswith("#"):
                    commands.append((section, re.sub(r" {2,}", " ", line)))
    return commands


def test_readme_commands_are_found():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        commands = readme_commands(f.read())
    scripts = [re.search(r"scripts/(\w+\.py)", c).group(1) for _, c in commands if "scripts/" in c]
    assert scripts == ["run_classifier.py", "prepare_korean_corpus.py", "build_vocab.py",
                       "create_pretraining_data.py", "create_pretraining_data.py", "run_pretraining.py",
                       "export_model.py", "serve.py", "predict_client.py", "export_model.py", "export_model.py"]
    assert [c.split()[0] for s, c in commands if s == "Install"] == ["python3", ".venv/bin/pip"]
    assert any(c.startswith("curl ") for _, c in commands)
    assert not [c for _, c in commands if re.match(r"python ", c)]  # bare python fails outside the venv
    assert not [c for _, c in commands if "#" in c]


def test_finding_minilm_imports_no_tensorflow():
    """The README's `--init_checkpoint="$(.venv/bin/python -c 'from bert_tf.pretrained import minilm_l6_dir; ...')"`
    printed TensorFlow's start-up lines (importing bert_tf imported TensorFlow) and took seconds."""
    code = ("import sys; from bert_tf.pretrained import minilm_l6_dir; import bert_tf; "
            "print('tensorflow' in sys.modules, bert_tf.BertConfig.__name__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.split() == ["False", "BertConfig"], proc.stderr
    assert proc.stderr == ""
    from bert_tf import BertEncoder  # still there, imported on first use
    assert BertEncoder.__name__ == "BertEncoder"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _banking77_slice(directory):
    with open(os.path.join(REPO, "bert_tf", "resources", "banking77", "train.csv"), encoding="utf-8",
              newline="") as f:
        header, *rows = list(csv.reader(f))
    labels = sorted({r[1] for r in rows})[:6]
    paths = {}
    for name, part in (("train", slice(0, 20)), ("test", slice(20, 25))):
        paths[name] = os.path.join(directory, f"banking77_{name}.csv")
        with open(paths[name], "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([header] + [r for label in labels for r in [x for x in rows if x[1] == label][part]])
    return paths


def _copy_project(target):
    for name in ("README.md", "setup.cfg", "pyproject.toml"):
        shutil.copy(os.path.join(REPO, name), target)
    for name in ("bert_tf", "serving", "scripts", os.path.join("tests", "testdata", "kowiki")):
        shutil.copytree(os.path.join(REPO, name), os.path.join(target, name),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # The fresh venv sees the project venv's packages (TensorFlow, the MiniLM weights, ...): a path line, so
    # that venv's own .pth files (its editable bert_tf) are not processed and the copy's bert_tf is the one used.
    subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", os.path.join(target, ".venv")],
                   check=True, capture_output=True, timeout=300)
    (fresh_site,) = glob.glob(os.path.join(target, ".venv", "lib", "python3*", "site-packages"))
    assert fresh_site.split(os.sep)[-2] == f"python{sys.version_info.major}.{sys.version_info.minor}"
    with open(os.path.join(fresh_site, "_project_venv_packages.pth"), "w", encoding="utf-8") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")


def _size_flags(command, paths):
    """Flags appended to a README command (the last value of a flag wins in absl) to make it small."""
    if "run_classifier.py" in command:
        return (f" --train_file={paths['train']} --eval_file={paths['test']} --learning_rate=5e-5,3e-5"
                " --max_train_steps=2 --train_batch_size=8 --eval_batch_size=32")
    if "build_vocab.py" in command:
        return " --max_lines=1500 --vocab_size=1500"
    if "create_pretraining_data.py" in command:
        return " --max_seq_length=64 --max_predictions_per_seq=10 --dupe_factor=1"
    if "run_pretraining.py" in command:
        return (" --max_seq_length=64 --max_predictions_per_seq=10 --num_train_steps=2 --num_warmup_steps=1"
                " --train_batch_size=8 --eval_batch_size=8 --max_eval_steps=2 --save_checkpoints_steps=2")
    return ""


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _check_quiet(command, proc):
    output = proc.stdout + proc.stderr
    assert not TF_LOG_LINE.search(output), f"{command}\nprinted a TensorFlow log line:\n{output[-3000:]}"
    assert not SETUPTOOLS_WARNING.search(output), f"{command}\nprinted a warning:\n{output[-3000:]}"


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    project = tmp_path / "bert_tf"
    project.mkdir()
    _copy_project(str(project))
    work = str(tmp_path / "tmp")
    os.makedirs(work)
    paths = _banking77_slice(work)
    grpc_port, rest_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "BERT_TF_VERBOSE_LOGS", "VIRTUAL_ENV", "PYTHONPATH")}
    with open(project / "README.md", encoding="utf-8") as f:
        commands = readme_commands(f.read())
    server = server_log = None
    ran, skipped = [], []
    try:
        for section, command in commands:
            if re.search(r"--model=/tmp/(ner|squad)/", command):  # models of the NER/QA sections, not trained here
                skipped.append(command)
                continue
            command = command.replace("/tmp/", work + "/")
            command = command.replace("localhost:8500", f"localhost:{grpc_port}")
            command = command.replace("localhost:8501", f"localhost:{rest_port}")
            command += _size_flags(command, paths)
            if "scripts/serve.py" in command:  # the README's second terminal
                command += f" --port={grpc_port} --rest_api_port={rest_port}"
                server_log = os.path.join(work, "server.log")
                with open(server_log, "w", encoding="utf-8") as out:
                    server = subprocess.Popen(["bash", "-c", command], cwd=project, env=env, stdout=out,
                                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
                deadline = time.time() + 300
                while "Exporting HTTP/REST API at" not in _read(server_log):
                    assert server.poll() is None, f"{command}\nexited:\n{_read(server_log)}"
                    assert time.time() < deadline, f"{command}\ndid not start in time:\n{_read(server_log)}"
                    time.sleep(0.5)
                ran.append(command)
                continue
            timeout = 900 if section == "Install" else 600
            proc = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True,
                                  timeout=timeout)
            assert proc.returncode == 0, (f"{command}\nexit {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                                          f"{proc.stderr[-5000:]}" + (f"\nserver:\n{_read(server_log)[-5000:]}"
                                                                      if server is not None else ""))
            _check_quiet(command, proc)
            ran.append(command)
            if "prepare_korean_corpus.py" in command:  # small sizes: the first lines of the split corpus
                for name, keep in (("train.txt", 2000), ("heldout.txt", 300)):
                    path = os.path.join(work, "pretrain", name)
                    with open(path, encoding="utf-8") as f:
                        head = f.readlines()[:keep]
                    with open(path, "w", encoding="utf-8") as f:
                        f.writelines(head)
            if "predict_client.py" in command:
                assert '"label": ' in proc.stdout and '"probabilities": {' in proc.stdout, proc.stdout
            if "export_model.py" in command:  # its next step, runnable as printed (not a bare `python`)
                assert "serve it: .venv/bin/python scripts/serve.py --model_name=banking77" in proc.stdout
            if command.startswith("curl "):
                assert '"predictions"' in proc.stdout, proc.stdout
            print(f"ok: {command}\n{proc.stdout[-600:]}")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        if server is not None:
            log = _read(server_log)
            assert not TF_LOG_LINE.search(log), f"the server printed a TensorFlow log line:\n{log[-3000:]}"
    assert len(skipped) == 2 and sum("scripts/" in c for c in ran) == 9
    assert os.path.getsize(os.path.join(work, "banking77", "best_model.keras")) > 0
    assert os.path.isfile(os.path.join(work, "pretrain", "model", "model.safetensors"))


def test_readme_python_example_runs_and_tokenizes_korean(tmp_path):
    """The README's Python example (the ```python block that loads korean_bert_dir and MiniLM) runs as written,
    in a subprocess, with only its /tmp/ output path moved into the test's directory: Korean text becomes
    Korean pieces with the built-in Korean BERT (no [UNK]), and each encoder's output has its own width."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    blocks = re.findall(r"^```python\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    (example,) = [b for b in blocks if "korean_bert_dir" in b and "load_encoder" in b]
    example = example.replace("/tmp/", str(tmp_path) + "/")
    proc = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    korean_pieces = ast.literal_eval(lines[0])  # the printed token list
    assert korean_pieces and "[UNK]" not in korean_pieces
    assert all(re.fullmatch(r"(##)?[가-힣]+", p) for p in korean_pieces), korean_pieces
    assert lines[1] == "(1, 32, 256)" and lines[3] == "(1, 32, 384)", lines
    assert os.path.isfile(tmp_path / "minilm_tf1" / "vocab.txt")
