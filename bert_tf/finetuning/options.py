"""What a fine-tuning run is told: `FinetuneOptions` (what the four `finetune_*` functions share) and
`TrainingOptions` (speed and checkpoint interval); the errors the scripts print without a traceback."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from bert_tf.config import DTYPES
from bert_tf.deprecation import renamed_attribute, renamed_kwargs


class FinetuneError(ValueError):
    """Arguments that cannot describe a fine-tuning run (the message says which and why)."""


class TrainingInterrupted(FinetuneError):
    """SIGINT/SIGTERM stopped training after a checkpoint was written; rerunning the command resumes."""


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """Options every fine-tuning run takes: speed (the same ones as `scripts/run_pretraining.py`) and the
    checkpoint interval.

    Args:
        dtype: str. The precision the model is built and trained in, one of `bert_tf.config.DTYPES`:
            `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"` (with dynamic loss scaling). Passed to the model
            (the global Keras dtype policy is neither read nor changed). Formerly `dtype_policy` (deprecated).
        jit_compile: bool. XLA-compile the forward/backward pass.
        grad_accum_steps: int. Micro-batches per optimizer step; `train_batch_size` stays the batch of one
            optimizer step, so the update equals the one of the full batch.
        optimizer_type: str. `"adamw"` (google-research/bert) or `"lamb"`.
        save_checkpoints_steps: int or None. Checkpoint interval in optimizer steps (a rerun resumes from the
            newest checkpoint). Defaults to None: at every evaluation (once per epoch unless `evals_per_epoch`).
        tpu_address: str or None. The TPU for the `tpu` distribution strategy (name or `grpc://` address;
            None or `"local"` on a TPU VM).
    """

    dtype: str = "float32"
    jit_compile: bool = False
    grad_accum_steps: int = 1
    optimizer_type: str = "adamw"
    save_checkpoints_steps: int | None = None
    tpu_address: str | None = None

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise FinetuneError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.grad_accum_steps < 1:
            raise FinetuneError(f"grad_accum_steps must be >= 1, got {self.grad_accum_steps}")
        if self.optimizer_type not in ("adamw", "lamb"):
            raise FinetuneError(f"optimizer must be adamw or lamb, got {self.optimizer_type!r}")
        if self.save_checkpoints_steps is not None and self.save_checkpoints_steps < 1:
            raise FinetuneError(f"save_checkpoints_steps must be >= 1, got {self.save_checkpoints_steps}")

    dtype_policy = renamed_attribute("dtype_policy", "dtype")


TrainingOptions.__init__ = renamed_kwargs(dtype_policy="dtype")(TrainingOptions.__init__)


@dataclasses.dataclass(frozen=True)
class FinetuneOptions:
    """What every `finetune_<task>` takes besides its data and its head (the keyword arguments of the same
    names; the defaults here are `finetune_classifier`'s, each task passes its own).

    Args:
        init_checkpoint: str or None. Pre-trained weights in any format `bert_tf.checkpoints.load_encoder`
            reads (Hugging Face directory, Google TF1, Model Garden, bert_tf outputs). None trains from random
            initialization (needs `bert_config_file` or `preset`): the no-pre-training baseline.
        vocab_file: str or None. Defaults to the `vocab.txt` beside `init_checkpoint`.
        bert_config_file, preset: the architecture for random initialization (or to override the checkpoint's).
        do_lower_case: bool or None. Defaults to the checkpoint's config (`do_lower_case`).
        max_seq_length, train_batch_size, eval_batch_size: as google-research/bert.
        learning_rate: float, or a list / comma-separated string: one run per rate, the best on the dev set
            is kept (the paper's sweep: "5e-5,4e-5,3e-5,2e-5").
        num_train_epochs: float. max_train_steps: int or None, caps the optimizer steps (quick demos).
        warmup_proportion: float. Linear warmup over this fraction of the steps.
        output_dir: str or None. Defaults to a new temporary directory.
        distribution_strategy: str. See `bert_tf.training.distribute.get_strategy`.
        save_formats: subset of `("keras", "hf", "google")`; `hf`/`google` also write the fine-tuned encoder.
        seed: int. Shuffling and initialization seed.
        evals_per_epoch: int. Evaluations (and curve points) per epoch.
        dev_file: str or None. Evaluated after every epoch (`evals_per_epoch`); the epoch and learning rate with
            the best dev metric are kept. Same format as the training file.
        dev_fraction: float or None. Carve this fraction of the training data as the dev set instead (fixed
            split seed, see `selection.select_dev`). A sweep of several learning rates with neither carves 0.1.
            With one learning rate and no dev set the final model is kept.
        head_initializer: str. `"glorot_uniform"` (as keras-hub and Keras' Dense) or `"truncated_normal"`
            (google-research/bert's stddev-0.02 head), see README "Fine-tuning recipe".
        max_input_chars_per_word: int. Longer words become [UNK]: 200 is google-research/bert's limit, 100
            Hugging Face's.
        training_options: `TrainingOptions` or None (precision, XLA, accumulation, optimizer, checkpoints).
    """

    init_checkpoint: str | None = None
    vocab_file: str | None = None
    bert_config_file: str | None = None
    preset: str | None = None
    do_lower_case: bool | None = None
    max_seq_length: int = 128
    train_batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float | str | Sequence[float] = 5e-5
    num_train_epochs: float = 3.0
    max_train_steps: int | None = None
    warmup_proportion: float = 0.1
    output_dir: str | None = None
    distribution_strategy: str = "off"
    save_formats: Sequence[str] = ("keras",)
    seed: int = 0
    evals_per_epoch: int = 1
    dev_file: str | None = None
    dev_fraction: float | None = None
    head_initializer: str = "glorot_uniform"
    max_input_chars_per_word: int = 200
    training_options: TrainingOptions | None = None

    def __post_init__(self):
        parse_learning_rates(self.learning_rate)  # a bad learning rate fails before any file is read

    @classmethod
    def pick(cls, values: dict) -> "FinetuneOptions":
        """The options among `values` (e.g. a `finetune_<task>`'s `locals()`); other keys are ignored."""
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})

    def replace(self, **changes) -> "FinetuneOptions":
        return dataclasses.replace(self, **changes)

    @property
    def learning_rates(self) -> list[float]:
        return parse_learning_rates(self.learning_rate)


def parse_learning_rates(value) -> list[float]:
    """`5e-5` or `"5e-5,3e-5"` or `[5e-5, 3e-5]` → list of floats (the paper's sweep)."""
    if isinstance(value, (int, float)):
        values = [float(value)]
    elif isinstance(value, str):
        try:
            values = [float(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise FinetuneError(f"learning_rate {value!r} is not a number or a comma-separated list") from None
    else:
        values = [float(v) for v in value]
    if not values or any(not v > 0 for v in values):
        raise FinetuneError(f"learning rates must be positive, got {value!r}")
    return values
