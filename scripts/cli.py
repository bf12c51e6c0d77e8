"""What every script in scripts/ shares: `--help` that exits 0, and quiet TensorFlow start-up logs.

Each script imports this module and ends with `cli.run(main)` instead of `absl.app.run(main)`:

- `--help` (also `-h`, `--helpshort`, `--helpfull`) prints the usage and exits 0 (absl exits 1). The scripts
  import TensorFlow only inside `main()`, so help takes a fraction of a second and prints no TensorFlow line.
- Quiet by default. Before `main()` (and so before TensorFlow is imported) TensorFlow's C++ log threshold is set
  to warnings (`TF_CPP_MIN_LOG_LEVEL=1`, unless already set), so is its Python logger's ("tensorflow"; bert_tf's
  own INFO lines stay: one line per real event), and the process's stderr goes through a filter
  (a small child process, so nothing is lost if the script crashes) that drops only the start-up lines
  TensorFlow prints whatever happens, each of which is noise on the machine that prints it:
    * `WARNING: All log messages before absl::InitializeLog() is called are written to STDERR` and the INFO
      lines logged through absl before TF_CPP_MIN_LOG_LEVEL applies (`I0000 ... cudart_stub.cc] Could not find
      cuda drivers on your machine, GPU will not be used.`; twice per process: two TF libraries carry absl);
    * `E0000 ... failed call to cuInit: ...` when the machine has no NVIDIA driver (no /proc/driver/nvidia):
      TensorFlow's CUDA build probes CUDA anyway (with a driver present, the line is a real problem and shown);
    * `... oneDNN supports DT_INT64 only on platforms with AVX-512 ...`: a fallback note that TensorFlow logs
      as an error (also on machines that have AVX-512), not a failure;
    * `W0000 ... dataset.cc] Input of GeneratorDatasetOp::Dataset will not be optimized ...`: tf.data's note on
      pipelines with a Python-generator stage.
  Every other line passes unchanged and in order: warnings, errors, tracebacks, progress bars.
- `--verbose_logs` (or `BERT_TF_VERBOSE_LOGS=1` in the environment, which child processes inherit) turns both
  off: every TensorFlow log line, INFO included.
"""

import logging
import os
import subprocess
import sys

from absl import app, flags

flags.DEFINE_bool("verbose_logs", False, "Show TensorFlow's C++ log lines unfiltered (INFO included); by default "
                  "they are at warning level and the start-up noise (cuInit without a GPU, ...) is dropped. "
                  "Same as BERT_TF_VERBOSE_LOGS=1.")

HELP_FLAGS = ("help", "?", "helpshort", "helpfull", "helpxml")

# Whole lines (bytes, without the newline) the stderr filter drops; see the module docstring.
_NOISE = [
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    # INFO from C++ before absl::InitializeLog (its "0000 00:00:<epoch>" stamp), which TF_CPP_MIN_LOG_LEVEL=1
    # would have dropped; Python's absl INFO lines (real dates) are bert_tf's own messages and pass.
    rb"I0000 00:00:\d+\.\d+ +\d+ [^ ]+:\d+\] .*",
    rb"To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.",
    rb"[EW]\d{4} [0-9:.]+ +\d+ [^ ]+:\d+\] oneDNN supports DT_[A-Z0-9]+ only on platforms with "
    rb"AVX-512\..*",
    # tf.data's note, at warning level, on every pipeline with a Python-generator stage (the distributed
    # evaluation input): its graph optimizations skip that stage; nothing to act on.
    rb"W\d{4} [0-9:.]+ +\d+ dataset\.cc:\d+\] Input of GeneratorDatasetOp::Dataset will not be optimized "
    rb"because the dataset does not implement the AsGraphDefInternal\(\) method needed to apply optimizations\.",
]
_NO_GPU_NOISE = rb"E\d{4} [0-9:.]+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit: .*"

# The filter process: stdin is the script's stderr, stdout the real stderr. Complete lines are checked; a partial
# line (a progress bar, a prompt) is passed on after 0.1 s without more output, or at once when it cannot be the
# start of a TensorFlow line. It ignores SIGINT/SIGTERM and ends when every writer has closed the pipe.
_FILTER = r"""
import os, re, select, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
noise = re.compile(b"(?:" + b"|".join(os.fsencode(p) for p in sys.argv[1:]) + b")")
pending = b""
def emit(data):
    while data:
        data = data[os.write(1, data):]
while True:
    if pending and not select.select([0], [], [], 0.1)[0]:
        emit(pending)
        pending = b""
        continue
    chunk = os.read(0, 65536)
    if not chunk:
        break
    lines = (pending + chunk).split(b"\n")
    pending = lines.pop()
    kept = [line + b"\n" for line in lines if not noise.fullmatch(line.rstrip(b"\r"))]
    if pending and pending[:1] not in (b"I", b"E", b"W", b"T"):
        kept.append(pending)
        pending = b""
    if kept:
        emit(b"".join(kept))
if pending and not noise.fullmatch(pending):
    emit(pending)
"""

_filter_process = None


def _verbose() -> bool:
    return os.environ.get("BERT_TF_VERBOSE_LOGS", "").strip().lower() in ("1", "true", "yes") or (
        flags.FLAGS.is_parsed() and flags.FLAGS.verbose_logs)


def _no_tensorflow_info(record) -> bool:
    """Drops INFO (and DEBUG) records that TensorFlow's Python code logs through absl."""
    return record.levelno >= logging.WARNING or f"{os.sep}tensorflow{os.sep}" not in (record.pathname or "")


def _has_nvidia_driver() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def quiet_tensorflow_logs() -> bool:
    """Sets TensorFlow's C++ log threshold to warnings and filters the start-up noise out of stderr (see the
    module docstring), unless verbose logs were asked for. Call before TensorFlow is imported. Returns whether
    the filter is installed."""
    global _filter_process
    if _verbose():
        os.environ["BERT_TF_VERBOSE_LOGS"] = "1"  # for the child processes (the demo's server)
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    tf_logger = logging.getLogger("tensorflow")  # TensorFlow's Python INFO lines, through its logger
    if tf_logger.level == logging.NOTSET:
        tf_logger.setLevel(logging.WARNING)
    logging.getLogger("absl").addFilter(_no_tensorflow_info)  # ... and through absl ("Sharding callback duration")
    if _filter_process is not None or os.name != "posix" or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return _filter_process is not None
    patterns = _NOISE + ([] if _has_nvidia_driver() else [_NO_GPU_NOISE])
    try:
        sys.stderr.flush()
        real_stderr = os.dup(2)
        _filter_process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, *(os.fsdecode(p) for p in patterns)],
            stdin=subprocess.PIPE, stdout=real_stderr, stderr=real_stderr, start_new_session=True)
    except OSError:  # no stderr to duplicate, no process to start: stay unfiltered
        return False
    os.dup2(_filter_process.stdin.fileno(), 2)
    _filter_process.stdin.close()  # fd 2 is now the only write end in this process
    import atexit
    atexit.register(_restore_stderr, real_stderr)
    return True


def _restore_stderr(real_stderr: int) -> None:
    """At exit: everything written so far reaches the terminal before the shell prompt returns."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(real_stderr, 2)  # closes this process's write end: the filter drains the pipe and ends
    try:
        _filter_process.wait(timeout=5)  # longer only while a child process still holds the pipe
    except subprocess.TimeoutExpired:
        pass


def asked_for_help(argv) -> bool:
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg == "-h" or (arg.startswith("-") and arg.lstrip("-").split("=")[0] in HELP_FLAGS):
            return True
    return False


def _parse_flags(argv):
    argv = ["--help" if arg == "-h" else arg for arg in argv]
    try:
        args = app.parse_flags_with_usage(argv)
    except SystemExit as e:
        if e.code == 1 and asked_for_help(argv):  # absl exits 1 after printing the help it was asked for
            sys.stdout.flush()
            raise SystemExit(0) from None
        raise
    _apply_renamed_flags()
    quiet_tensorflow_logs()
    return args


_RENAMED_FLAGS = {}  # old name -> new name
_RENAMED_VALUES = {}  # flag name -> {old value: new value}


def define_renamed_flag(old: str, new: str) -> None:
    """Keeps `--old` for one release as a deprecated spelling of the already defined `--new`: same parser and
    values; using it prints a deprecation warning, and giving both is a usage error."""
    flag = flags.FLAGS[new]
    flags.DEFINE_flag(flags.Flag(flag.parser, flag.serializer, old, None, f"Deprecated: use --{new}."))
    _RENAMED_FLAGS[old] = new


def define_renamed_values(name: str, renames: dict) -> None:
    """Keeps old values of `--name` for one release (the enum must still list them): `--name=OLD` prints a
    deprecation warning and the flag holds `renames[OLD]`."""
    _RENAMED_VALUES[name] = dict(renames)


def _apply_renamed_flags():
    for old, new in _RENAMED_FLAGS.items():
        if not flags.FLAGS[old].present:
            continue
        if flags.FLAGS[new].present:
            print(f"FATAL Flags parsing error: --{old} is the deprecated name of --{new}: give only --{new}",
                  file=sys.stderr)
            raise SystemExit(1)
        print(f"WARNING: --{old} is deprecated and will be removed in the next release; use --{new}",
              file=sys.stderr)
        flags.FLAGS[new].value = flags.FLAGS[old].value
    for name, renames in _RENAMED_VALUES.items():
        old = flags.FLAGS[name].value
        if flags.FLAGS[name].present and old in renames:
            print(f"WARNING: --{name}={old} is deprecated and will be removed in the next release; use "
                  f"--{name}={renames[old]}", file=sys.stderr)
            flags.FLAGS[name].value = renames[old]


def script_command(script: str) -> str:
    """How to run another script of this directory from the current directory, with this interpreter (e.g.
    `.venv/bin/python scripts/serve.py`): what the scripts print as a next step. A bare `python` fails outside
    the venv."""
    def short(path):
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else relative
    return f"{short(sys.executable)} {short(os.path.join(os.path.dirname(os.path.abspath(__file__)), script))}"


def run(main):
    """`absl.app.run(main)` with `--help` exiting 0 and quiet TensorFlow logs; `main`'s return value is the exit
    status, as with absl."""
    app.run(main, flags_parser=_parse_flags)
