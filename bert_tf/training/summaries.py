"""What the trainer reports: TensorBoard scalars (without the `tensorboard` package), the progress bar on
stderr, and JSON results written atomically."""

import math
import os
import sys
import time

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from bert_tf import atomic_files


class SummaryWriters:
    """One TensorBoard event writer per name under `model_dir/summaries/<name>`, on the chief only (elsewhere
    `get` gives None and `write` does nothing)."""

    def __init__(self, model_dir, is_chief):
        self.model_dir = model_dir
        self.is_chief = is_chief
        self._writers = {}

    def get(self, name):
        if not self.is_chief:
            return None
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.model_dir, "summaries", name))
        return self._writers[name]

    def write(self, name, logs, step, flush=True):
        """Writes every int/float value of `logs` as a scalar at `step` to `summaries/<name>`."""
        writer = self.get(name)
        write_scalars(writer, logs, step)
        if writer is not None and flush:
            writer.flush()


def write_scalars(writer, logs, step):
    """The int/float values of `logs` as scalars at `step` (nothing without a writer)."""
    if writer is None:
        return
    with writer.as_default(step=step):
        for name, value in logs.items():
            if isinstance(value, (int, float)):
                write_scalar(name, value, step)


def write_scalar(name, value, step):
    """`tf.summary.scalar` without the `tensorboard` package: the same event record (plugin `scalars`)."""
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=metadata)


def to_float(value):
    value = value.numpy() if hasattr(value, "numpy") else value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value.tolist() if hasattr(value, "tolist") else value


def write_json_atomic(path, values):
    """Writes `values` as pretty JSON (sorted keys) to `path` atomically, creating its directory if needed."""
    atomic_files.write_json_atomic(path, values, sort_keys=True, makedirs=True)


class Progress:
    """A small progress bar on stderr: redraws in place on a terminal, prints a line per update otherwise."""

    def __init__(self, total, initial=0, enabled=True, stream=None):
        self.total = total
        self.start_step = initial
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.time()
        self.last_print = 0.0

    def update(self, step, **values):
        if not self.enabled:
            return
        now = time.time()
        if not self.tty and now - self.last_print < 10 and step < self.total:
            return
        self.last_print = now
        rate = (step - self.start_step) / max(now - self.start, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        width = 30
        done = int(width * step / max(self.total, 1))
        bar = "=" * max(done - 1, 0) + (">" if done < width else "=") + "." * (width - done)
        parts = " - ".join(f"{k}: {v:.4g}" for k, v in values.items())
        line = (f"step {step}/{self.total} [{bar}] {rate:.2f} steps/s - ETA {format_seconds(eta)}"
                f"{' - ' + parts if parts else ''}")
        if self.tty:
            self.stream.write("\r" + line + " " * 4)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def format_seconds(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
