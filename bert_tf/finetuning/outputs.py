"""What a fine-tuning run leaves in its output directory: `best_model.keras` (no optimizer), JSON files written
atomically, the training curves, `vocab.txt` and the encoder exports (`hf`, `google`)."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Sequence

from bert_tf import atomic_files
from bert_tf.finetuning.history import BEST_MODEL
from bert_tf.finetuning.options import FinetuneError

logger = logging.getLogger(__name__)

SAVE_FORMATS = ("keras", "hf", "google")
EVAL_RESULTS = "eval_results.json"
CURVES_PNG = "training_curves.png"

__all__ = ["BEST_MODEL", "CURVES_PNG", "EVAL_RESULTS", "SAVE_FORMATS", "copy_vocab", "curves_figure",
           "export_formats", "plot_curves", "plot_sweep", "save_keras_atomic", "write_json_atomic"]


def save_keras_atomic(model, path):
    """Saves `model` as a `.keras` file without its optimizer: the optimizer's state (AdamW: two slots per weight)
    and compile settings belong in the training checkpoints, which resume training; `best_model.keras` is the
    model to use, export or fine-tune further (MiniLM: 91 MB instead of 273 MB). Keras 3 ignores
    `include_optimizer` for `.keras` files, so the optimizer is detached for the save and put back."""
    optimizer, compiled = getattr(model, "optimizer", None), getattr(model, "compiled", False)
    try:
        model.optimizer = None  # saving_lib walks the model's attributes: no optimizer variables are written
        model.compiled = False  # get_compile_config() -> {}: load_model(compile=True) builds no empty optimizer
        with atomic_files.atomic_path(path, keep_suffix=True) as tmp:  # Keras wants the name to end in .keras
            model.save(tmp)
    finally:
        model.optimizer, model.compiled = optimizer, compiled


def write_json_atomic(path, values):
    """Writes `values` as pretty JSON (non-ASCII kept, numpy numbers as floats) to `path` atomically."""
    atomic_files.write_json_atomic(path, values, ensure_ascii=False, default=float)


def curves_figure(runs: Sequence[tuple[float, dict]], main_metric: str, chosen: tuple[float, int] | None = None):
    """A matplotlib figure of training curves: `runs` is `[(learning_rate, history), ...]` (one run, or a
    learning-rate sweep), `chosen` the `(learning_rate, step)` that was kept (marked with a star).

    Left panel, "loss": the training loss (solid) and the dev-set loss (dashed, where the evaluation gives one);
    right panel: the dev-set `main_metric`. One colour per learning rate; the legends sit below the panels, off
    the curves. Without dev evaluations there is only the loss panel."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_eval = any(history["eval"] for _, history in runs)
    fig, axes = plt.subplots(1, 2 if has_eval else 1, figsize=(11 if has_eval else 6.5, 4.2), squeeze=False)
    ax_loss, ax_metric = axes[0][0], (axes[0][1] if has_eval else None)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (learning_rate, history) in enumerate(runs):
        name = f"lr {learning_rate:g}" if len(runs) > 1 else ""
        _plot_run(ax_loss, ax_metric, history, colors[i % len(colors)], name, main_metric,
                  chosen[1] if chosen is not None and chosen[0] == learning_rate else None)
    for ax, title in ((ax_loss, "loss"), (ax_metric, f"dev {main_metric}")):
        if ax is not None:
            ax.set_xlabel("step")
            ax.set_ylabel(title)
            ax.set_title(title)
    for ax in (ax_loss, ax_metric):
        if ax is not None and ax.get_lines():
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small", frameon=False)
    if len(runs) > 1:
        fig.suptitle("learning-rate sweep" + (f": lr {chosen[0]:g} chosen" if chosen else ""))
    else:
        fig.suptitle(f"learning rate {runs[0][0]:g}" if runs else "")
    return fig


def _plot_run(ax_loss, ax_metric, history, color, name, main_metric, chosen_step):
    """One run's curves on the two panels, its chosen step (if any) starred."""
    def label(what):
        return f"{what}, {name}" if name else what

    train, evals = history["train"], history["eval"]
    if train:
        ax_loss.plot([h["step"] for h in train], [h["loss"] for h in train], "-", color=color,
                     label=label("train loss"))
    if evals and "loss" in evals[0]:
        ax_loss.plot([h["step"] for h in evals], [h["loss"] for h in evals], "s--", color=color,
                     label=label("dev loss"))
    if evals and ax_metric is not None:
        ax_metric.plot([h["step"] for h in evals], [h[main_metric] for h in evals], "o-", color=color,
                       label=label(f"dev {main_metric}"))
        at = [h for h in evals if h["step"] == chosen_step] if chosen_step is not None else []
        if at:
            ax_metric.plot([chosen_step], [at[0][main_metric]], "*", color=color, markersize=16,
                           markeredgecolor="black", label=f"chosen: {label(f'step {chosen_step}')}")


def _save_figure(fig, path):
    import matplotlib.pyplot as plt
    try:
        with atomic_files.atomic_path(path, keep_suffix=True) as tmp:  # savefig picks the format by the suffix
            fig.savefig(tmp, dpi=100, bbox_inches="tight")  # "tight": the legends below the panels are kept
    finally:
        plt.close(fig)
    return path


def _have_matplotlib(path) -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # matplotlib is an install requirement; be forgiving anyway
        logger.warning("matplotlib is not installed: no %s", path)
        return False
    return True


def plot_curves(history: dict, path: str, main_metric: str) -> str | None:
    """One run's training loss, dev loss and dev metric against the step, as a PNG (see `curves_figure`)."""
    if not _have_matplotlib(path):
        return None
    best = history.get("best")
    chosen = (history.get("learning_rate"), best["step"]) if best and history["eval"] else None
    return _save_figure(curves_figure([(history.get("learning_rate", float("nan")), history)], main_metric,
                                      chosen), path)


def plot_sweep(runs, best, path: str, main_metric: str) -> str | None:
    """Every learning rate's curves (`RunResult`s) in one PNG, the chosen run and step starred."""
    if not _have_matplotlib(path):
        return None
    return _save_figure(curves_figure([(r.learning_rate, r.history) for r in runs], main_metric,
                                      (best.learning_rate, best.best_step)), path)


def copy_vocab(vocab_file: str, output_dir: str) -> str:
    """The vocabulary the model was trained with, as `output_dir/vocab.txt` beside `best_model.keras` (written
    atomically), so the output directory is self-contained: `scripts/export_model.py` finds it there."""
    target = os.path.join(output_dir, "vocab.txt")
    if os.path.abspath(vocab_file) != os.path.abspath(target):
        with atomic_files.atomic_path(target) as tmp:
            shutil.copyfile(vocab_file, tmp)
    return target


def export_formats(model, output_dir: str, save_formats: Sequence[str], vocab_file: str) -> dict:
    """Besides `best_model.keras` (the whole task model) and its `vocab.txt`, writes the fine-tuned *encoder* as
    a Hugging Face directory (`hf`) and/or a google-research/bert TF1 checkpoint (`google`). The Hugging Face
    directory declares the pooling the head was trained with when it is not BERT's pooler (`1_Pooling/`, which
    fine-tuning from it reads), so a second fine-tuning pools the way the first did. Returns {format: path}."""
    unknown = [f for f in save_formats if f not in SAVE_FORMATS]
    if unknown:
        raise FinetuneError(f"unknown save format(s) {unknown}; choose from {SAVE_FORMATS}")
    paths = {"keras": os.path.join(output_dir, BEST_MODEL), "vocab": copy_vocab(vocab_file, output_dir)}
    if "hf" in save_formats:
        from bert_tf.checkpoints import save_hf
        from bert_tf.tasks import write_pooling_config
        if getattr(model, "pooling", None):  # before the weights: a reader that sees them sees it too
            write_pooling_config(os.path.join(output_dir, "best_hf"), model.pooling,
                                 model.encoder.bert_config.hidden_size)
        paths["hf"] = save_hf(model.encoder, os.path.join(output_dir, "best_hf"), vocab_file=vocab_file)
    if "google" in save_formats:
        from bert_tf.checkpoints import save_google_tf1
        paths["google"] = save_google_tf1(model.encoder, os.path.join(output_dir, "best_google"), vocab_file=vocab_file)
    return paths
