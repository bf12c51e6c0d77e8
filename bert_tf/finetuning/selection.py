"""Model selection: which data chooses the epoch and the learning rate (`select_dev`), and how
`eval_results.json` says which set each number comes from (`selection_results`)."""

from __future__ import annotations

import logging

import numpy as np

from bert_tf.finetuning.options import FinetuneError

logger = logging.getLogger(__name__)

DEFAULT_DEV_FRACTION = 0.1
DEV_SPLIT_SEED = 0  # the carved dev set does not change with the training seed: runs of several seeds compare


def select_dev(train_items: list, dev_items: list | None = None, *, dev_file: str | None = None,
               dev_fraction: float | None = None, num_learning_rates: int = 1, what: str = "examples",
               group=None):
    """Where the epoch and learning rate are chosen: `(train_items, dev_items or None, description)`.

    `dev_items` (read from `dev_file`) wins; else `dev_fraction` of the training items, drawn with the fixed
    seed `DEV_SPLIT_SEED`, becomes the dev set and leaves the training set. A sweep over several learning rates
    without either carves `DEFAULT_DEV_FRACTION` (the eval file is never used to choose). With one learning rate
    and no dev set, nothing is chosen: the final model is kept (google-research/bert's behaviour).

    `group(item)`, if given, keys items that must land on the same side of a carved split: the premise of an NLI
    pair (KLUE-NLI and MNLI write three hypotheses per premise, one per label, so a row-level split puts the other
    two labels of a dev premise in training and rewards memorizing premises), or a repeated text. Whole groups are
    drawn in the fixed-seed order until `dev_fraction` of the items is reached; when every item is its own group
    the split is the row-level one.
    """
    if dev_items is not None:
        if dev_fraction:
            raise FinetuneError("give a dev file or a dev fraction, not both")
        if not dev_items:
            raise FinetuneError(f"dev file {dev_file} has no {what}")
        return train_items, dev_items, f"dev_file {dev_file} ({len(dev_items)} {what})"
    if dev_fraction is None and num_learning_rates > 1:
        dev_fraction = DEFAULT_DEV_FRACTION
        logger.warning("%d learning rates and no dev set: choosing on %g of the training %s (seed %d); the eval "
                       "file is scored once, with the chosen model", num_learning_rates, dev_fraction, what,
                       DEV_SPLIT_SEED)
    if not dev_fraction:
        return train_items, None, None
    if not 0 < dev_fraction < 1:
        raise FinetuneError(f"dev_fraction must be between 0 and 1, got {dev_fraction!r}")
    n_dev = max(1, int(round(len(train_items) * dev_fraction)))
    if n_dev >= len(train_items):
        raise FinetuneError(f"dev_fraction {dev_fraction:g} of {len(train_items)} training {what} leaves none to "
                            "train on")
    members = {}  # group key -> item indexes, in order of first appearance
    for i, item in enumerate(train_items):
        members.setdefault(group(item) if group else i, []).append(i)
    groups = list(members.values())
    dev_index = set()
    for g in np.random.default_rng(DEV_SPLIT_SEED).permutation(len(groups)).tolist():
        if len(dev_index) >= n_dev:
            break
        dev_index.update(groups[g])
    if len(dev_index) >= len(train_items):
        raise FinetuneError(f"dev_fraction {dev_fraction:g} of {len(train_items)} training {what} leaves none to "
                            "train on (the items form one group)")
    train = [x for i, x in enumerate(train_items) if i not in dev_index]
    dev = [x for i, x in enumerate(train_items) if i in dev_index]
    grouped = f", {len(groups)} groups" if len(groups) < len(train_items) else ""
    return train, dev, (f"{dev_fraction:g} of the training data ({len(dev)} of {len(train_items)} {what}{grouped}, "
                        f"split seed {DEV_SPLIT_SEED})")


def select_dev_from(options, train_items: list, read, *, what: str = "examples", group=None):
    """`select_dev` with the dev file and fraction of `options` (a `FinetuneOptions`); `read(path)` reads the
    dev file in the training data's format."""
    return select_dev(train_items, read(options.dev_file) if options.dev_file else None, dev_file=options.dev_file,
                      dev_fraction=options.dev_fraction, num_learning_rates=len(options.learning_rates), what=what,
                      group=group)


def selection_results(best, *, main_metric: str, dev_source: str | None, eval_file: str | None,
                      eval_metrics: dict | None) -> dict:
    """The part of `eval_results.json` that says which set each number comes from: the top-level metrics are the
    eval file's, computed once with the chosen model; `dev` holds the chosen model's dev metrics. `best` is the
    chosen `RunResult`."""
    results = dict(eval_metrics or {})
    results.update({
        "eval_file": eval_file, "scored_on": "eval_file" if eval_metrics else None,
        "dev": best.best_metrics if dev_source else None, "dev_source": dev_source,
        "selection": (f"best dev {main_metric} over epochs and learning rates" if dev_source
                      else "final step (no dev set: nothing chosen)"),
        "learning_rate": best.learning_rate, "best_step": best.best_step, "sweep": best.sweep})
    return results
